#!/usr/bin/env bash
# bench/writable.sh — a writable mount of the ws workspace with ~10 files changed: `cairn snapshot --from-mount`
# (reads the overlay's upper directory only) against a full incremental `cairn snapshot MNT --parent BASE` of the
# merged tree (walks all of it; every file goes through the overlay and the lazy mount, whose inodes and ctimes never
# match the base's sources, so every file is read), in the same run.
#
# The mount runs with --no-hydrate --no-trace (no background fetching competing with the timed step). The page cache
# is dropped before every timed step; the mount's frame cache stays (after the first full run, the snapshot's data
# comes from it, not from the repository). Medians of --runs (default 3), wall seconds and peak RSS (/usr/bin/time).
#
# Usage: sudo bench/writable.sh [--corpus DIR] [--work DIR] [--runs N] [--changes N]
set -euo pipefail
export LC_ALL=C

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
corpus=/var/tmp/cairn-corpus/ws
work=/var/tmp/cairn-writable-bench
runs=3
changes=10
while (($#)); do
  case $1 in
    --corpus) corpus=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --changes) changes=$2; shift 2 ;;
    *) echo "usage: $0 [--corpus DIR] [--work DIR] [--runs N] [--changes N]" >&2; exit 2 ;;
  esac
done

bench_require_root
if [[ -z ${CAIRN:-} ]]; then
  "$here/cairn" --version >/dev/null # the launcher builds its Release binary, outside any timing
fi
cairn="${CAIRN:-$here/.cairn-build/cairn}"
repo=$work/repo mnt=$work/mnt layers=$work/layers
cleanup() { "$cairn" umount "$mnt" >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
rm -rf "$work" && mkdir -p "$mnt"
c() { "$cairn" -r "$repo" "$@"; }
c init >/dev/null
base=$(c --json snapshot "$corpus" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
c mount "$base" "$mnt" --writable --upper "$layers" --daemon --no-hydrate --no-trace --cache-dir "$work/cache" >/dev/null

# Change files spread over the tree: append a line to every (files/changes)-th regular file.
mapfile -t files < <(cd "$mnt" && find . -type f -size -256k | sort)
step=$(( ${#files[@]} / changes ))
for ((i = 0; i < changes; i++)); do echo "changed by bench/writable.sh" >> "$mnt/${files[i * step]}"; done
echo "ws: ${#files[@]} files under 256 KiB, $changes changed; upper holds $(find "$layers/upper" -type f | wc -l) files" >&2

timed() { # label command... -> "label seconds rss_kib"
  local label=$1; shift
  bench_drop_caches
  /usr/bin/time -f "$label %e %M" "$@" 2>&1 >/dev/null | tail -1
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

results=$work/results.tsv
: > "$results"
for ((r = 1; r <= runs; r++)); do
  timed from-mount "$cairn" -r "$repo" -q snapshot --from-mount "$mnt" >> "$results"
  timed full-incremental "$cairn" -r "$repo" -q snapshot "$mnt" --parent "$base" >> "$results"
done

printf '%-18s %10s %12s\n' step "median s" "median RSS"
for step in from-mount full-incremental; do
  s=$(awk -v s=$step '$1 == s {print $2}' "$results" | median)
  m=$(awk -v s=$step '$1 == s {print $3}' "$results" | median)
  printf '%-18s %10s %9s MiB\n' "$step" "$s" "$((m / 1024))"
done
echo "raw: $results" >&2
