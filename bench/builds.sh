#!/usr/bin/env bash
# bench/builds.sh — two (or more) Cairn builds against each other, rounds alternating, page cache dropped before every
# timed step: for a change whose effect is smaller than the difference between two windows of this machine.
#
# Steps (--steps, default all):
#   snapshot  full snapshot of ws into a new repository (wall s, CPU s)
#   restore   restore of that snapshot into an empty directory (wall s, CPU s)
#   image     full snapshot of mem.img into a new repository (wall s, CPU s)
#   answers   `cairn mount` of ws started -> `stat MNT/package.json` succeeds, polled every ~1 ms as bench/mount.sh does
#   find      `find MNT | wc -l` on a fresh mount (--no-hydrate, frame cache empty)
#
# Usage: sudo bench/builds.sh [--runs N] [--steps "snapshot restore image answers find"] LABEL=CAIRN LABEL=CAIRN...
#   e.g. bench/builds.sh before=/tmp/wt/.cairn-build/cairn after=.cairn-build/cairn
# Output: per step and build, the median (min–max) of wall seconds (and CPU seconds where measured); raw rows in
# WORK/results.tsv (WORK: --work, default /var/tmp/cairn-bench-builds).
set -euo pipefail
export LC_ALL=C

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
corpus=/var/tmp/cairn-corpus
work=/var/tmp/cairn-bench-builds
runs=3
steps="snapshot restore image answers find"
builds=()
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *=*) builds+=("$1"); shift ;;
    *) bench_die "unknown argument '$1' (--help)" ;;
  esac
done
((${#builds[@]} >= 2)) || bench_die "give at least two builds as LABEL=PATH (--help)"
for build in "${builds[@]}"; do
  [[ ${build%%=*} =~ ^[A-Za-z0-9._-]+$ ]] || bench_die "a build label is letters, digits, '.', '_' or '-': '${build%%=*}'"
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || bench_die "--runs must be 1 or more"
if [[ " $steps " == *" restore "* && " $steps " != *" snapshot "* ]]; then bench_die "the restore step restores what the snapshot step made: give both"; fi
bench_require_root
bench_lock

mnt=$work/mnt
server_pid=""
cleanup() {
  if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt" 2>/dev/null || umount -l "$mnt"; fi
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work/build-"* "$work/mount-repo" "$work/out" "$work/cache" "$work/trash"
}
trap cleanup EXIT
# WORK is deleted and made again: only if it is one this script made (or absent, or empty), never a directory of the
# user's that --work happened to name.
if [[ -d $work && ! -e $work/.bench-builds && -n $(ls -A "$work") ]]; then
  bench_die "$work exists and was not made by bench/builds.sh: give another --work"
fi
rm -rf "$work"
mkdir -p "$work" "$mnt"
touch "$work/.bench-builds"
results=$work/results.tsv

row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$(bench_load1)" >>"$results"; } # build step run wall cpu

# timed LABEL STEP RUN CMD...: page cache dropped, then CMD with wall and CPU (user + system) seconds recorded.
timed() {
  local label=$1 step=$2 run=$3 t0 t1 cpu
  shift 3
  bench_drop_caches
  t0=${EPOCHREALTIME/./}
  "$BENCH_TIME_BIN" -f '%U %S' -o "$work/time" "$@" </dev/null >/dev/null 2>"$work/stderr" || bench_die "$label $step failed: $(tail -n 3 "$work/stderr")"
  t1=${EPOCHREALTIME/./}
  cpu=$(tail -n 1 "$work/time" | awk '{ print $1 + $2 }')
  row "$label" "$step" "$run" "$(bench_us_to_s $((t1 - t0)))" "$cpu"
}

mount_ws() { # CAIRN REPO: a foreground mount of ws at $mnt, in the background of this shell (frame cache emptied first)
  "$1" -r "$2" mount ws "$mnt" --cache-dir "$work/cache" --no-hydrate >/dev/null 2>&1 &
  server_pid=$!
}

wait_answers() {
  bench_wait_for "$mnt/package.json" || bench_die "the mount did not answer"
}

unmount_ws() {
  umount "$mnt"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  rm -rf "$work/cache" # the next mount starts with an empty frame cache; deleted here, outside any timed step
}

# One repository holding ws, written by the first build, for the mount steps (untimed).
mount_repo=$work/mount-repo
if [[ " $steps " == *" answers "* || " $steps " == *" find "* ]]; then
  first=${builds[0]#*=}
  "$first" -r "$mount_repo" init >/dev/null
  "$first" -r "$mount_repo" snapshot -q -t ws "$corpus/ws" >/dev/null
fi

for run in $(seq 1 "$runs"); do
  for build in "${builds[@]}"; do
    label=${build%%=*} cairn=${build#*=}
    bench_log "round $run: $label"
    repo=$work/build-$label
    for step in $steps; do
      case $step in
        snapshot)
          rm -rf "$repo"
          "$cairn" -r "$repo" init >/dev/null
          timed "$label" snapshot "$run" "$cairn" -q -r "$repo" snapshot -t ws "$corpus/ws" ;;
        restore)
          bench_retire "$work/out" "$work/trash"
          timed "$label" restore "$run" "$cairn" -q -r "$repo" restore ws "$work/out" ;;
        image)
          rm -rf "$repo-image"
          "$cairn" -r "$repo-image" init >/dev/null
          timed "$label" image "$run" "$cairn" -q -r "$repo-image" snapshot --image "$corpus/mem.img"
          rm -rf "$repo-image" ;;
        answers)
          bench_drop_caches
          t0=${EPOCHREALTIME/./}
          mount_ws "$cairn" "$mount_repo"
          wait_answers
          t1=${EPOCHREALTIME/./}
          row "$label" answers "$run" "$(bench_us_to_s $((t1 - t0)))" NA
          unmount_ws ;;
        find)
          mount_ws "$cairn" "$mount_repo"
          wait_answers
          bench_drop_caches
          t0=${EPOCHREALTIME/./}
          find "$mnt" | wc -l >/dev/null
          t1=${EPOCHREALTIME/./}
          row "$label" find "$run" "$(bench_us_to_s $((t1 - t0)))" NA
          unmount_ws ;;
        *) bench_die "unknown step '$step'" ;;
      esac
      bench_settle
    done
  done
  rm -rf "$work/trash"
done

printf '| step | build | wall s, median (min–max) | CPU s, median |\n|---|---|---|---|\n'
for step in $steps; do
  for build in "${builds[@]}"; do
    label=${build%%=*}
    read -r med min max _ < <(awk -F'\t' -v b="$label" -v s="$step" '$1 == b && $2 == s { print $4 }' "$results" | bench_stats)
    read -r cpu _ < <(awk -F'\t' -v b="$label" -v s="$step" '$1 == b && $2 == s { print $5 }' "$results" | bench_stats)
    printf '| %s | %s | %.3f (%.3f–%.3f) | %s |\n' "$step" "$label" "$med" "$min" "$max" "$([[ $cpu == NA ]] && echo – || printf '%.2f' "$cpu")"
  done
done
