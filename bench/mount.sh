#!/usr/bin/env bash
# bench/mount.sh — lazy access to the ws workspace through a mount: cairn vs squashfuse, squashfuse_ll, the kernel's
# squashfs (zstd image) and restic mount, measured in the same run.
#
# Every figure comes from a fresh, cold mount: cairn's frame cache wiped, any previous mount gone, and the page cache
# dropped (sync; echo 3 > /proc/sys/vm/drop_caches) right before the timed step. Medians of --runs (default 3);
# rounds are interleaved (round 1 of every tool, then round 2, ...). Server peak RSS: the median over the runs of the
# `all` step of the server's VmHWM.
#
# Steps:
#   answers   process start -> `stat MNT/package.json` succeeds (polled every ~1 ms by bench_wait_for, builtins only)
#   find      find MNT | wc -l
#   first     first byte of a mid-size file (head -c 1)
#   file      the whole mid-size file (cat > /dev/null)
#   all       read everything: tar -cf - -C MNT . | wc -c
#   workload  node -e "require('typescript')" with the working directory in the mount
#   startwork process start -> the workload done: mount, first answer and the workload as one span (the time a
#             sandbox waits before its first command has run)
# cairn rows: "cairn" (defaults: hydration on; traces wiped before every run, so nothing is learned),
# "cairn-nohydrate" (--no-hydrate), "cairn-nopush" (--no-push: every file read through FUSE, none put into the page
# cache with its neighbour), and "cairn-learned": the workload step of a mount whose repository holds the
# trace recorded by one earlier (untimed) run of the same workload (cache wiped again before the timed run).
# S3 rows (the loopback server of scripts/s3-server.sh, started for the run and stopped after if it was not running):
# "cairn-s3" mounts the same snapshot from an S3 repository with an empty cache; "download-s3" is the eager way it
# replaces, for the startwork step only: `aws s3 cp` of the squashfs image to local disk, then squashfuse_ll on it and
# the workload; its "download" step is the `aws s3 cp` alone (the full download the lazy mount must beat).
#
# Usage: sudo bench/mount.sh [--corpus DIR] [--work DIR] [--runs N] [--tools "cairn cairn-nohydrate cairn-nopush
#        cairn-learned squashfuse squashfuse_ll kernel restic cairn-s3 download-s3"] [--steps "answers find first file all workload
#        startwork download"]
# Output: a table on stdout; raw per-run figures in WORK/results.tsv.
set -euo pipefail
export LC_ALL=C

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
corpus=/var/tmp/cairn-corpus/ws
work=/var/tmp/cairn-mount-bench
runs=3
tools="cairn cairn-nohydrate cairn-learned squashfuse squashfuse_ll kernel restic"
steps="answers find first file all workload"
midfile=node_modules/react-dom/cjs/react-dom-client.development.js
while (($#)); do
  case $1 in
    --corpus) corpus=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --tools) tools=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    *) echo "usage: $0 [--corpus DIR] [--work DIR] [--runs N] [--tools LIST] [--steps LIST]" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "must run as root (drop_caches, kernel mounts)" >&2; exit 1; }

cairn="$here/.cairn-build/cairn"
mnt="$work/mnt"
cache="$work/cache"
repo="$work/cairn-repo"
image="$work/ws.sqsh"
restic_repo="$work/restic-repo"
export RESTIC_PASSWORD=bench
results="$work/results.tsv"
downloaded="$work/downloaded.sqsh"
mkdir -p "$work" "$mnt"

log() { printf '[mount-bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
now_us() { echo "${EPOCHREALTIME/./}"; }

# ---------------------------------------------------------------- S3 (only for the *-s3 tools)
s3_prefix=""
start_s3() {
  bench_s3_up
  s3_endpoint="$BENCH_S3_ENDPOINT"
  s3_prefix="s3://$BENCH_S3_BUCKET/bench-mount-$$"
  s3_repo="$s3_prefix/cairn"
  log "S3: snapshot of $corpus and upload of the squashfs image to $s3_prefix (once per run)"
  "$cairn" -r "$s3_repo" init >/dev/null
  "$cairn" -r "$s3_repo" snapshot "$corpus" -t ws -q >/dev/null
  aws s3 cp "$image" "$s3_prefix/ws.sqsh" --endpoint-url "$s3_endpoint" --quiet
}
stop_s3() {
  if [[ -n $s3_prefix ]]; then
    aws s3 rm "$s3_prefix/" --recursive --quiet --endpoint-url "$s3_endpoint" >/dev/null 2>&1 || true
  fi
  bench_s3_down
}

# ---------------------------------------------------------------- preparation (untimed)
prepare() {
  "$here/cairn" --version >/dev/null # builds the Release (Native AOT) CLI if the sources changed
  if [[ ! -f $repo/config ]]; then
    log "cairn: snapshot of $corpus"
    "$cairn" -r "$repo" init >/dev/null
    "$cairn" -r "$repo" snapshot "$corpus" -t ws -q >/dev/null
  fi
  if [[ " $tools " == *" squash"* || " $tools " == *" kernel "* || " $tools " == *" download-s3 "* ]] && [[ ! -f $image ]]; then
    log "mksquashfs -comp zstd (once)"
    mksquashfs "$corpus" "$image" -comp zstd -noappend -quiet >/dev/null
  fi
  if [[ " $tools " == *" restic "* ]] && [[ ! -f $restic_repo/config ]]; then
    log "restic backup (once)"
    restic -q -r "$restic_repo" init >/dev/null
    (cd "$corpus" && restic -q -r "$restic_repo" backup . >/dev/null)
  fi
  if [[ " $tools " == *"-s3 "* ]]; then start_s3; fi
  # Read once what the timed steps read from disk, so that the host's cache holds it for every tool alike (on a VM,
  # dropping the page cache leaves the host's cache alone: see bench_warm_host).
  local warm=("$repo")
  [[ -f $image ]] && warm+=("$image")
  [[ -d $restic_repo ]] && warm+=("$restic_repo")
  bench_warm_host "${warm[@]}"
}

# ---------------------------------------------------------------- mounting
server_pid=""
root="$mnt" # where the tree appears (restic nests it)

start_mount() { # TOOL -> starts the server in the background (or mounts), sets server_pid
  local tool=$1
  server_pid=""
  root=$mnt
  case $tool in
    cairn | cairn-learned)
      "$cairn" -r "$repo" mount ws "$mnt" --cache-dir "$cache" --log "$work/cairn.log" >/dev/null 2>&1 & server_pid=$! ;;
    cairn-nohydrate)
      "$cairn" -r "$repo" mount ws "$mnt" --cache-dir "$cache" --no-hydrate --log "$work/cairn.log" >/dev/null 2>&1 & server_pid=$! ;;
    cairn-nopush)
      "$cairn" -r "$repo" mount ws "$mnt" --cache-dir "$cache" --no-push --log "$work/cairn.log" >/dev/null 2>&1 & server_pid=$! ;;
    cairn-s3)
      "$cairn" -r "$s3_repo" mount ws "$mnt" --cache-dir "$cache" --log "$work/cairn.log" >/dev/null 2>&1 & server_pid=$! ;;
    download-s3) # the eager way: the whole image first, then a local mount of it
      aws s3 cp "$s3_prefix/ws.sqsh" "$downloaded" --endpoint-url "$s3_endpoint" --quiet
      squashfuse_ll -f "$downloaded" "$mnt" & server_pid=$! ;;
    squashfuse) squashfuse -f "$image" "$mnt" & server_pid=$! ;;
    squashfuse_ll) squashfuse_ll -f "$image" "$mnt" & server_pid=$! ;;
    kernel) mount -t squashfs -o loop,ro "$image" "$mnt" ;;
    restic)
      restic -q -r "$restic_repo" mount "$mnt" >/dev/null 2>&1 & server_pid=$!
      root="$mnt/snapshots/latest/" ;; # a symlink (the slash makes find follow it); `backup .` is stored relative
  esac
}

wait_answers() { # polls until ROOT/package.json can be stat'ed (60 s at most)
  bench_wait_for "$root/package.json" || { echo "mount did not answer" >&2; return 1; }
}

stop_mount() {
  if mountpoint -q "$mnt"; then
    umount "$mnt" 2>/dev/null || umount -l "$mnt"
  fi
  if [[ -n $server_pid ]]; then
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
  local loopdev
  for loopdev in $(losetup -j "$image" -O NAME -n 2>/dev/null); do losetup -d "$loopdev" 2>/dev/null || true; done
  rm -f "$downloaded"
}

fresh() { # TOOL: the cold state every run starts from
  stop_mount
  rm -rf "$cache"
  if [[ $1 != cairn-learned ]]; then rm -rf "$repo/traces"; fi
  if [[ $1 == cairn-s3 ]]; then aws s3 rm "$s3_repo/traces/" --recursive --quiet --endpoint-url "$s3_endpoint" >/dev/null; fi
  bench_settle # the deleted cache (up to 760 MB) must not stall the next timed step
}
trap 'stop_mount; stop_s3' EXIT

# ---------------------------------------------------------------- steps
step_seconds=""
server_rss_kib="" # peak RSS of the server process after reading everything (FUSE servers only)
run_step() { # TOOL STEP -> sets step_seconds (runs in this shell: the server must stay its child)
  local tool=$1 step=$2 t0 t1
  if [[ $step == answers || $step == startwork ]]; then
    bench_drop_caches
    t0=$(now_us)
    start_mount "$tool"
    wait_answers
    if [[ $step == startwork ]]; then (cd "$root" && node -e "require('typescript')"); fi
    t1=$(now_us)
  elif [[ $step == download ]]; then
    bench_drop_caches
    t0=$(now_us)
    aws s3 cp "$s3_prefix/ws.sqsh" "$downloaded" --endpoint-url "$s3_endpoint" --quiet
    t1=$(now_us)
    rm -f "$downloaded"
  else
    start_mount "$tool"
    wait_answers
    bench_drop_caches
    t0=$(now_us)
    case $step in
      find) find "$root" | wc -l >/dev/null ;;
      first) head -c 1 "$root/$midfile" >/dev/null ;;
      file) cat "$root/$midfile" >/dev/null ;;
      all) tar -cf - -C "$root" . | wc -c >/dev/null ;;
      workload) (cd "$root" && node -e "require('typescript')") ;;
    esac
    t1=$(now_us)
    if [[ $step == all && -n $server_pid && -r /proc/$server_pid/status ]]; then
      server_rss_kib=$(awk '/^VmHWM/ { print $2 }' "/proc/$server_pid/status")
    fi
  fi
  step_seconds=$(printf '%d.%06d' $(((t1 - t0) / 1000000)) $(((t1 - t0) % 1000000)))
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

prepare
: >"$results"
declare -A figure samples rss
wanted() { # TOOL STEP: whether the tool has that step
  case $1:$2 in
    cairn-learned:workload) return 0 ;;
    cairn-learned:*) return 1 ;;
    download-s3:startwork | download-s3:download) return 0 ;;
    download-s3:* | *:download) return 1 ;;
  esac
}
# Rounds are interleaved, round 1 of every tool before round 2 of any, so drift on the shared machine (load, the disk's
# speed of the moment) spreads over all tools instead of falling on one.
for step in $steps; do
  for ((r = 1; r <= runs; r++)); do
    for tool in $tools; do
      wanted "$tool" "$step" || continue
      fresh "$tool"
      if [[ $tool == cairn-learned ]]; then
        # One untimed run of the workload records the trace; then a cold cache again.
        rm -rf "$repo/traces"
        start_mount cairn-learned && wait_answers
        (cd "$root" && node -e "require('typescript')")
        fresh cairn-learned
      fi
      run_step "$tool" "$step"
      samples[$tool.$step]+="$step_seconds"$'\n'
      printf '%s\t%s\t%d\t%s\t%s\n' "$tool" "$step" "$r" "$step_seconds" "$(cut -d' ' -f1 /proc/loadavg)" >>"$results"
      log "$tool $step run $r: $step_seconds s"
      if [[ $step == all && -n $server_rss_kib ]]; then
        rss[$tool]+="$((server_rss_kib / 1024))"$'\n'
        server_rss_kib=""
      fi
      stop_mount
    done
  done
done
for key in "${!samples[@]}"; do figure[$key]=$(printf '%s' "${samples[$key]}" | median); done
for tool in "${!rss[@]}"; do figure[$tool.rss]=$(printf '%s' "${rss[$tool]}" | median); done

printf '\n| tool |'; for step in $steps; do printf ' %s s |' "$step"; done; printf ' server peak RSS MiB |\n|---|'
for step in $steps; do printf -- '---|'; done; printf -- '---|\n'
for tool in $tools; do
  printf '| %s |' "$tool"
  for step in $steps; do printf ' %s |' "${figure[$tool.$step]:--}"; done
  printf ' %s |\n' "${figure[$tool.rss]:--}"
done
