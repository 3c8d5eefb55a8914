#!/usr/bin/env bash
# bench/restore.sh — restores only: Cairn against the reference peer of each restore target, in one run, and
# optionally a second Cairn build (CAIRN_BASE, e.g. the main branch's) in the same rounds: before/after figures.
#
# Areas (the peer is the reference of the goal in docs/benchmarks.md):
#   ws      cairn restore ID OUT (snapshot of ws)          vs  unsquashfs -d OUT ws.sqsh (mksquashfs -comp zstd)   ≤ 0.9×
#   rootfs  cairn restore next OUT (rootfs2.ext4, a diff   vs  cp --sparse=always rootfs2.ext4 OUT/               ≤ 0.7×
#           snapshot on top of rootfs.ext4)
#   mem     the same for mem2.img on mem.img               vs  cp --sparse=always mem2.img OUT/                   ≤ 0.7×
#           Images also against `zstd -d` of the image compressed whole with `zstd -3 -T0` (the restore of a user who
#           keeps `tar | zstd` archives; no goal): the peer that, like Cairn, decompresses.
#   s3      cairn -r s3://… restore ID OUT (snapshot of ws) vs aws s3 cp s3://…/ws.tar.zst - | zstd -d | tar -x  ≤ 0.7×
# Preparation (untimed, once per run, with CAIRN): the repositories, the squashfs image, the S3 objects. Every timed
# step starts with the page cache dropped; rounds are interleaved (round 1 of every tool of every area, then round 2,
# ...); each restore is checked (tree listing for ws, cmp for images). Times are wall seconds; CPU is user + system
# of every process of the step; peak RSS is that of the largest process. Ratios: median Cairn / median peer, with the
# range of the per-round ratios.
#
# Usage: sudo bench/restore.sh [--runs N] [--areas "ws rootfs mem s3"] [--corpus DIR] [--work DIR]
#   CAIRN=/path/to/cairn        the build measured (default ./cairn)
#   CAIRN_BASE=/path/to/cairn   another build, measured in the same rounds as "cairn-base" (optional)
# The s3 area starts scripts/s3-server.sh if it is down, and stops it again at the end.
# shellcheck disable=SC2016 # the sh -c scripts take their arguments as $0, $1, ...
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

RUNS=3
AREAS="ws rootfs mem"
CORPUS=/var/tmp/cairn-corpus
WORK=/var/tmp/cairn-bench-restore
CAIRN=${CAIRN:-$HERE/../cairn}
CAIRN_BASE=${CAIRN_BASE:-}
CMDLINE="$0 $*"
while (($#)); do
  case "$1" in
    --runs) RUNS=${2:?}; shift 2 ;;
    --areas) AREAS=${2:?}; shift 2 ;;
    --corpus) CORPUS=${2:?}; shift 2 ;;
    --work) WORK=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;/^# shellcheck/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) bench_die "unknown argument: $1 (see --help)" ;;
  esac
done

bench_require_root
bench_require_cmds unsquashfs mksquashfs cmp jq zstd
CAIRN=$(realpath -e "$CAIRN")
[[ -z $CAIRN_BASE ]] || CAIRN_BASE=$(realpath -e "$CAIRN_BASE")
TOOLS="cairn${CAIRN_BASE:+ cairn-base}"
[[ $WORK == /var/tmp/* && $WORK != /var/tmp/ ]] || bench_die "--work must be below /var/tmp"
bench_lock

S3_PREFIX=
cleanup() {
  rm -rf --one-file-system "$WORK"
  if [[ -n $S3_PREFIX ]]; then aws s3 rm "s3://$S3_BUCKET/$S3_PREFIX/" --recursive --quiet --endpoint-url "$S3_ENDPOINT" >/dev/null 2>&1 || true; fi
  bench_s3_down
}
trap cleanup EXIT
rm -rf --one-file-system "$WORK"
mkdir -p "$WORK/logs"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$HERE/results"
RAW=$HERE/results/restore-$STAMP.tsv
printf 'area\ttool\tround\twall_s\tcpu_s\trss_kib\tload1\n' >"$RAW"

# ---- preparation (untimed) ---------------------------------------------------------------------------------------
WS_ID=
prepare() {
  local area=$1 a b
  bench_log "preparing $area"
  case $area in
    ws)
      "$CAIRN" -r "$WORK/ws-repo" init >/dev/null
      WS_ID=$("$CAIRN" -r "$WORK/ws-repo" snapshot -q --json "$CORPUS/ws" | jq -r .id)
      mksquashfs "$CORPUS/ws" "$WORK/ws.sqsh" -comp zstd -noappend -quiet >/dev/null
      bench_tree_listing "$CORPUS/ws" >"$WORK/list.ws"
      ;;
    rootfs | mem)
      if [[ $area == rootfs ]]; then a=rootfs.ext4 b=rootfs2.ext4; else a=mem.img b=mem2.img; fi
      "$CAIRN" -r "$WORK/$area-repo" init >/dev/null
      "$CAIRN" -r "$WORK/$area-repo" snapshot -q --json --tag base --image "$CORPUS/$a" >/dev/null
      "$CAIRN" -r "$WORK/$area-repo" snapshot -q --json --tag next --parent base --image "$CORPUS/$b" >/dev/null
      zstd -q -3 -T0 "$CORPUS/$b" -o "$WORK/$area.zst"
      ;;
    s3)
      bench_require_cmds aws zstd tar
      bench_s3_up
      S3_ENDPOINT=$BENCH_S3_ENDPOINT
      S3_BUCKET=$BENCH_S3_BUCKET
      S3_PREFIX=bench-restore-$$
      tar -cf - -C "$CORPUS/ws" . | zstd -3 -T0 -q | aws s3 cp - "s3://$S3_BUCKET/$S3_PREFIX/ws.tar.zst" --endpoint-url "$S3_ENDPOINT" --quiet
      "$CAIRN" -r "s3://$S3_BUCKET/$S3_PREFIX/cairn" init >/dev/null
      S3_ID=$("$CAIRN" -r "s3://$S3_BUCKET/$S3_PREFIX/cairn" snapshot -q --json "$CORPUS/ws" | jq -r .id)
      [[ -s $WORK/list.ws ]] || bench_tree_listing "$CORPUS/ws" >"$WORK/list.ws"
      ;;
    *) bench_die "unknown area '$area' (ws rootfs mem s3)" ;;
  esac
}

# command AREA TOOL: the timed command (bash), restoring into $WORK/out.
command_for() {
  local o=$WORK/out c
  case $2 in cairn) c=$CAIRN ;; cairn-base) c=$CAIRN_BASE ;; esac
  case $1.$2 in
    ws.peer) echo "unsquashfs -q -d $o $WORK/ws.sqsh >/dev/null" ;;
    ws.cairn*) echo "$c -r $WORK/ws-repo restore -q $WS_ID $o" ;;
    rootfs.peer) echo "cp --sparse=always $CORPUS/rootfs2.ext4 $o/" ;;
    mem.peer) echo "cp --sparse=always $CORPUS/mem2.img $o/" ;;
    rootfs.zstd) echo "zstd -q -d $WORK/rootfs.zst -o $o/rootfs2.ext4" ;; # sparse output: zstd's default for a file
    mem.zstd) echo "zstd -q -d $WORK/mem.zst -o $o/mem2.img" ;;
    rootfs.cairn* | mem.cairn*) echo "$c -r $WORK/$1-repo restore -q next $o" ;;
    s3.peer) echo "aws s3 cp s3://$S3_BUCKET/$S3_PREFIX/ws.tar.zst - --endpoint-url $S3_ENDPOINT | zstd -d -q | tar -xf - -C $o" ;;
    s3.cairn*) echo "$c -r s3://$S3_BUCKET/$S3_PREFIX/cairn restore -q $S3_ID $o" ;;
  esac
}

# check AREA: the restore in $WORK/out is the source.
check() {
  case $1 in
    ws | s3) diff -q <(bench_tree_listing "$WORK/out") "$WORK/list.ws" >/dev/null ;;
    rootfs) cmp -s "$WORK/out/rootfs2.ext4" "$CORPUS/rootfs2.ext4" ;;
    mem) cmp -s "$WORK/out/mem2.img" "$CORPUS/mem2.img" ;;
  esac
}

# tools_for AREA: the tools of an area's rounds, its goal's peer first.
tools_for() {
  case $1 in rootfs | mem) echo "peer zstd $TOOLS" ;; *) echo "peer $TOOLS" ;; esac
}

for area in $AREAS; do prepare "$area"; done

# ---- timed rounds ------------------------------------------------------------------------------------------------
for ((round = 1; round <= RUNS; round++)); do
  for area in $AREAS; do
    for tool in $(tools_for "$area"); do
      bench_retire "$WORK/out" "$WORK/retired" # not deleted now: see bench_retire in lib.sh
      [[ $area.$tool == ws.peer ]] || mkdir "$WORK/out" # unsquashfs creates its target
      cmd=$(command_for "$area" "$tool")
      ((round > 1)) || printf '%s\t%s\t%s\n' "$area" "$tool" "$cmd" >>"$WORK/commands.tsv"
      bench_drop_caches
      load=$(bench_load1)
      log=$WORK/logs/$area.$tool.$round
      t0=${EPOCHREALTIME/./}
      "$BENCH_TIME_BIN" -f '%U %S %M' -o "$log.time" bash -c "$cmd" </dev/null >"$log.out" 2>"$log.err" ||
        bench_die "$area $tool (round $round) failed: $(tail -n 3 "$log.err")"
      t1=${EPOCHREALTIME/./}
      check "$area" || bench_die "$area $tool (round $round): the restore differs from the source"
      read -r user system rss < <(tail -n 1 "$log.time")
      wall=$(bench_us_to_s $((t1 - t0)))
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$area" "$tool" "$round" "$wall" "$(awk -v u="$user" -v s="$system" 'BEGIN { printf "%.2f", u + s }')" "$rss" "$load" >>"$RAW"
      bench_log "round $round $area $tool: ${wall}s, load $load"
    done
  done
done
rm -rf --one-file-system "$WORK/out"

# ---- report ------------------------------------------------------------------------------------------------------
echo "run: $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores; command: $CMDLINE"
echo "CAIRN=$CAIRN${CAIRN_BASE:+ CAIRN_BASE=$CAIRN_BASE}; raw: $RAW"
echo "1-min load average before the timed steps: $(tail -n +2 "$RAW" | cut -f7 | bench_stats | awk '{ printf "median %s (%s-%s)", $1 + 0, $2 + 0, $3 + 0 }')"
echo
# ratio AREA TOOL REFERENCE: median TOOL wall ÷ median REFERENCE wall, with the range of the per-round ratios.
ratio() {
  awk -F'\t' -v a="$1" -v t="$2" -v r="$3" '
    $1 == a && $2 == r { p[$3] = $4; ps[++np] = $4 } $1 == a && $2 == t { c[$3] = $4; cs[++nc] = $4 }
    function med(v, n,   i, j, x) { for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j > 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
                                    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    END { lo = 1e9; hi = 0; for (r in c) { x = c[r] / p[r]; if (x < lo) lo = x; if (x > hi) hi = x }
          printf "%.2f (%.2f-%.2f)", med(cs, nc) / med(ps, np), lo, hi }' "$RAW"
}

echo "| area | tool | wall s | CPU s | peak RSS MiB | wall ÷ peer: median (per-round range) | wall ÷ \`zstd -d\` (images) |"
echo "|---|---|---|---|---|---|---|"
for area in $AREAS; do
  for tool in $(tools_for "$area"); do
    col() { awk -F'\t' -v a="$area" -v t="$tool" -v c="$1" '$1 == a && $2 == t { print $c }' "$RAW" | bench_stats; }
    read -r wall wmin wmax _ < <(col 4)
    read -r cpu _ < <(col 5)
    read -r rss _ < <(col 6)
    vs_peer=— vs_zstd=—
    [[ $tool == peer ]] || vs_peer=$(ratio "$area" "$tool" peer)
    [[ $area != rootfs && $area != mem || $tool == peer || $tool == zstd ]] || vs_zstd=$(ratio "$area" "$tool" zstd)
    printf '| %s | %s | %.2f (%.2f-%.2f) | %.2f | %.0f | %s | %s |\n' "$area" "$(if [[ $tool == cairn* ]]; then echo "$tool"; else command_for "$area" "$tool" | awk '{ print $1 }'; fi)" \
      "$wall" "$wmin" "$wmax" "$cpu" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$vs_peer" "$vs_zstd"
  done
done
echo
echo "commands:"
sed 's/^/    /' "$WORK/commands.tsv"
