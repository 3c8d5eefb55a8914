#!/usr/bin/env bash
# scripts/s3-server.sh - run a real S3-compatible server on 127.0.0.1 for Cairn's
# S3 tests and benchmarks.
#
# The server is Ceph RADOS Gateway (radosgw 16.2, Debian 12 packages) on a
# one-node Ceph cluster that lives entirely in a state directory:
#   1 monitor + 1 OSD (BlueStore on a sparse file, or MemStore in RAM),
#   no manager, cephx off, a single replica. radosgw still enforces SigV4,
#   so clients need the access/secret key printed by `env`.
#
# Usage: scripts/s3-server.sh COMMAND
#   start    install packages if missing (apt-get, needs root), create the
#            cluster on first run, start it, wait until a signed S3 request
#            succeeds and create the bucket. Idempotent.
#   stop     stop the daemons this script started, by the PIDs it recorded.
#   status   print "up ENDPOINT" (exit 0) or "down ENDPOINT" (exit 3).
#   env      print shell exports for clients: eval "$(scripts/s3-server.sh env)"
#   wipe     stop, then delete the state directory.
#   install  only install the packages.
#
# Settings (environment):
#   CAIRN_S3_STATE    state directory           /var/tmp/cairn-s3 (not tmpfs with bluestore)
#   CAIRN_S3_PORT     S3 port; the monitor uses PORT+1, the OSD PORT+2..PORT+40   19400
#   CAIRN_S3_BUCKET   bucket created on start   cairn-test
#   CAIRN_S3_BACKEND  bluestore (on disk) | memstore (RAM, emptied by stop)   bluestore
#   CAIRN_S3_SIZE_GB  OSD capacity              16
#   CAIRN_S3_START_TIMEOUT  seconds to wait for the gateway   120
# Works without a terminal or stdin (CI, test fixtures).
set -Eeuo pipefail

STATE="${CAIRN_S3_STATE:-/var/tmp/cairn-s3}"
HOST=127.0.0.1                                   # loopback only, on purpose
PORT="${CAIRN_S3_PORT:-19400}"
BUCKET="${CAIRN_S3_BUCKET:-cairn-test}"
BACKEND="${CAIRN_S3_BACKEND:-bluestore}"
SIZE_GB="${CAIRN_S3_SIZE_GB:-16}"
START_TIMEOUT="${CAIRN_S3_START_TIMEOUT:-120}"
ACCESS_KEY=cairn-test-access-key                 # test credentials, loopback only
SECRET_KEY=cairn-test-secret-key-0123456789
REGION=us-east-1                                 # radosgw does not check it
RGW_UID=cairn-test

MON_PORT=$((PORT + 1))
ENDPOINT="http://$HOST:$PORT"
CONF="$STATE/ceph.conf"; RUN="$STATE/run"; LOG="$STATE/log"
PACKAGES=(ceph-mon ceph-osd radosgw ceph-common python3)
DAEMONS=(mon osd rgw)                            # start order; stop is the reverse
PY=/usr/bin/python3                              # the system one, not a pyenv shim
# `ceph` and `radosgw-admin` can block forever on an unhealthy cluster: bound them.
CEPH=(timeout 20 ceph -c "$CONF" --connect-timeout 5)
RGW_ADMIN=(timeout 120 radosgw-admin -c "$CONF")

T0=$SECONDS
log() { echo "s3-server: [$((SECONDS - T0))s] $*" >&2; }
die() { echo "s3-server: error: $*" >&2; exit 1; }

check_settings() {
  if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1024 || PORT > 65000)); then die "CAIRN_S3_PORT must be 1024..65000"; fi
  [[ $BUCKET =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || die "CAIRN_S3_BUCKET is not a valid bucket name"
  [[ $BACKEND == bluestore || $BACKEND == memstore ]] || die "CAIRN_S3_BACKEND must be bluestore or memstore"
  [[ $SIZE_GB =~ ^[0-9]+$ ]] || die "CAIRN_S3_SIZE_GB must be a number"
  [[ $STATE == /?* ]] || die "CAIRN_S3_STATE must be an absolute path"
  # Ceph puts unix sockets in $STATE/run; sun_path holds 108 bytes.
  ((${#STATE} <= 70)) || die "CAIRN_S3_STATE is too long (unix socket paths)"
}

# ---------------------------------------------------------------- packages

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || printf '%s ' "$p"
  done
}

cmd_install() {
  local missing; missing="$(missing_packages)"
  [[ -z $missing ]] && return 0
  ((EUID == 0)) || die "packages missing ($missing): run '$0 install' as root"
  log "installing $missing(takes a few minutes)"
  export DEBIAN_FRONTEND=noninteractive
  # A policy-rc.d that says "no" keeps the packages from starting system-wide
  # ceph daemons: we run our own, from the state directory.
  local policy=/usr/sbin/policy-rc.d added=0 aptlog="${TMPDIR:-/tmp}/cairn-s3-apt.log"
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; added=1; fi
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -y --no-install-recommends)
  # shellcheck disable=SC2086  # $missing is a word list
  if ! { "${apt[@]}" install $missing || { apt-get -o DPkg::Lock::Timeout=600 update && "${apt[@]}" install $missing; }; } \
      </dev/null >"$aptlog" 2>&1; then
    ((added)) && rm -f "$policy"
    tail -n 20 "$aptlog" >&2
    die "apt-get failed (log: $aptlog)"
  fi
  ((added)) && rm -f "$policy"
  [[ -z "$(missing_packages)" ]] || die "packages still missing after apt-get: $(missing_packages)"
}

# ---------------------------------------------------------------- ceph.conf

write_conf() {
  mkdir -p "$STATE/mon" "$STATE/osd" "$STATE/rgw" "$STATE/crash" "$RUN" "$LOG"
  [[ -s $STATE/fsid ]] || "$PY" -c 'import uuid; print(uuid.uuid4())' >"$STATE/fsid"
  local bytes=$((SIZE_GB * 1024 * 1024 * 1024))
  # \$name, \$id and \$channel are ceph's own metavariables, not bash's.
  cat >"$CONF" <<EOF
# Written by scripts/s3-server.sh on every start; edits are lost.
[global]
fsid = $(<"$STATE/fsid")
mon_host = v1:$HOST:$MON_PORT
public_addr = $HOST
cluster_addr = $HOST
ms_bind_msgr2 = false
ms_bind_port_min = $((PORT + 2))
ms_bind_port_max = $((PORT + 40))
# No cephx between daemons: loopback only. radosgw still checks S3 signatures.
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
keyring = $STATE/keyring
run_dir = $RUN
admin_socket = $RUN/\$name.asok
log_file = $LOG/\$name.log
crash_dir = $STATE/crash
mon_cluster_log_file = default=$LOG/ceph.\$channel.log cluster=$LOG/ceph.log
# One OSD, one copy, few placement groups.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
mon_data_avail_crit = 1
# Propose map changes every 0.1 s instead of 1 s: a fresh start takes ~8 s, not ~19 s.
paxos_propose_interval = 0.1
[mon]
mon_data = $STATE/mon/\$id
[osd]
osd_data = $STATE/osd/\$id
osd_objectstore = $BACKEND
bluestore_block_path = $STATE/osd/\$id.block
bluestore_block_size = $bytes
bluestore_block_create = true
bluestore_block_db_create = false
bluestore_block_wal_create = false
bluestore_fsck_on_mount = false
memstore_device_bytes = $bytes
osd_memory_target = 1073741824
# This script places the OSD in the CRUSH map once; the start-up updates
# intermittently fail on a brand-new cluster ("wrong fsid").
osd_crush_update_on_start = false
osd_class_update_on_start = false
[client.rgw.local]
# tcp_nodelay: without it a small response body sent after its headers waits
# for the client's delayed ACK (up to 40 ms on Linux): measured as ~45 ms on
# each small GET (a tag, a snapshot record) of a mount's start. S3 itself and
# most S3-compatible servers send without Nagle's delay.
rgw_frontends = beast endpoint=$HOST:$PORT tcp_nodelay=1
rgw_data = $STATE/rgw
rgw_thread_pool_size = 128
rgw_enable_usage_log = false
rgw_enable_ops_log = false
# Reclaim the space of deleted objects after ~1 min instead of 2 h.
rgw_gc_obj_min_wait = 60
rgw_gc_processor_period = 60
EOF
}

# ---------------------------------------------------------------- processes
# Each daemon runs in the foreground (-f) in its own session; its PID goes to
# $RUN/NAME.pid. A PID only counts as ours while /proc/PID/exe is still the
# binary we started, so a recycled PID is never signalled.

binary_of() { case $1 in mon) echo ceph-mon ;; osd) echo ceph-osd ;; rgw) echo radosgw ;; esac; }
pidfile() { echo "$RUN/$1.pid"; }

our_pid() { # NAME -> prints the PID if that daemon is running, else fails
  local f pid exe; f="$(pidfile "$1")"
  [[ -f $f ]] || return 1
  pid="$(<"$f")"
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  # exe needs the owner's rights; comm (the name, max. 15 characters) is readable by everyone.
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || cat "/proc/$pid/comm" 2>/dev/null)" || return 1
  [[ ${exe##*/} == "$(binary_of "$1")" ]] || return 1
  echo "$pid"
}
running() { our_pid "$1" >/dev/null; }

launch() { # NAME COMMAND...
  local name=$1 pid i; shift
  running "$name" && return 0
  # No stdin, output to a log, the lock fd (9) not inherited.
  setsid "$@" </dev/null >>"$LOG/$name.out" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$(pidfile "$name")"
  # The forked shell execs setsid, which execs the daemon in place. Until then the process is not yet the daemon and
  # `running` says no: a start that checked too soon took a daemon that was starting for one that had exited, started
  # a second one (which failed on the first one's lock) and left the first running with no PID file. Wait until the
  # process is the daemon or has exited (2 s at most).
  for ((i = 0; i < 100; i++)); do
    [[ -e /proc/$pid && "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$(binary_of "$name")" ]] || break
    sleep 0.02
  done
}

stop_daemon() { # NAME: TERM, wait up to 30 s (the OSD flushes), then KILL
  local name=$1 pid i
  if pid="$(our_pid "$name")"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name ($pid) ignored SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name ($pid)"
  fi
  rm -f "$(pidfile "$name")"
}

cmd_stop() {
  local i
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do stop_daemon "${DAEMONS[i]}"; done
}

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_for() { # SECONDS DESCRIPTION COMMAND... ; fails fast if a daemon died
  local seconds=$1 what=$2 d; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    for d in "${DAEMONS[@]}"; do
      if [[ -f $(pidfile "$d") ]] && ! running "$d"; then
        tail -n 15 "$LOG/$d.out" >&2 || true
        die "$d exited while waiting for $what (logs: $LOG)"
      fi
    done
    ((SECONDS < deadline)) || die "timed out waiting for $what (logs: $LOG)"
    sleep 0.2
  done
}

# ---------------------------------------------------------------- S3 probe
# A minimal SigV4 client (python3 standard library) for the readiness probe
# and bucket creation, so the script needs no S3 CLI.
s3_request() { # METHOD PATH -> prints the HTTP status (000 = no connection)
  "$PY" -I - "$1" "$2" "$HOST" "$PORT" "$ACCESS_KEY" "$SECRET_KEY" "$REGION" <<'PY'
import datetime, hashlib, hmac, http.client, sys, urllib.parse
method, path, host, port, access, secret, region = sys.argv[1:8]
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
day = now[:8]
headers = {"host": f"{host}:{port}", "x-amz-date": now,
           "x-amz-content-sha256": hashlib.sha256(b"").hexdigest()}
signed = ";".join(sorted(headers))
canonical = "\n".join([method, urllib.parse.quote(path), "",
                       "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
                       signed, headers["x-amz-content-sha256"]])
scope = f"{day}/{region}/s3/aws4_request"
to_sign = "\n".join(["AWS4-HMAC-SHA256", now, scope, hashlib.sha256(canonical.encode()).hexdigest()])
key = ("AWS4" + secret).encode()
for part in (day, region, "s3", "aws4_request"):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
headers["Authorization"] = f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={signature}"
try:
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    print(response.status)
    if response.status >= 300:
        sys.stderr.write(body.decode(errors="replace")[:400] + "\n")
except OSError:
    print("000")
PY
}
s3_up() { [[ -x $PY && "$(s3_request GET / 2>/dev/null)" == 200 ]]; }

ensure_user() { # the S3 user with exactly our key pair; idempotent
  local info
  if info="$("${RGW_ADMIN[@]}" user info --uid="$RGW_UID" 2>/dev/null)"; then
    printf '%s' "$info" | grep -q "\"access_key\": \"$ACCESS_KEY\"" && return 0
    "${RGW_ADMIN[@]}" key create --uid="$RGW_UID" --key-type=s3 \
      --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >>"$LOG/admin.out" 2>&1 \
      || die "radosgw-admin key create failed (log: $LOG/admin.out)"
  else
    "${RGW_ADMIN[@]}" user create --uid="$RGW_UID" --display-name="Cairn tests" \
      --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >>"$LOG/admin.out" 2>&1 \
      || die "radosgw-admin user create failed (log: $LOG/admin.out)"
  fi
}

ensure_bucket() {
  [[ "$(s3_request HEAD "/$BUCKET" 2>/dev/null)" == 200 ]] && return 0
  local code; code="$(s3_request PUT "/$BUCKET")"
  [[ $code == 200 ]] || die "could not create bucket $BUCKET (HTTP $code)"
}

# ---------------------------------------------------------------- start

create_monitor() { # once: its address is baked into the monmap
  if [[ -f $STATE/mon/a/created && "$(<"$STATE/mon/a/created")" != "$MON_PORT" ]]; then
    die "$STATE was created for CAIRN_S3_PORT=$(($(<"$STATE/mon/a/created") - 1)); use that port, another CAIRN_S3_STATE, or '$0 wipe'"
  fi
  [[ -f $STATE/mon/a/created ]] && return 0
  rm -rf "$STATE/mon/a"; mkdir -p "$STATE/mon/a"
  ceph-authtool --create-keyring --gen-key --name=mon. --cap mon 'allow *' "$STATE/keyring" >/dev/null
  monmaptool --create --clobber --fsid "$(<"$STATE/fsid")" --addv a "[v1:$HOST:$MON_PORT]" "$STATE/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$STATE/monmap" --keyring "$STATE/keyring" >>"$LOG/mkfs.out" 2>&1 \
    || die "ceph-mon --mkfs failed (log: $LOG/mkfs.out)"
  echo "$MON_PORT" >"$STATE/mon/a/created"
}

create_osd() { # once
  [[ -f $STATE/osd/0/created ]] && return 0
  rm -rf "$STATE/osd/0" "$STATE/osd/0.block"; mkdir -p "$STATE/osd/0"
  local uuid; uuid="$("$PY" -c 'import uuid; print(uuid.uuid4())')"
  [[ "$("${CEPH[@]}" osd new "$uuid" 2>>"$LOG/mkfs.out")" == 0 ]] || die "'ceph osd new' did not return id 0 (try '$0 wipe')"
  "${CEPH[@]}" osd crush add osd.0 1.0 root=default host=localhost >>"$LOG/mkfs.out" 2>&1 || die "'ceph osd crush add' failed"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$uuid" >>"$LOG/mkfs.out" 2>&1 \
    || die "ceph-osd --mkfs failed (log: $LOG/mkfs.out; on tmpfs use CAIRN_S3_BACKEND=memstore)"
  touch "$STATE/osd/0/created"
}

osd_up() { "${CEPH[@]}" osd dump 2>/dev/null | grep -q '^osd\.0 up'; }

start_osd() { # the first boot right after mkfs occasionally exits: retry
  local attempt deadline
  for attempt in 1 2 3; do
    launch osd ceph-osd -c "$CONF" -f -i 0
    deadline=$((SECONDS + 60))
    while running osd && ! osd_up; do
      ((SECONDS < deadline)) || die "timed out waiting for osd.0 (logs: $LOG)"
      sleep 0.2
    done
    running osd && return 0
    log "ceph-osd exited during start-up (attempt $attempt), retrying"
    rm -f "$(pidfile osd)"; sleep 1
  done
  tail -n 15 "$LOG/osd.out" >&2 || true
  die "ceph-osd keeps exiting (logs: $LOG)"
}

cmd_start() {
  [[ -n "$(missing_packages)" ]] && cmd_install
  if running rgw && s3_up; then
    ensure_bucket
    log "already running: $ENDPOINT"
    return 0
  fi
  cmd_stop                                       # leftovers of a half-started run
  trap 'log "start failed, stopping what was started"; cmd_stop' EXIT
  local p
  for p in "$PORT" "$MON_PORT"; do
    port_in_use "$p" && die "port $p on $HOST is in use (another server? set CAIRN_S3_PORT)"
  done
  # MemStore loses its objects on stop, but the monitor would remember the
  # pools: start such a cluster from scratch every time.
  [[ $BACKEND == memstore ]] && rm -rf -- "$STATE/mon" "$STATE/osd" "$STATE/fsid" "$STATE/keyring"
  write_conf
  export CEPH_CONF="$CONF"

  create_monitor
  launch mon ceph-mon -c "$CONF" -f -i a
  wait_for 30 "ceph-mon" "${CEPH[@]}" mon stat
  log "monitor up"

  create_osd
  start_osd
  log "osd up"

  ensure_user                                    # the first run also creates the rgw pools (~10 s)
  launch rgw radosgw -c "$CONF" -f -n client.rgw.local
  wait_for "$START_TIMEOUT" "a signed S3 request to $ENDPOINT" s3_up
  ensure_bucket
  trap - EXIT
  log "ready: $ENDPOINT bucket $BUCKET (pids: mon $(our_pid mon), osd $(our_pid osd), rgw $(our_pid rgw))"
}

# ---------------------------------------------------------------- the rest

cmd_status() {
  if running rgw && s3_up; then echo "up $ENDPOINT"; return 0; fi
  echo "down $ENDPOINT"; return 3
}

cmd_env() {
  cat <<EOF
export CAIRN_S3_URI=s3://$BUCKET/
export AWS_ENDPOINT_URL_S3=$ENDPOINT
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=$REGION
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required
export AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
EOF
}

cmd_wipe() {
  cmd_stop
  [[ -d $STATE ]] || return 0
  # Only delete a directory that looks like ours (or holds nothing but our lock file).
  if [[ ! -f $CONF && -n "$(find "$STATE" -mindepth 1 -maxdepth 1 ! -name .lock -print -quit)" ]]; then
    die "$STATE does not look like a cairn-s3 state directory; not deleting it"
  fi
  rm -rf -- "$STATE"
  log "deleted $STATE"
}

take_lock() { # one start/stop/wipe at a time per state directory
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w 600 9 || die "$STATE is busy (another s3-server.sh)"
}

check_settings
case "${1:-}" in
  start)   take_lock; cmd_start ;;
  stop)    take_lock; cmd_stop ;;
  wipe)    take_lock; cmd_wipe ;;
  install) cmd_install ;;
  status)  cmd_status ;;
  env)     cmd_env ;;
  *) echo "usage: $0 start|stop|status|env|wipe|install" >&2; exit 2 ;;
esac
