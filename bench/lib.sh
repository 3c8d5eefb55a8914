# bench/lib.sh — helpers shared by Cairn's benchmark scripts.
#
# Source it from a bash script that runs with `set -euo pipefail`:
#     . "$(dirname "$0")/lib.sh"
#
# Conventions used by every script that sources this file:
#   * wall times are in seconds (float, µs resolution, from $EPOCHREALTIME);
#   * peak RSS is GNU time's %M in KiB: the high-water RSS of the LARGEST single
#     process of the command (for a pipeline `a | b` it is max(a, b), not a+b);
#   * sizes are apparent bytes (`du -sb`); allocated bytes are kept alongside;
#   * every timed step is preceded by bench_drop_caches (cold page cache).

# Numbers must print with a '.' whatever the caller's locale.
export LC_ALL=C

BENCH_TIME_BIN=${BENCH_TIME_BIN:-/usr/bin/time}

bench_log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
bench_warn() { printf '[bench %(%H:%M:%S)T] WARNING: %s\n' -1 "$*" >&2; }
bench_die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# bench_wait_for PATH [SECONDS]: returns once stat(PATH) succeeds (a mount answering a lookup), polling about every
# millisecond with shell builtins only; fails after SECONDS (default 60). A poll of `stat PATH; sleep 0.001` starts two
# processes a millisecond, which takes most of a core from the tool being timed: on this 2-core machine that poller
# made `cairn mount` answer 11 ms later (0.054 s against 0.043 s) and squashfuse_ll 6 ms later (0.017 against 0.011),
# medians of 7 alternating rounds (docs/benchmarks.md, "The poller").
# A pipe this shell holds both ends of never has data: `read -t` on it is a builtin sleep. Opened here, when the
# script sources this file, so that no timed step pays for it.
exec {BENCH_TICK_FD}<> <(:)
bench_wait_for() {
  local path=$1 deadline=$((SECONDS + ${2:-60}))
  until [[ -e $path ]]; do
    ((SECONDS < deadline)) || return 1
    read -r -t 0.001 -u "$BENCH_TICK_FD" _ || true
  done
}

# bench_require_root: dropping the page cache needs root.
bench_require_root() {
  [[ $(id -u) -eq 0 ]] || bench_die "must run as root (needed to drop the page cache)"
}

# bench_require_cmds CMD...: fail early when a required program is missing.
bench_require_cmds() {
  local c missing=()
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
  ((${#missing[@]} == 0)) || bench_die "missing programs: ${missing[*]}"
  # GNU time (not the shell keyword) is what reports peak RSS.
  "$BENCH_TIME_BIN" -f '%M' true 2>/dev/null >/dev/null ||
    bench_die "$BENCH_TIME_BIN is not GNU time (apt-get install time)"
}

# The loopback S3 server (scripts/s3-server.sh). bench_s3_up starts it if it is down (and only then does
# bench_s3_down stop it again, by its PIDs), exports its AWS_* settings, and sets BENCH_S3_ENDPOINT and BENCH_S3_BUCKET.
BENCH_S3_SERVER="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/s3-server.sh"
BENCH_S3_STARTED=0
bench_s3_up() {
  if ! "$BENCH_S3_SERVER" status >/dev/null; then
    "$BENCH_S3_SERVER" start >&2
    BENCH_S3_STARTED=1
  fi
  eval "$("$BENCH_S3_SERVER" env)"
  BENCH_S3_ENDPOINT=$AWS_ENDPOINT_URL_S3
  BENCH_S3_BUCKET=${CAIRN_S3_URI#s3://}
  BENCH_S3_BUCKET=${BENCH_S3_BUCKET%%/*}
}
bench_s3_down() {
  if ((BENCH_S3_STARTED)); then
    "$BENCH_S3_SERVER" stop >&2
    BENCH_S3_STARTED=0
  fi
}

# bench_lock: take the machine-wide benchmark lock (fd 9) for the rest of the
# script, waiting while another benchmark holds it. Dropping the page cache is
# global, so two benchmarks running at once spoil each other's cold-cache
# timings; they must run one after the other.
BENCH_LOCK_FILE=${BENCH_LOCK_FILE:-/var/tmp/cairn-bench.lock}
bench_lock() {
  exec 9>>"$BENCH_LOCK_FILE"
  if ! flock -n 9; then
    bench_log "another benchmark holds $BENCH_LOCK_FILE; waiting for it to finish"
    flock 9
  fi
}

# bench_settle: after a clean-up that deleted much (a frame cache, a restored tree), wait until the disks have had no
# request in flight for 0.3 s (10 s at most). On a file system mounted with `discard` a big deletion keeps the disk
# busy for seconds after `rm` returns, and that time would fall on the next timed step, whichever tool's it is.
bench_settle() {
  sync
  local quiet=0 deadline=$((SECONDS + 10)) f r w busy
  while ((quiet < 3 && SECONDS < deadline)); do
    busy=0
    for f in /sys/block/*/inflight; do
      read -r r w <"$f"
      if ((r + w > 0)); then busy=1; fi
    done
    if ((busy)); then quiet=0; else quiet=$((quiet + 1)); fi
    sleep 0.1
  done
}

# bench_warm_host PATH...: reads each file (each file under a directory) once, past this machine's page cache
# (O_DIRECT), and untimed. On a VM the host caches the virtual disk too, and dropping the guest's page cache leaves
# that cache alone: the first tool to read a file the host has evicted waits for the host's disk (measured: 72 MB/s
# for an image untouched for a day, then 520 MB/s on the next read, the guest's cache dropped both times). Without
# this, that wait falls on whichever tool a round runs first.
bench_warm_host() {
  local f
  find "$@" -type f -print0 | while IFS= read -r -d '' f; do
    dd if="$f" of=/dev/null bs=4M iflag=direct status=none 2>/dev/null || cat "$f" >/dev/null
  done
}

# bench_drop_caches: write back dirty data, then drop page cache, dentries and
# inodes, so the next step starts cold. The sync is NOT part of any timing.
bench_drop_caches() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
}

# bench_retire DIR TRASH: moves DIR (if it exists) into the directory TRASH, which the caller deletes when the run
# ends, instead of deleting DIR now. Why: ext4 without a journal (this machine's root filesystem) does not reuse an
# inode freed less than 60 s ago (300 s while its inode-table block is dirty) and scans past every such inode when it
# allocates one, so a step that creates a tree right after another tree was deleted measures that scan: a ws restore
# (43k inodes) took 2.1-2.3 s right after an `rm -rf` of another ws tree, 1.4 s on a filesystem without recent
# deletions (2.6-2.9 against 1.25 s of system time, spent in ext4's inode allocator).
bench_retire() {
  [[ -e $1 ]] || return 0
  mkdir -p "$2"
  mv "$1" "$(mktemp -u "$2/retired.XXXXXX")"
}

# bench_load1: the 1-minute load average (recorded next to each measurement,
# so a noisy neighbour shows up in the raw results).
bench_load1() { local l _; read -r l _ </proc/loadavg; printf '%s' "$l"; }

# bench_pressure: "CPU IO" — the share (%) of the last 10 s in which some task
# waited for CPU / for I/O (Linux PSI "some avg10"); "NA NA" without PSI.
bench_pressure() {
  local r k c=NA i=NA
  for r in cpu io; do
    [[ -r /proc/pressure/$r ]] || continue
    k=$(awk '/^some/ { sub("avg10=", "", $2); print $2 }' "/proc/pressure/$r")
    if [[ $r == cpu ]]; then c=$k; else i=$k; fi
  done
  printf '%s %s' "$c" "$i"
}

# bench_us_to_s MICROSECONDS -> "S.UUUUUU"
bench_us_to_s() { printf '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000)); }

# bench_run_timed PREFIX CMD
#   Runs the bash command string CMD (stdin from /dev/null, stdout to
#   PREFIX.out, stderr to PREFIX.err) under GNU time. Sets:
#     BENCH_WALL     wall seconds
#     BENCH_RSS_KIB  peak RSS (KiB) of the largest process of CMD
#     BENCH_RC       exit status of CMD
#   Never fails itself: callers check BENCH_RC.
#   Note: CMD runs under `bash -c`, so ~4 MiB (bash itself) is an RSS floor.
bench_run_timed() {
  local prefix=$1 cmd=$2 t0 t1
  t0=${EPOCHREALTIME/./}
  "$BENCH_TIME_BIN" -f '%M' -o "$prefix.time" bash -c "$cmd" \
    </dev/null >"$prefix.out" 2>"$prefix.err" && BENCH_RC=0 || BENCH_RC=$?
  t1=${EPOCHREALTIME/./}
  BENCH_WALL=$(bench_us_to_s $((t1 - t0)))
  # GNU time prefixes a "Command exited with non-zero status" line on failure.
  BENCH_RSS_KIB=$(tail -n 1 "$prefix.time" 2>/dev/null || echo 0)
  [[ $BENCH_RSS_KIB =~ ^[0-9]+$ ]] || BENCH_RSS_KIB=0
}

# bench_cold_timed PREFIX CMD: bench_drop_caches, then bench_run_timed.
bench_cold_timed() {
  bench_drop_caches
  bench_run_timed "$@"
}

# bench_stats: reads numbers (one per line) on stdin and prints
# "MEDIAN MIN MAX N" (median of an even count = mean of the middle two);
# "NA NA NA 0" when there is no number.
bench_stats() {
  grep -E '^-?[0-9.]+([eE][-+]?[0-9]+)?$' | sort -g | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "NA NA NA 0"; exit }
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.6f %.6f %.6f %d\n", m, v[1], v[NR], NR
    }'
}

# bench_bytes PATH...: apparent size in bytes (sum over paths; missing = 0).
bench_bytes() {
  local p total=0 b
  for p in "$@"; do
    [[ -e $p ]] || continue
    b=$(du -sb -- "$p" | cut -f1)
    total=$((total + b))
  done
  printf '%d' "$total"
}

# bench_alloc_bytes PATH...: allocated (on-disk block) size in bytes.
bench_alloc_bytes() {
  local p total=0 b
  for p in "$@"; do
    [[ -e $p ]] || continue
    b=$(du -s --block-size=1 -- "$p" | cut -f1)
    total=$((total + b))
  done
  printf '%d' "$total"
}

# bench_tree_listing DIR: one sorted line per entry below DIR with type, mode,
# size (regular files), symlink target and relative path. Comparing two
# listings checks a restore without reading file contents.
bench_tree_listing() {
  (cd "$1" && find . -mindepth 1 \
    \( -type d -printf 'd %m %P\n' \) -o \
    \( -type f -printf 'f %m %s %P\n' \) -o \
    \( -type l -printf 'l %P -> %l\n' \) -o \
    -printf '%y %m %P\n') | sort
}

# Formatting -----------------------------------------------------------------

# bench_fmt NUMBER: about three significant digits, like the tables in
# /work/shared/peers.md (0.021, 4.74, 41.0, 794). "NA" passes through.
bench_fmt() {
  awk -v v="$1" 'BEGIN {
    if (v == "NA" || v == "") { print "—"; exit }
    a = (v < 0) ? -v : v
    if (a < 1) printf "%.3f\n", v
    else if (a < 10) printf "%.2f\n", v
    else if (a < 100) printf "%.1f\n", v
    else printf "%.0f\n", v
  }'
}

# bench_scale NUMBER DIVISOR: NUMBER / DIVISOR (NA passes through).
bench_scale() {
  awk -v v="$1" -v d="$2" 'BEGIN { if (v == "NA" || v == "") print "NA"; else printf "%.6f\n", v / d }'
}

# bench_cell "MEDIAN MIN MAX N" [DIVISOR]: "median (min–max)" for a table
# cell, values divided by DIVISOR (default 1); just the median when N < 2.
bench_cell() {
  local med min max n d=${2:-1}
  read -r med min max n <<<"$1"
  [[ $n == 0 || $med == NA ]] && { printf '—'; return; }
  med=$(bench_fmt "$(bench_scale "$med" "$d")")
  if ((n < 2)); then printf '%s' "$med"; return; fi
  min=$(bench_fmt "$(bench_scale "$min" "$d")")
  max=$(bench_fmt "$(bench_scale "$max" "$d")")
  if [[ $min == "$max" ]]; then printf '%s' "$med"; else printf '%s (%s–%s)' "$med" "$min" "$max"; fi
}

# bench_md_code TEXT: TEXT as inline Markdown code, safe inside a table cell.
bench_md_code() { local s=${1//|/\\|}; printf '`%s`' "$s"; }
