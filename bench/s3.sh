#!/usr/bin/env bash
# bench/s3.sh - Cairn on S3 against its peers, side by side, on the loopback S3 server (scripts/s3-server.sh).
#
# Measures, on one corpus (default /var/tmp/cairn-corpus/ws), with the page cache dropped before every timed step
# and rounds interleaved (round 1 of every tool, then round 2, ...):
#   snapshot to S3:   cairn snapshot                      vs  tar -cf - -C ws . | zstd -3 -T0 | aws s3 cp - s3://...
#                                                          vs  restic backup (S3 backend)
#   restore from S3:  cairn restore                       vs  aws s3 cp s3://... - | zstd -d | tar -xf - -C OUT
#                                                          vs  restic restore
# and Cairn with a repository in a local directory (same disk), to show what S3 itself costs.
# and prints medians (min-max) of wall time, CPU time (user + system, of every process of a pipeline) and peak RSS,
# stored bytes, Cairn's GET count per restore, and the ratios Cairn / pipe. On a shared machine the CPU times are
# the steadier figure: wall times move with whatever else runs. Needs root (drop_caches), GNU time, zstd, restic and the AWS CLI (`aws` on PATH).
#
# Usage: sudo bench/s3.sh [--runs N] [--corpus DIR] [--work DIR]
#   CAIRN=/path/to/cairn   the CLI (default: ./cairn, which builds a Release binary first)
# The S3 server is started if it is down and then stopped again; CAIRN_S3_PORT / CAIRN_S3_STATE choose which one.
# The sh -c scripts below take their arguments as $0, $1, ...: the single quotes are meant.
# shellcheck disable=SC2016
set -Eeuo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
runs=3
corpus=/var/tmp/cairn-corpus/ws
work=/var/tmp/cairn-bench-s3
while (($#)); do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --corpus) corpus="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--corpus DIR] [--work DIR]" >&2; exit 2 ;;
  esac
done

die() { echo "bench/s3.sh: $*" >&2; exit 1; }
((EUID == 0)) || die "needs root (drops the page cache before every timed step)"
[[ -d $corpus ]] || die "no corpus at $corpus"
[[ -x /usr/bin/time ]] || die "needs GNU time (/usr/bin/time)"
for tool in zstd tar restic aws bc python3; do command -v "$tool" >/dev/null || die "needs $tool on PATH"; done
cairn="${CAIRN:-$here/cairn}"
[[ -e $work ]] && die "$work exists: remove it or pass --work"

bench_s3_up
endpoint="$BENCH_S3_ENDPOINT"
bucket="$BENCH_S3_BUCKET"
prefix="bench-s3-$$"
export RESTIC_PASSWORD=bench

cleanup() {
  rm -rf "$work"
  aws s3 rm "s3://$bucket/$prefix/" --recursive --quiet --endpoint-url "$endpoint" >/dev/null 2>&1 || true
  bench_s3_down
}
trap cleanup EXIT
mkdir -p "$work"

# Build outside the timed steps.
"$cairn" --version >/dev/null

results="$work/results.tsv"   # tool phase round wall_s rss_kib cpu_s
: >"$results"

# timed TOOL PHASE ROUND COMMAND...: cold cache, then wall time, peak RSS (of the largest process of a pipeline) and
# CPU time (of all of them). The S3 server's own CPU time is not in it: it runs outside, on the same 2 cores.
timed() {
  local tool="$1" phase="$2" round="$3"; shift 3
  sync
  echo 3 >/proc/sys/vm/drop_caches
  local load; load="$(cut -d' ' -f1 /proc/loadavg)"
  /usr/bin/time -f '%e %M %U %S' -o "$work/time" "$@"
  read -r wall rss user system <"$work/time"
  local cpu; cpu="$(echo "$user + $system" | bc)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$phase" "$round" "$wall" "$rss" "$cpu" >>"$results"
  printf '  %-7s %-8s round %s: %6.2f s %6.2f s CPU %7d KiB (load %s)\n' "$tool" "$phase" "$round" "$wall" "$cpu" "$rss" "$load" >&2
}

stored() { aws s3 ls "s3://$bucket/$1" --recursive --summarize --endpoint-url "$endpoint" | awk '/Total Size/ {print $3}'; }

for round in $(seq 1 "$runs"); do
  echo "round $round of $runs" >&2
  base="$prefix/$round"

  repo="s3://$bucket/$base/cairn"
  "$cairn" -r "$repo" init >/dev/null
  timed cairn snapshot "$round" sh -c '"$0" -r "$1" snapshot "$2" --json >"$3"' "$cairn" "$repo" "$corpus" "$work/cairn-snapshot.json"
  id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/cairn-snapshot.json")"
  printf 'cairn\tstored\t%s\t%s\n' "$round" "$(stored "$base/cairn/")" >>"$results"

  local_repo="$work/local-repo"
  "$cairn" -r "$local_repo" init >/dev/null
  timed local snapshot "$round" sh -c '"$0" -r "$1" snapshot "$2" --json >"$3"' "$cairn" "$local_repo" "$corpus" "$work/local-snapshot.json"
  local_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/local-snapshot.json")"

  timed pipe snapshot "$round" sh -c 'tar -cf - -C "$0" . | zstd -3 -T0 -q | aws s3 cp - "$1" --endpoint-url "$2"' \
    "$corpus" "s3://$bucket/$base/ws.tar.zst" "$endpoint"
  printf 'pipe\tstored\t%s\t%s\n' "$round" "$(stored "$base/ws.tar.zst")" >>"$results"

  restic_repo="s3:$endpoint/$bucket/$base/restic"
  restic -r "$restic_repo" init -q >/dev/null
  timed restic snapshot "$round" sh -c 'cd "$0" && restic -r "$1" backup . -q' "$corpus" "$restic_repo"
  printf 'restic\tstored\t%s\t%s\n' "$round" "$(stored "$base/restic/")" >>"$results"

  out="$work/out"
  timed cairn restore "$round" sh -c '"$0" -r "$1" restore "$2" "$3" --json >"$4"' "$cairn" "$repo" "$id" "$out" "$work/cairn-restore.json"
  printf 'cairn\tgets\t%s\t%s\n' "$round" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"]["gets"])' "$work/cairn-restore.json")" >>"$results"
  bench_retire "$out" "$work/retired" # not deleted now: see bench_retire in lib.sh

  timed local restore "$round" sh -c '"$0" -r "$1" restore "$2" "$3" >/dev/null' "$cairn" "$local_repo" "$local_id" "$out"
  bench_retire "$out" "$work/retired"
  rm -rf "$local_repo"

  mkdir "$out"
  timed pipe restore "$round" sh -c 'aws s3 cp "$0" - --endpoint-url "$1" | zstd -d -q | tar -xf - -C "$2"' \
    "s3://$bucket/$base/ws.tar.zst" "$endpoint" "$out"
  bench_retire "$out" "$work/retired"

  timed restic restore "$round" restic -r "$restic_repo" restore latest --target "$out" -q
  bench_retire "$out" "$work/retired"

  aws s3 rm "s3://$bucket/$base/" --recursive --quiet --endpoint-url "$endpoint"
done

python3 - "$results" "$runs" "$corpus" <<'EOF'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
runs, corpus = sys.argv[2], sys.argv[3]
def values(tool, phase, column):
    return [float(r[column]) for r in rows if r[0] == tool and r[1] == phase]
def cell(v, fmt):
    return f"{fmt(statistics.median(v))} ({fmt(min(v))}–{fmt(max(v))})" if v else "—"
secs = lambda x: f"{x:.2f}"
mib = lambda x: f"{x / 1024:.0f}"
mb = lambda x: f"{x / 1e6:.1f}"
print(f"corpus {corpus}, {runs} rounds, medians (min–max)\n")
print("| tool | snapshot s | snapshot CPU s | snapshot peak RSS MiB | stored MB | restore s | restore CPU s | restore peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|")
for tool, name in (("cairn", "cairn"), ("local", "cairn, local directory repository"), ("pipe", "tar \\| zstd -3 -T0 \\| aws s3 cp"), ("restic", "restic 0.14 (S3 backend)")):
    print(f"| {name} | {cell(values(tool, 'snapshot', 3), secs)} | {cell(values(tool, 'snapshot', 5), secs)} | {cell(values(tool, 'snapshot', 4), mib)} "
          f"| {cell(values(tool, 'stored', 3), mb)} | {cell(values(tool, 'restore', 3), secs)} | {cell(values(tool, 'restore', 5), secs)} | {cell(values(tool, 'restore', 4), mib)} |")
gets = values("cairn", "gets", 3)
stored = values("cairn", "stored", 3)
print(f"\nCairn GETs per restore: {cell(gets, lambda x: f'{x:.0f}')}; bound (stored MB / 8) + 5 = {statistics.median(stored) / 1e6 / 8 + 5:.1f}")
for phase, target in (("snapshot", 0.8), ("restore", 0.7)):
    ratio = lambda column: statistics.median(values("cairn", phase, column)) / statistics.median(values("pipe", phase, column))
    print(f"{phase}: cairn / pipe = {ratio(3):.2f} wall (target ≤ {target}), {ratio(5):.2f} CPU")
for phase in ("snapshot", "restore"):
    c, l = values("cairn", phase, 3), values("local", phase, 3)
    print(f"{phase}: cairn on S3 / cairn on a local directory = {statistics.median(c) / statistics.median(l):.2f} wall")
rss = values("cairn", "snapshot", 4) + values("cairn", "restore", 4)
print(f"Cairn peak RSS: {max(rss) / 1024:.0f} MiB at most (target ≤ 256)")
EOF
