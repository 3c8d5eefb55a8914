#!/usr/bin/env bash
# bench/workspace.sh — Cairn vs peer tools on the `ws` workspace corpus, in one run.
#
# For every tool, in the same run and on the same machine state:
#   1. full snapshot of a fresh working copy of `ws`:  wall s, stored bytes, peak RSS
#   2. incremental snapshot after the medium delta, applied IN PLACE with
#      `rsync -a --delete ws.medium/ WORK/src/` (unchanged files keep their
#      inode, mtime and ctime):                          wall s, added bytes, peak RSS
#   3. full restore of the first (full) snapshot into an empty directory:
#                                                        wall s, wall s + `sync`, peak RSS
# The page cache is dropped before every timed step. Each tool is measured
# --runs times; rounds are interleaved (round 1 of every tool, then round 2, ...)
# so slow drift of a noisy machine spreads over all tools. Tables give the
# median with min–max; ratios compare Cairn with the reference peers that
# define its targets (see /work/shared/peers.md).
#
# Usage: bench/workspace.sh [--runs N] [--tools "LIST"] [--corpus DIR]
#                           [--work DIR] [--out FILE] [--delta small|medium|large]
#                           [--verify-content]
#   CAIRN=/path/to/cairn bench/workspace.sh        (default CAIRN=./cairn)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

ALL_TOOLS="tar-zstd tar squashfs-zstd squashfs-lz4 restic borg casync cairn"

# ---- options -----------------------------------------------------------------
RUNS=3
TOOLS=$ALL_TOOLS
CORPUS=/var/tmp/cairn-corpus
WORK=/var/tmp/cairn-bench
OUT=
DELTA=medium
VERIFY_CONTENT=0
CAIRN=${CAIRN:-./cairn}
CMDLINE="$0 $*"

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
  echo "Tools: $ALL_TOOLS"
}

while (($#)); do
  case "$1" in
    --runs) RUNS=${2:?}; shift 2 ;;
    --tools) TOOLS=${2:?}; shift 2 ;;
    --corpus) CORPUS=${2:?}; shift 2 ;;
    --work) WORK=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --delta) DELTA=${2:?}; shift 2 ;;
    --verify-content) VERIFY_CONTENT=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; bench_die "unknown argument: $1" ;;
  esac
done

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || bench_die "--runs must be a positive integer"
[[ $DELTA =~ ^(small|medium|large)$ ]] || bench_die "--delta must be small, medium or large"
read -r -a TOOL_LIST <<<"$TOOLS"
((${#TOOL_LIST[@]})) || bench_die "--tools is empty"
for t in "${TOOL_LIST[@]}"; do
  [[ " $ALL_TOOLS " == *" $t "* ]] || bench_die "unknown tool '$t' (known: $ALL_TOOLS)"
done

# ---- checks --------------------------------------------------------------------
bench_require_root
bench_require_cmds rsync cp find du sort awk jq flock
CORPUS=$(realpath -e "$CORPUS") || bench_die "corpus dir not found"
for f in .done.ws .done.deltas; do
  [[ -e $CORPUS/$f ]] || bench_die "$CORPUS/$f missing: the corpus is not built yet (make-corpus.sh)"
done
[[ -d $CORPUS/ws && -d $CORPUS/ws.$DELTA ]] || bench_die "$CORPUS/ws or ws.$DELTA missing"

# Tools that cannot run are skipped (with a reason) rather than failing the run.
declare -A SKIP=() FAILED=()
need_for() { # TOOL -> programs it needs
  case "$1" in
    tar-zstd) echo "tar zstd" ;; tar) echo tar ;;
    squashfs-*) echo "mksquashfs unsquashfs" ;;
    restic) echo restic ;; borg) echo borg ;; casync) echo casync ;; cairn) ;;
  esac
}
for t in "${TOOL_LIST[@]}"; do
  for c in $(need_for "$t"); do
    command -v "$c" >/dev/null || SKIP[$t]="\`$c\` is not installed"
  done
done
# Cairn is written in parallel: skip its rows cleanly until the CLI exists.
if [[ " ${TOOL_LIST[*]} " == *" cairn "* ]]; then
  if [[ $CAIRN != */* ]] && command -v "$CAIRN" >/dev/null; then CAIRN=$(command -v "$CAIRN"); fi
  if [[ -f $CAIRN && -x $CAIRN ]]; then
    CAIRN=$(realpath "$CAIRN")
  else
    SKIP[cairn]="\$CAIRN ($CAIRN) is not an executable file — build the CLI and set CAIRN=/path/to/cairn"
  fi
fi
for t in "${!SKIP[@]}"; do bench_warn "skipping $t: ${SKIP[$t]}"; done

# One benchmark at a time on this machine (cache drops are global).
bench_lock

# ---- work dir (wiped at start, removed at exit — also on error or Ctrl-C) --------
WORK=$(realpath -m "$WORK")
case "$WORK" in
  / | /var | /var/tmp | /tmp | "$HOME" | "$CORPUS" | "$CORPUS"/*) bench_die "refusing to use --work $WORK" ;;
esac
if [[ -d $WORK && -n $(ls -A "$WORK") && ! -e $WORK/.cairn-bench-work ]]; then
  bench_die "$WORK exists, is not empty and was not made by this harness; refusing to wipe it"
fi
WORK_READY=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $WORK_READY ]]; then
    bench_log "removing work dir $WORK"
    rm -rf --one-file-system "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'bench_warn interrupted; exit 130' INT
trap 'bench_warn terminated; exit 143' TERM

rm -rf --one-file-system "$WORK"
mkdir -p "$WORK/logs"
touch "$WORK/.cairn-bench-work"
WORK_READY=1

SRC=$WORK/src        # working copy of ws that the tools snapshot
OUTDIR=$WORK/restore # restore target
LOGS=$WORK/logs
LOAD1=NA
PSI="NA NA"

# Tool environments (fixed, printed with the commands).
export RESTIC_PASSWORD=cairn-bench
export BORG_BASE_DIR=$WORK/borg/home # borg's cache + security dir, per tool dir
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
ENV_NOTE="RESTIC_PASSWORD=$RESTIC_PASSWORD BORG_BASE_DIR=$BORG_BASE_DIR BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes"

# ---- results ---------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$HERE/results
mkdir -p "$RESULTS"
RAW=$RESULTS/workspace-$STAMP.tsv
JSON=$RESULTS/workspace-$STAMP.json
[[ -n $OUT ]] || OUT=$RESULTS/workspace-$STAMP.md
mkdir -p "$(dirname "$OUT")"
CMDS=$WORK/commands.tsv
SUMMARY=$WORK/summary.tsv
RATIOS=$WORK/ratios.tsv
printf 'round\ttool\tphase\twall_s\trss_kib\tbytes\talloc_bytes\tload1\trc\tnote\tcpu_psi10\tio_psi10\n' >"$RAW"
: >"$CMDS"

# record ROUND TOOL PHASE WALL RSS_KIB BYTES ALLOC RC NOTE
# (plus the machine load sampled just before the step: LOAD1, PSI)
record() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" \
    "$LOAD1" "$8" "$9" "${PSI% *}" "${PSI#* }" >>"$RAW"
}

# ---- the tools -------------------------------------------------------------------
# q PATH: shell-quoted (paths without specials print unchanged).
q() { printf '%q' "$1"; }

# tool_cmd TOOL STEP: the exact bash command run for STEP; empty = no such step.
#   setup (untimed, before full)  full (timed)  post (untimed, after full)
#   incr (timed, after the delta)  restore (timed, into $OUTDIR)
# Globals: D (this tool's dir), SRC, OUTDIR, SNAP_ID (id of the full snapshot).
tool_cmd() {
  local s=$(q "$SRC") o=$(q "$OUTDIR") d=$(q "$D") c=$(q "$CAIRN")
  case "$1.$2" in
    # tar | zstd -3 -T0: the reference for full time and stored size.
    # The full is peers.md's plain command; the level-0 snapshot file that
    # `tar -g` needs is made afterwards, untimed (-f /dev/null: GNU tar then
    # skips reading file data).
    tar-zstd.full) echo "tar -cf - -C $s . | zstd -3 -T0 > $d/ws.tar.zst" ;;
    tar-zstd.post) echo "tar -g $d/ws.snar -cf /dev/null -C $s ." ;;
    tar-zstd.incr) echo "tar -g $d/ws.snar -cf - -C $s . | zstd -3 -T0 > $d/ws.inc.tar.zst" ;;
    tar-zstd.restore) echo "zstd -d < $d/ws.tar.zst | tar -xf - -C $o" ;;
    # tar uncompressed; its `tar -g` incremental is the reference for incrementals.
    tar.full) echo "tar -cf - -C $s . > $d/ws.tar" ;;
    tar.post) echo "tar -g $d/ws.snar -cf /dev/null -C $s ." ;;
    tar.incr) echo "tar -g $d/ws.snar -cf - -C $s . > $d/ws.inc.tar" ;;
    tar.restore) echo "tar -xf $d/ws.tar -C $o" ;;
    # squashfs: no incremental (a new image is a full rebuild).
    # unsquashfs creates the target itself (it must not exist).
    # The zstd image's unsquashfs is the reference for restore time.
    squashfs-zstd.full) echo "mksquashfs $s $d/ws.sqsh -comp zstd -noappend" ;;
    squashfs-zstd.restore) echo "unsquashfs -d $o $d/ws.sqsh" ;;
    squashfs-lz4.full) echo "mksquashfs $s $d/ws.sqsh -comp lz4 -noappend" ;;
    squashfs-lz4.restore) echo "unsquashfs -d $o $d/ws.sqsh" ;;
    # restic: local repo (format v2, compression auto), --no-cache: for a local
    # repo the cache would only duplicate the repo's index/trees on the same
    # disk, and it would live outside the work dir. Parent given explicitly.
    restic.setup) echo "restic -r $d/repo init" ;;
    restic.full) echo "cd $s && restic -r $d/repo --no-cache backup ." ;;
    restic.post) echo "restic -r $d/repo --no-cache snapshots --json latest" ;;
    restic.incr) echo "cd $s && restic -r $d/repo --no-cache backup --parent $SNAP_ID ." ;;
    restic.restore) echo "restic -r $d/repo --no-cache restore $SNAP_ID --target $o" ;;
    # borg 1.2, unencrypted (-e none), zstd level 3; its files cache (in
    # BORG_BASE_DIR) is kept between full and incremental, as in normal use.
    borg.setup) echo "borg init -e none $d/repo" ;;
    borg.full) echo "cd $s && borg create --compression zstd,3 $d/repo::full ." ;;
    borg.incr) echo "cd $s && borg create --compression zstd,3 $d/repo::incr ." ;;
    borg.restore) echo "cd $o && borg extract $d/repo::full" ;;
    # casync: chunk store + index; --cache speeds up the second `make`.
    casync.full) echo "casync make --store=$d/store --cache=$d/cache $d/ws.caidx $s" ;;
    casync.incr) echo "casync make --store=$d/store --cache=$d/cache $d/ws2.caidx $s" ;;
    casync.restore) echo "casync extract --store=$d/store $d/ws.caidx $o" ;;
    # cairn: the CLI contract given to the Cairn developers.
    cairn.setup) echo "$c --repo $d/repo init" ;;
    cairn.full) echo "$c --repo $d/repo snapshot $s --json" ;;
    cairn.incr) echo "$c --repo $d/repo snapshot $s --parent auto --json" ;;
    cairn.restore) echo "$c --repo $d/repo restore $SNAP_ID $o" ;;
  esac
}

# tool_store TOOL: the paths that make up the stored backup (any that exist are
# counted). Client-side caches (borg's BORG_BASE_DIR, casync --cache) are not.
tool_store() {
  case "$1" in
    tar-zstd) echo "$D/ws.tar.zst $D/ws.inc.tar.zst" ;;
    tar) echo "$D/ws.tar $D/ws.inc.tar" ;;
    squashfs-*) echo "$D/ws.sqsh" ;;
    restic | borg | cairn) echo "$D/repo" ;;
    casync) echo "$D/store $D/ws.caidx $D/ws2.caidx" ;;
  esac
}

# tool_snapshot_id TOOL: the id of the full snapshot, from the full/post output.
tool_snapshot_id() {
  local f
  case "$1" in
    restic) f=$LOGS/$1.r$ROUND.post.out ;;
    cairn) f=$LOGS/$1.r$ROUND.full.out ;;
    *) return 0 ;;
  esac
  grep -oE '"id"[[:space:]]*:[[:space:]]*"?[^",}[:space:]]+' "$f" | head -n 1 | sed -E 's/.*:[[:space:]]*"?//'
}

# tool_label TOOL backup|restore: the row label, as in peers.md ('|' escaped
# for Markdown tables).
tool_label() { tool_label_raw "$@" | sed 's/|/\\|/g'; }
tool_label_raw() {
  case "$1.$2" in
    tar-zstd.backup) echo '`tar -cf - | zstd -3 -T0` (incr.: `tar -g | zstd -3 -T0`)' ;;
    tar-zstd.restore) echo '`zstd -d | tar -x`' ;;
    tar.backup) echo '`tar -cf -` (no compression; incr.: `tar -g`)' ;;
    tar.restore) echo '`tar -x` (uncompressed)' ;;
    squashfs-zstd.backup) echo '`mksquashfs -comp zstd`' ;;
    squashfs-zstd.restore) echo '`unsquashfs` (zstd image)' ;;
    squashfs-lz4.backup) echo '`mksquashfs -comp lz4`' ;;
    squashfs-lz4.restore) echo '`unsquashfs` (lz4 image)' ;;
    restic.backup) echo "restic $(restic version 2>/dev/null | awk '{print $2}') (local repo, --no-cache)" ;;
    restic.restore) echo 'restic restore' ;;
    borg.backup) echo "borg $(borg --version 2>/dev/null | awk '{print $2}') zstd,3 (-e none)" ;;
    borg.restore) echo 'borg extract' ;;
    casync.backup) echo 'casync make' ;;
    casync.restore) echo 'casync extract' ;;
    cairn.backup) echo '**cairn** snapshot' ;;
    cairn.restore) echo '**cairn** restore' ;;
  esac
}

# ---- one measured round of one tool -------------------------------------------------
# step_untimed TOOL STEP: run a setup/post command, fail the round if it fails.
step_untimed() {
  local cmd
  cmd=$(tool_cmd "$1" "$2")
  [[ -n $cmd ]] || return 0
  ((ROUND > 1)) || printf '%s\t%s\t%s\n' "$1" "$2" "$cmd" >>"$CMDS"
  bench_run_timed "$LOGS/$1.r$ROUND.$2" "$cmd"
  if ((BENCH_RC != 0)); then
    step_failed "$1" "$2" "$cmd"
    return 1
  fi
}

# step_timed TOOL STEP: drop caches, run and time the command.
step_timed() {
  local cmd
  cmd=$(tool_cmd "$1" "$2")
  ((ROUND > 1)) || printf '%s\t%s\t%s\n' "$1" "$2" "$cmd" >>"$CMDS"
  bench_log "  $1 $2: $cmd"
  bench_drop_caches
  LOAD1=$(bench_load1)
  PSI=$(bench_pressure)
  bench_run_timed "$LOGS/$1.r$ROUND.$2" "$cmd"
  if ((BENCH_RC != 0)); then
    record "$ROUND" "$1" "$2" "$BENCH_WALL" "$BENCH_RSS_KIB" 0 0 "$BENCH_RC" "command failed"
    step_failed "$1" "$2" "$cmd"
    return 1
  fi
  bench_log "  $1 $2: ${BENCH_WALL}s, peak RSS $((BENCH_RSS_KIB / 1024)) MiB"
}

step_failed() {
  local err=$LOGS/$1.r$ROUND.$2.err
  bench_warn "$1 $2 failed (exit $BENCH_RC): $3"
  [[ -s $err ]] && tail -n 20 "$err" | sed 's/^/    /' >&2
  FAILED[$1]="round $ROUND, step $2 exited $BENCH_RC: $(grep -m1 -v '^[[:space:]]*$' "$err" 2>/dev/null | cut -c1-200)"
}

# check_tree DIR LISTING: "ok" or "MISMATCH (N lines differ)" (type/mode/size/path/link).
check_tree() {
  local n
  n=$(diff <(bench_tree_listing "$1") "$2" | grep -c '^[<>]' || true)
  if ((n == 0)); then echo ok; else echo "MISMATCH ($n lines differ)"; fi
}

# A round's two trees (the source copy and the restore) are moved aside, not deleted, until the run ends (the work
# dir goes then): a tree created right after another was deleted pays for ext4's scan of recently freed inodes
# (bench_retire in lib.sh). They are ~1.5 GB a round. The tool's own output is a few files: deleted at once.
retire_round_outputs() {
  bench_retire "$SRC" "$WORK/trash"
  bench_retire "$OUTDIR" "$WORK/trash"
  rm -rf "$D" "$WORK/borg"
}

run_tool_round() {
  local t=$1 stored stored_alloc after after_alloc note t0 t1 sync_s
  local -a store
  D=$WORK/$t
  SNAP_ID=
  retire_round_outputs
  mkdir -p "$D"
  bench_log "round $ROUND/$RUNS: $t"

  # Fresh working copy of ws (new inodes; mtimes preserved). Untimed.
  cp -a "$CORPUS/ws" "$SRC"

  step_untimed "$t" setup || return 1

  # 1. full snapshot
  step_timed "$t" full || return 1
  read -r -a store <<<"$(tool_store "$t")"
  stored=$(bench_bytes "${store[@]}")
  stored_alloc=$(bench_alloc_bytes "${store[@]}")
  record "$ROUND" "$t" full "$BENCH_WALL" "$BENCH_RSS_KIB" "$stored" "$stored_alloc" 0 ""
  step_untimed "$t" post || return 1
  SNAP_ID=$(tool_snapshot_id "$t")
  if [[ $t == restic || $t == cairn ]] && [[ -z $SNAP_ID ]]; then
    BENCH_RC=1
    step_failed "$t" full "could not find the snapshot id in its output"
    return 1
  fi

  # 2. incremental after the delta, applied in place (untimed, then checked)
  if [[ -n $(tool_cmd "$t" incr) ]]; then
    rsync -a --delete "$CORPUS/ws.$DELTA/" "$SRC/"
    ((ROUND > 1)) || printf '%s\t%s\t%s\n' "$t" delta "rsync -a --delete $(q "$CORPUS/ws.$DELTA")/ $(q "$SRC")/" >>"$CMDS"
    note=$(check_tree "$SRC" "$WORK/list.delta")
    [[ $note == ok ]] || bench_die "working copy differs from ws.$DELTA after rsync: $note"
    step_timed "$t" incr || return 1
    after=$(bench_bytes "${store[@]}")
    after_alloc=$(bench_alloc_bytes "${store[@]}")
    record "$ROUND" "$t" incr "$BENCH_WALL" "$BENCH_RSS_KIB" $((after - stored)) $((after_alloc - stored_alloc)) 0 ""
  fi

  # 3. restore the full snapshot into an empty directory, then time `sync`
  [[ $t == squashfs-* ]] || mkdir "$OUTDIR"
  step_timed "$t" restore || return 1
  local restore_wall=$BENCH_WALL restore_rss=$BENCH_RSS_KIB
  t0=${EPOCHREALTIME/./}
  sync
  t1=${EPOCHREALTIME/./}
  sync_s=$(bench_us_to_s $((t1 - t0)))
  note=$(check_tree "$OUTDIR" "$WORK/list.ws")
  if ((VERIFY_CONTENT)); then
    if diff -r --no-dereference "$CORPUS/ws" "$OUTDIR" >"$LOGS/$t.r$ROUND.diff" 2>&1; then
      note="$note; content ok"
    else
      note="$note; CONTENT DIFFERS"
    fi
  fi
  [[ $note == ok* ]] || bench_warn "$t restore check: $note"
  record "$ROUND" "$t" restore "$restore_wall" "$restore_rss" "$(bench_bytes "$OUTDIR")" 0 0 "$note"
  record "$ROUND" "$t" restore+sync "$(awk -v a="$restore_wall" -v b="$sync_s" 'BEGIN{printf "%.6f", a+b}')" "$restore_rss" 0 0 0 "$note"
  bench_log "  $t restore: ${restore_wall}s (+sync ${sync_s}s), check: $note"

  retire_round_outputs
}

# ---- the run ---------------------------------------------------------------------
RUN_TOOLS=()
for t in "${TOOL_LIST[@]}"; do [[ -n ${SKIP[$t]:-} ]] || RUN_TOOLS+=("$t"); done

START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
bench_log "corpus $CORPUS/ws, delta ws.$DELTA, runs $RUNS, tools: ${RUN_TOOLS[*]:-none}"
# Two trees of each round stay on disk until the end (retire_round_outputs), plus the largest output (tar's archive).
NEED_KB=$(( (RUNS * ${#RUN_TOOLS[@]} * 2 + 1) * $(du -sk "$CORPUS/ws" | cut -f1) ))
FREE_KB=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
((FREE_KB >= NEED_KB)) || bench_warn "the run needs about $((NEED_KB / 1048576)) GiB in $WORK, $((FREE_KB / 1048576)) GiB are free"
bench_log "results: $OUT, $RAW, $JSON"

# Reference listings (type, mode, size, path) to check the delta and restores.
bench_tree_listing "$CORPUS/ws" >"$WORK/list.ws"
bench_tree_listing "$CORPUS/ws.$DELTA" >"$WORK/list.delta"
WS_FILES=$(grep -c '^f ' "$WORK/list.ws")
WS_ENTRIES=$(wc -l <"$WORK/list.ws")
WS_BYTES=$(awk '$1 == "f" { s += $3 } END { printf "%d", s }' "$WORK/list.ws")

for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
  for t in "${RUN_TOOLS[@]}"; do
    [[ -z ${FAILED[$t]:-} ]] || continue
    run_tool_round "$t" || bench_warn "$t: round $ROUND failed; its later rounds are skipped"
  done
done
END_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')

# ---- summary ---------------------------------------------------------------------
# stats TOOL PHASE COLUMN -> "MEDIAN MIN MAX N" over the successful rounds.
col_index() { head -n 1 "$RAW" | tr '\t' '\n' | grep -nx "$1" | cut -d: -f1; }
stats() {
  local c
  c=$(col_index "$3")
  awk -F'\t' -v t="$1" -v p="$2" -v c="$c" 'NR > 1 && $2 == t && $3 == p && $9 == 0 { print $c }' "$RAW" | bench_stats
}

printf 'tool\tphase\tmetric\tmedian\tmin\tmax\tn\n' >"$SUMMARY"
for t in "${RUN_TOOLS[@]}"; do
  for p in full incr restore restore+sync; do
    for m in wall_s rss_kib bytes alloc_bytes; do
      read -r med min max n <<<"$(stats "$t" "$p" "$m")"
      ((n > 0)) && printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$p" "$m" "$med" "$min" "$max" "$n" >>"$SUMMARY"
    done
  done
done

# ratio TOOL PHASE METRIC REFTOOL REFPHASE -> "RATIO MIN MAX" where RATIO is the
# ratio of medians and MIN–MAX the range of the per-round ratios (same round).
ratio() {
  local c
  c=$(col_index "$3")
  awk -F'\t' -v t="$1" -v p="$2" -v c="$c" -v rt="$4" -v rp="$5" '
    NR > 1 && $9 == 0 && $2 == t && $3 == p { a[$1] = $c }
    NR > 1 && $9 == 0 && $2 == rt && $3 == rp { b[$1] = $c }
    END {
      n = 0
      for (r in a) if ((r in b) && b[r] > 0) { x[++n] = a[r] / b[r] }
      if (n == 0) { print "NA NA NA"; exit }
      mn = mx = x[1]; for (i = 2; i <= n; i++) { if (x[i] < mn) mn = x[i]; if (x[i] > mx) mx = x[i] }
      na = 0; for (r in a) va[++na] = a[r]; nb = 0; for (r in b) vb[++nb] = b[r]
      printf "%.6f %.6f %.6f\n", med(va, na) / med(vb, nb), mn, mx
    }
    function med(v, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }' "$RAW"
}

# Cairn's targets: name, phase, metric, reference tool, reference phase, target.
TARGETS=(
  "full-time full wall_s tar-zstd full 0.7"
  "stored-size full bytes tar-zstd full 1.0"
  "incremental-time incr wall_s tar incr 0.5"
  "restore-time restore wall_s squashfs-zstd restore 0.9"
)
printf 'tool\ttarget\tratio\tmin\tmax\tlimit\treference\n' >"$RATIOS"
for t in "${RUN_TOOLS[@]}"; do
  for spec in "${TARGETS[@]}"; do
    read -r name p m rt rp lim <<<"$spec"
    read -r r mn mx <<<"$(ratio "$t" "$p" "$m" "$rt" "$rp")"
    [[ $r == NA ]] || printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$name" "$r" "$mn" "$mx" "$lim" "$rt" >>"$RATIOS"
  done
done

# Markdown cells.
cell() { # TOOL PHASE METRIC DIVISOR
  local line
  line=$(awk -F'\t' -v t="$1" -v p="$2" -v m="$3" '$1 == t && $2 == p && $3 == m { print $4, $5, $6, $7 }' "$SUMMARY")
  [[ -n $line ]] || { printf '—'; return; }
  bench_cell "$line" "$4"
}
ratio_cell() { # TOOL TARGET
  local line r mn mx lim mark=
  line=$(awk -F'\t' -v t="$1" -v n="$2" '$1 == t && $2 == n { print $3, $4, $5, $6, $7 }' "$RATIOS")
  [[ -n $line ]] || { printf '—'; return; }
  read -r r mn mx lim ref <<<"$line"
  [[ $1 != "$ref" ]] || { printf '1 (reference)'; return; }
  if [[ $1 == cairn ]]; then
    mark=$(awk -v r="$r" -v l="$lim" 'BEGIN { print (r <= l) ? " ✓" : " ✗" }')
  fi
  # Two decimals, three when the rounded ratio would equal the limit.
  local f='%.2f'
  [[ $(printf '%.2f' "$r") != $(printf '%.2f' "$lim") ]] || f='%.3f'
  if [[ $(printf "$f" "$mn") == $(printf "$f" "$mx") ]]; then
    printf "$f%s" "$r" "$mark"
  else
    printf "$f ($f–$f)%s" "$r" "$mn" "$mx" "$mark"
  fi
}
checks() { # TOOL: restore check notes over rounds
  awk -F'\t' -v t="$1" 'NR > 1 && $2 == t && $3 == "restore" { print $10 }' "$RAW" | sort | uniq -c |
    awk '{ c = $1; $1 = ""; sub(/^ /, ""); printf "%s%s×%d", (NR > 1 ? ", " : ""), $0, c }'
}
load_note() { # load average and CPU pressure over the timed steps
  local l c
  l=$(awk -F'\t' 'NR > 1 && $3 != "restore+sync" { print $8 }' "$RAW" | bench_stats)
  c=$(awk -F'\t' 'NR > 1 && $3 != "restore+sync" { print $11 }' "$RAW" | bench_stats)
  printf '1-min load average %s' "$(bench_cell "$l")"
  [[ $c == NA* ]] || printf ', CPU pressure (PSI some avg10) %s %%' "$(bench_cell "$c")"
  printf ' (%s cores)' "$(nproc)"
}
version_of() {
  case "$1" in
    tar) tar --version | head -n 1 ;;
    tar-zstd) tar --version | head -n 1; zstd -V ;;
    squashfs-*) mksquashfs -version 2>&1 | head -n 1 ;;
    restic) restic version ;;
    borg) borg --version ;;
    casync) casync --version ;;
    cairn) "$CAIRN" --version 2>/dev/null | head -n 1 || echo "(no --version)" ;;
  esac
}

{
  echo "# Workspace benchmark: Cairn vs peers"
  echo
  echo "- run: $START_DATE → $END_DATE on $(hostname) ($(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)); load average at start: $START_LOAD"
  echo "- command: \`CAIRN=$CAIRN $CMDLINE\`"
  echo "- corpus: \`$CORPUS/ws\` ($(bench_fmt "$(bench_scale "$WS_BYTES" 1e6)") MB in $WS_FILES files, $WS_ENTRIES entries); incremental after \`ws.$DELTA\`"
  echo "- $RUNS run(s) per tool, interleaved; page cache dropped before every timed step; times are wall seconds, **median (min–max)**; sizes in MB (10^6 bytes, apparent size of the repo/archive); peak RSS in MiB (largest single process of the command)"
  echo "- machine load sampled before each timed step: $(load_note)"
  echo "- raw results: \`bench/results/$(basename "$RAW")\`, summary: \`bench/results/$(basename "$JSON")\`"
  for t in "${TOOL_LIST[@]}"; do
    [[ -z ${SKIP[$t]:-} ]] || echo "- **$t skipped**: ${SKIP[$t]}"
    [[ -z ${FAILED[$t]:-} ]] || echo "- **$t FAILED** in $(echo "${FAILED[$t]}" | sed 's/|/\\|/g')"
  done
  echo
  echo "## Workspace: snapshot / backup"
  echo "| tool | full s | stored MB | full peak RSS MiB | incremental s ($DELTA delta) | added MB | incr. peak RSS MiB |"
  echo "|---|---|---|---|---|---|---|"
  for t in "${RUN_TOOLS[@]}"; do
    if [[ -n $(tool_cmd "$t" incr) ]]; then
      inc="$(cell "$t" incr wall_s 1) | $(cell "$t" incr bytes 1e6) | $(cell "$t" incr rss_kib 1024)"
    else
      inc="(full rebuild) | — | —"
    fi
    echo "| $(tool_label "$t" backup) | $(cell "$t" full wall_s 1) | $(cell "$t" full bytes 1e6) | $(cell "$t" full rss_kib 1024) | $inc |"
  done
  echo
  echo "## Workspace: full restore into an empty directory"
  echo "| tool | s | + \`sync\` s | peak RSS MiB | tree check |"
  echo "|---|---|---|---|---|"
  for t in "${RUN_TOOLS[@]}"; do
    echo "| $(tool_label "$t" restore) | $(cell "$t" restore wall_s 1) | $(cell "$t" restore+sync wall_s 1) | $(cell "$t" restore rss_kib 1024) | $(checks "$t") |"
  done
  echo
  echo "## Ratios vs the reference peers (Cairn's targets)"
  echo "Ratio of medians (range of the per-round ratios); lower is better. Targets apply to Cairn; peer rows show where the peers stand."
  echo
  echo '| tool | full s ÷ `tar \| zstd -3 -T0` (target ≤ 0.7) | stored ÷ `tar \| zstd -3` archive (≤ 1.0) | incremental s ÷ `tar -g` (≤ 0.5) | restore s ÷ `unsquashfs` zstd (≤ 0.9) |'
  echo "|---|---|---|---|---|"
  for t in "${RUN_TOOLS[@]}"; do
    echo "| $(tool_label "$t" backup) | $(ratio_cell "$t" full-time) | $(ratio_cell "$t" stored-size) | $(ratio_cell "$t" incremental-time) | $(ratio_cell "$t" restore-time) |"
  done
  if [[ -n ${SKIP[cairn]:-} || " ${TOOL_LIST[*]} " != *" cairn "* ]]; then
    echo "| **cairn** | not measured | not measured | not measured | not measured |"
  fi
  echo
  echo "## Exact commands (round 1; paths as run, ids differ per round)"
  echo "Environment: \`$ENV_NOTE\`. Steps marked "untimed" are setup, not measured."
  echo
  for t in "${RUN_TOOLS[@]}"; do
    echo "- **$t** — $(version_of "$t" 2>/dev/null | paste -sd ';' | sed 's/;/; /g')"
    awk -F'\t' -v t="$t" '$1 == t { print $2 "\t" $3 }' "$CMDS" | while IFS=$'\t' read -r p c; do
      case $p in setup | post | delta) p="$p (untimed)" ;; esac
      echo "  - $p: $(bench_md_code "$c")"
    done
  done
} >"$OUT"

# JSON: meta, summary, ratios, commands (from the TSVs above).
tsv_to_json() { jq -R -s 'split("\n") | map(select(length > 0) | split("\t")) | .[0] as $h | .[1:] | map([$h, .] | transpose | map({(.[0]): (.[1] | tonumber? // .)}) | add)' "$1"; }
skips=$(for t in "${!SKIP[@]}"; do printf '%s\t%s\n' "$t" "${SKIP[$t]}"; done)
fails=$(for t in "${!FAILED[@]}"; do printf '%s\t%s\n' "$t" "${FAILED[$t]}"; done)
jq -n \
  --arg start "$START_DATE" --arg finish "$END_DATE" --arg cmd "$CMDLINE" --arg cairn "$CAIRN" \
  --arg corpus "$CORPUS/ws" --arg delta "$DELTA" --argjson runs "$RUNS" --arg host "$(hostname)" \
  --arg load "$START_LOAD" --arg env "$ENV_NOTE" --arg skips "$skips" --arg fails "$fails" \
  --argjson summary "$(tsv_to_json "$SUMMARY")" --argjson ratios "$(tsv_to_json "$RATIOS")" \
  --argjson commands "$( (printf 'tool\tstep\tcommand\n'; cat "$CMDS") >"$WORK/c.tsv"; tsv_to_json "$WORK/c.tsv")" \
  '{"benchmark": "workspace", "start": $start, "finish": $finish, "command": $cmd, "cairn": $cairn,
    "host": $host, "load_at_start": $load, "corpus": $corpus, "delta": $delta, "runs": $runs,
    "environment": $env,
    "units": {"wall_s": "s", "rss_kib": "KiB (peak, largest process)", "bytes": "apparent bytes",
              "alloc_bytes": "allocated bytes"},
    "skipped": ($skips | split("\n") | map(select(length > 0) | split("\t") | {(.[0]): .[1]}) | add // {}),
    "failed": ($fails | split("\n") | map(select(length > 0) | split("\t") | {(.[0]): .[1]}) | add // {}),
    "summary": $summary, "ratios": $ratios, "commands": $commands}' >"$JSON"

cat "$OUT"
bench_log "wrote $OUT, $RAW, $JSON"
