#!/usr/bin/env bash
# bench/images.sh — VM image snapshots: Cairn against restic, borg (zstd,3 and lz4) and `cp --sparse=always`.
#
#   bench/images.sh [SECTION...]        SECTION: images, chain, blocksize, reflink, lineage (default: the first four)
#
# images     For rootfs.ext4 -> rootfs2.ext4 and mem.img -> mem2.img, per tool and run, in a fresh repository:
#            a full snapshot of the first image, a diff snapshot of the second on top, a restore of the second into
#            an empty directory; `cp --sparse=always` of the second is the restore peer. Stored bytes are `du -sb`
#            of the repository after each snapshot.
# chain      A 10-deep lineage of a memory image: generation 0 is mem.img, each next one replaces CHAIN_RUNS random
#            runs of 1-64 blocks with real memory pages (taken from mem2.img). Restore time of every depth; of the
#            deepest image snapshotted alone in a fresh repository (same bytes, no parent); of the deepest image as a
#            depth-1 descendant (depth1-same: generation 8 snapshotted alone in another repository, then generation 9 as
#            its child: the same bytes and the same last change as depth 10, so only the depth differs); of the
#            deepest with --reflink-from a restore of its parent; and, last, of the deepest after a snapshot of it with
#            --relayout (every block stored again in fresh frames). Restores go to a loop-mounted XFS.
#            Per depth also the bytes of the frames a restore would decompress whole and the bytes it will decompress
#            (segmented frames: only the segments it needs), against the bytes it needs (cairn inspect), and the bytes it
#            did decompress (restore --json).
# lineage    The chain's workload carried on for LINEAGE_GENERATIONS (22) generations, once per --relayout-above bound in
#            LINEAGE_BOUNDS ("5 off"): per generation the bytes stored, whether it was relaid out, and the bytes a
#            restore decompresses against the distinct blocks it needs (cairn inspect). Deterministic: no timing.
# blocksize  Stored bytes of the diff snapshot, and its manifest's size, with 4, 8, 16 and 64 KiB image blocks.
# reflink    Restores of the second image of each pair onto a loop-mounted XFS, against `cp --sparse=always` to the
#            same XFS: plain; with --reflink and the local image cache holding the first image's restore (the
#            parent); with --reflink and the cache holding the same version (a host restoring a snapshot it restored
#            before: one more sandbox from the same template). Both images are snapshotted under one name (a
#            symlink), as a VM's images keep theirs from one version to the next.
#
# Every timed step starts with a cold page cache (sync; drop_caches); times are medians of RUNS runs, with min and
# max. Each pair of images is read once, untimed, before its rounds (on a VM the host's cache is not dropped with the
# guest's: see bench_warm_host), and each round starts with another tool. Environment: CORPUS (/var/tmp/cairn-corpus),
# WORK (/var/tmp/cairn-bench-images), RUNS (3), CHAIN_RUNS (500), LINEAGE_GENERATIONS (22), LINEAGE_BOUNDS ("5 off"),
# CAIRN (the ./cairn launcher of this checkout).
# Raw rows: $WORK/results.tsv; the step logs: $WORK/logs/.
set -euo pipefail
export LC_ALL=C

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
CORPUS=${CORPUS:-/var/tmp/cairn-corpus}
WORK=${WORK:-/var/tmp/cairn-bench-images}
RUNS=${RUNS:-3}
LINEAGE_GENERATIONS=${LINEAGE_GENERATIONS:-22}
LINEAGE_BOUNDS=${LINEAGE_BOUNDS:-5 off}
CHAIN_RUNS=${CHAIN_RUNS:-500}
CAIRN=${CAIRN:-$here/cairn}
RESULTS=$WORK/results.tsv
LOGS=$WORK/logs
export RESTIC_PASSWORD=bench BORG_PASSPHRASE='' BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

log() { printf '[images %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# row SECTION ITEM TOOL METRIC RUN VALUE: one raw result (with the 1-minute load average, to spot noisy neighbours).
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"; }

# timed SECTION ITEM TOOL STEP RUN CMD...: drops the page cache, runs CMD under GNU time, records wall seconds and
# CPU seconds (user + system: what a loaded machine makes the fairer figure) and peak RSS (KiB). Output goes to $LOGS; a failure stops the benchmark with the tail of the error output.
timed() {
  local section=$1 item=$2 tool=$3 step=$4 run=$5 t0 t1 name
  shift 5
  name="$LOGS/$section.$item.$tool.$step.$run"
  bench_drop_caches
  t0=${EPOCHREALTIME/./}
  /usr/bin/time -f '%M %U %S' -o "$name.time" "$@" </dev/null >"$name.out" 2>"$name.err" ||
    die "$section $item $tool $step (run $run) failed: $(tail -n 3 "$name.err")"
  t1=${EPOCHREALTIME/./}
  local rss user system
  read -r rss user system < <(tail -n 1 "$name.time")
  row "$section" "$item" "$tool" "$step.s" "$run" "$(printf '%d.%06d' $(((t1 - t0) / 1000000)) $(((t1 - t0) % 1000000)))"
  row "$section" "$item" "$tool" "$step.cpu_s" "$run" "$(awk -v u="$user" -v s="$system" 'BEGIN { printf "%.2f", u + s }')"
  row "$section" "$item" "$tool" "$step.rss_kib" "$run" "$rss"
}

bytes() { du -sb -- "$1" | cut -f1; }
allocated() { du -s --block-size=1 -- "$1" | cut -f1; }

# json FILE KEY...: the value found by following KEY... (object keys; list indexes) from the top of JSON file FILE.
json() {
  python3 -c 'import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    value = value[int(key)] if isinstance(value, list) else value[key]
print(value)' "$@"
}

# ------------------------------------------------------------------------------------------------ images

# Per pair, run and tool: full snapshot, diff snapshot, restore (checked identical), and the restored allocated size.
images_section() {
  local item a b tool run full repo out
  for item in rootfs mem; do
    if [[ $item == rootfs ]]; then a=rootfs.ext4 b=rootfs2.ext4; else a=mem.img b=mem2.img; fi
    bench_warm_host "$CORPUS/$a" "$CORPUS/$b"
    for run in $(seq 1 "$RUNS"); do
      # Each round starts with another tool, so no tool always runs first (after the previous round's deletions).
      local tools=(cairn restic borg-zstd3 borg-lz4 cp) first
      first=$(((run - 1) % ${#tools[@]}))
      for tool in "${tools[@]:first}" "${tools[@]:0:first}"; do
        repo=$WORK/repo out=$WORK/out
        rm -rf "$repo" "$out"
        mkdir -p "$out"
        log "images: $item, $tool, run $run"
        case $tool in
          cairn)
            "$CAIRN" -r "$repo" init >/dev/null
            timed images $item $tool full "$run" "$CAIRN" -r "$repo" snapshot -q --json --tag base --image "$CORPUS/$a"
            full=$(bytes "$repo")
            timed images $item $tool diff "$run" "$CAIRN" -r "$repo" snapshot -q --json --tag next --parent base --image "$CORPUS/$b"
            timed images $item $tool restore "$run" "$CAIRN" -r "$repo" restore -q --json next "$out/r"
            row images $item $tool restore.decompressed_bytes "$run" "$(json "$LOGS/images.$item.$tool.restore.$run.out" bytesDecompressed)"
            ;;
          restic)
            restic -r "$repo" init >/dev/null
            timed images $item $tool full "$run" restic -r "$repo" backup --quiet "$CORPUS/$a"
            full=$(bytes "$repo")
            timed images $item $tool diff "$run" restic -r "$repo" backup --quiet "$CORPUS/$b"
            timed images $item $tool restore "$run" restic -r "$repo" restore latest --target "$out/r"
            ;;
          borg-*)
            local compression=zstd,3
            [[ $tool == borg-lz4 ]] && compression=lz4
            borg init -e none "$repo"
            timed images $item $tool full "$run" bash -c "cd '$CORPUS' && borg create --compression $compression '$repo::a' '$a'"
            full=$(bytes "$repo")
            timed images $item $tool diff "$run" bash -c "cd '$CORPUS' && borg create --compression $compression '$repo::b' '$b'"
            mkdir -p "$out/r"
            timed images $item $tool restore "$run" bash -c "cd '$out/r' && borg extract --sparse '$repo::b'"
            ;;
          cp)
            mkdir -p "$out/r"
            timed images $item $tool restore "$run" cp --sparse=always "$CORPUS/$b" "$out/r/"
            full=0
            ;;
        esac
        if [[ $tool != cp ]]; then
          row images $item $tool full.bytes "$run" "$full"
          row images $item $tool diff.bytes "$run" $(($(bytes "$repo") - full))
        fi
        local restored
        restored=$(find "$out/r" -type f -name "$b" | head -n 1)
        if [[ -z $restored ]] || ! cmp -s "$restored" "$CORPUS/$b"; then die "$tool did not restore $b identically"; fi
        row images $item $tool restore.allocated_bytes "$run" "$(allocated "$restored")"
        rm -rf "$repo" "$out"
        bench_settle # the discards of that deletion (up to 1.6 GB) must not fall on the next tool's first step
      done
    done
  done
}

# ------------------------------------------------------------------------------------------------ chain

XFS_MOUNT=$WORK/xfs
XFS_DEVICE=""

xfs_cleanup() {
  if mountpoint -q "$XFS_MOUNT" 2>/dev/null; then umount "$XFS_MOUNT"; fi
  if [[ -n $XFS_DEVICE ]]; then losetup -d "$XFS_DEVICE"; XFS_DEVICE=""; fi
  rm -f "$WORK/xfs.img"
  if [[ -d $XFS_MOUNT ]]; then rmdir "$XFS_MOUNT"; fi
}

xfs_setup() {
  truncate -s 8G "$WORK/xfs.img"
  mkfs.xfs -q -m reflink=1 "$WORK/xfs.img"
  XFS_DEVICE=$(losetup --find --show "$WORK/xfs.img")
  mkdir -p "$XFS_MOUNT"
  mount "$XFS_DEVICE" "$XFS_MOUNT"
}

# Replaces CHAIN_RUNS random runs of 1-64 blocks of FILE with real memory pages from mem2.img, seeded by SEED: the
# chain's generation SEED.
mutate() {
  python3 - "$1" "$CORPUS/mem2.img" "$2" "$CHAIN_RUNS" <<'EOF'
import os, random, sys
target, source, seed, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
blocks = os.path.getsize(target) // 4096
with open(target, 'r+b') as t, open(source, 'rb') as s:
    for _ in range(runs):
        n = rng.randint(1, 64)
        at, frm = rng.randrange(blocks - n), rng.randrange(blocks - n)
        s.seek(frm * 4096)
        t.seek(at * 4096)
        t.write(s.read(n * 4096))
EOF
}

chain_section() {
  local src=$WORK/chain-src repo=$WORK/chain-repo fresh=$WORK/chain-fresh pair=$WORK/chain-pair g depth run
  rm -rf "$src" "$repo" "$fresh" "$pair"
  mkdir -p "$src"
  "$CAIRN" -r "$repo" init >/dev/null
  "$CAIRN" -r "$pair" init >/dev/null
  cp --sparse=always "$CORPUS/mem.img" "$src/mem.img"
  for g in $(seq 0 9); do
    if ((g > 0)); then
      mutate "$src/mem.img" "$g"
    fi
    "$CAIRN" -r "$repo" snapshot -q --json --tag chain --image "$src/mem.img" >"$LOGS/chain.snapshot.$g.json"
    if ((g >= 8)); then
      # Generation 8 alone, then generation 9 as its child: the deepest image at depth 1 (2 links: root and child).
      "$CAIRN" -r "$pair" snapshot -q --json --tag pair --image "$src/mem.img" >"$WORK/chain.pair.$g.json"
    fi
    cp "$LOGS/chain.snapshot.$g.json" "$WORK/chain.$g.json"
    row chain "depth$((g + 1))" cairn snapshot.stored_bytes 1 "$(json "$WORK/chain.$g.json" stats storedBytes)"
    # Whether the generation stored everything again (the parent past --relayout-above): 1 or 0.
    row chain "depth$((g + 1))" cairn snapshot.relaid 1 "$(python3 -c 'import json, sys; print(int("relayout" in json.load(open(sys.argv[1]))["stats"]))' "$WORK/chain.$g.json")"
    "$CAIRN" -r "$repo" inspect --json chain >"$LOGS/chain.inspect.$g.json"
    row chain "depth$((g + 1))" cairn restore.frame_bytes 1 "$(json "$LOGS/chain.inspect.$g.json" files 0 frameBytes)"
    row chain "depth$((g + 1))" cairn restore.decoded_bytes 1 "$(json "$LOGS/chain.inspect.$g.json" files 0 decodedBytes)"
    row chain "depth$((g + 1))" cairn restore.data_bytes 1 "$(json "$LOGS/chain.inspect.$g.json" files 0 dataBytes)"
  done
  "$CAIRN" -r "$fresh" init >/dev/null
  "$CAIRN" -r "$fresh" snapshot -q --json --image "$src/mem.img" >"$WORK/chain.fresh.json"
  local fresh_id
  fresh_id=$(json "$WORK/chain.fresh.json" id)
  "$CAIRN" -r "$fresh" inspect --json "$fresh_id" >"$LOGS/chain.inspect.fresh.json"
  row chain depth10-fresh cairn restore.frame_bytes 1 "$(json "$LOGS/chain.inspect.fresh.json" files 0 frameBytes)"
  local pair_id
  pair_id=$(json "$WORK/chain.pair.9.json" id)
  "$CAIRN" -r "$pair" inspect --json "$pair_id" >"$LOGS/chain.inspect.pair.json"
  row chain depth1-same cairn restore.decoded_bytes 1 "$(json "$LOGS/chain.inspect.pair.json" files 0 decodedBytes)"

  xfs_setup

  for run in $(seq 1 "$RUNS"); do
    for depth in $(seq 1 10); do
      local id
      id=$(json "$WORK/chain.$((depth - 1)).json" id)
      rm -rf "$XFS_MOUNT/r"
      log "chain: restore depth $depth, run $run"
      timed chain "depth$depth" cairn restore "$run" "$CAIRN" -r "$repo" restore -q --json "$id" "$XFS_MOUNT/r"
      row chain "depth$depth" cairn restore.decompressed_bytes "$run" "$(json "$LOGS/chain.depth$depth.cairn.restore.$run.out" bytesDecompressed)"
    done
    cmp -s "$XFS_MOUNT/r/mem.img" "$src/mem.img" || die "the restore of depth 10 differs from the image"
    rm -rf "$XFS_MOUNT/r"
    log "chain: restore the deepest image from a fresh repository, run $run"
    timed chain depth10-fresh cairn restore "$run" "$CAIRN" -r "$fresh" restore -q --json "$fresh_id" "$XFS_MOUNT/r"
    row chain depth10-fresh cairn restore.decompressed_bytes "$run" "$(json "$LOGS/chain.depth10-fresh.cairn.restore.$run.out" bytesDecompressed)"
    rm -rf "$XFS_MOUNT/r"
    log "chain: restore the deepest image as a depth-1 descendant, run $run"
    timed chain depth1-same cairn restore "$run" "$CAIRN" -r "$pair" restore -q --json "$pair_id" "$XFS_MOUNT/r"
    row chain depth1-same cairn restore.decompressed_bytes "$run" "$(json "$LOGS/chain.depth1-same.cairn.restore.$run.out" bytesDecompressed)"
    cmp -s "$XFS_MOUNT/r/mem.img" "$src/mem.img" || die "the depth-1 restore of the deepest image differs from the image"
  done

  # The deepest restored on top of a restore of its parent: cloned where they share blocks.
  local parent deepest
  parent=$(json "$WORK/chain.8.json" id)
  deepest=$(json "$WORK/chain.9.json" id)
  rm -rf "$XFS_MOUNT/r"
  "$CAIRN" -r "$repo" restore -q "$parent" "$XFS_MOUNT/base" >/dev/null
  for run in $(seq 1 "$RUNS"); do
    rm -rf "$XFS_MOUNT/r"
    log "chain: restore depth 10 with --reflink-from depth 9, run $run"
    timed chain depth10-reflink cairn restore "$run" "$CAIRN" -r "$repo" restore -q --json "$deepest" "$XFS_MOUNT/r" --reflink-from "$XFS_MOUNT/base"
  done

  cmp -s "$XFS_MOUNT/r/mem.img" "$src/mem.img" || die "the reflink restore of depth 10 differs from the image"
  row chain depth10-reflink cairn restore.cloned_bytes 1 "$(json "$LOGS/chain.depth10-reflink.cairn.restore.$RUNS.out" bytesCloned)"
  rm -rf "$XFS_MOUNT/r" "$XFS_MOUNT/base"

  # Last, since it changes what depth 10 reads: the deepest image stored again in fresh frames (--relayout; the image is
  # unchanged, so its manifest gets the new locations), then restored.
  log "chain: relayout of depth 10"
  timed chain depth10-relayout cairn snapshot 1 "$CAIRN" -r "$repo" snapshot -q --json --relayout --tag chain --image "$src/mem.img"
  row chain depth10-relayout cairn snapshot.stored_bytes 1 "$(json "$LOGS/chain.depth10-relayout.cairn.snapshot.1.out" stats storedBytes)"
  for run in $(seq 1 "$RUNS"); do
    rm -rf "$XFS_MOUNT/r"
    log "chain: restore depth 10 after its relayout, run $run"
    timed chain depth10-relayout cairn restore "$run" "$CAIRN" -r "$repo" restore -q --json "$deepest" "$XFS_MOUNT/r"
    row chain depth10-relayout cairn restore.decompressed_bytes "$run" "$(json "$LOGS/chain.depth10-relayout.cairn.restore.$run.out" bytesDecompressed)"
  done
  cmp -s "$XFS_MOUNT/r/mem.img" "$src/mem.img" || die "the restore of depth 10 after its relayout differs from the image"
  rm -rf "$XFS_MOUNT/r"
  xfs_cleanup
  rm -rf "$src" "$repo" "$fresh" "$pair"
}

# ------------------------------------------------------------------------------------------------ lineage

lineage_section() {
  local bound src repo g
  for bound in $LINEAGE_BOUNDS; do
    src=$WORK/lineage-src repo=$WORK/lineage-repo
    rm -rf "$src" "$repo"
    mkdir -p "$src"
    "$CAIRN" -r "$repo" init >/dev/null
    cp --sparse=always "$CORPUS/mem.img" "$src/mem.img"
    for g in $(seq 0 $((LINEAGE_GENERATIONS - 1))); do
      if ((g > 0)); then
        mutate "$src/mem.img" "$g"
      fi
      log "lineage: bound $bound, generation $g"
      "$CAIRN" -r "$repo" snapshot -q --json --tag lineage --relayout-above "$bound" --image "$src/mem.img" >"$LOGS/lineage.$bound.snapshot.$g.json"
      "$CAIRN" -r "$repo" inspect --json lineage >"$LOGS/lineage.$bound.inspect.$g.json"
      row lineage "bound$bound.g$g" cairn snapshot.stored_bytes 1 "$(json "$LOGS/lineage.$bound.snapshot.$g.json" stats storedBytes)"
      row lineage "bound$bound.g$g" cairn snapshot.relaid 1 "$(python3 -c 'import json, sys; print(int("relayout" in json.load(open(sys.argv[1]))["stats"]))' "$LOGS/lineage.$bound.snapshot.$g.json")"
      row lineage "bound$bound.g$g" cairn restore.decoded_bytes 1 "$(json "$LOGS/lineage.$bound.inspect.$g.json" files 0 decodedBytes)"
      row lineage "bound$bound.g$g" cairn restore.distinct_bytes 1 "$(json "$LOGS/lineage.$bound.inspect.$g.json" files 0 distinctBytes)"
    done
    rm -rf "$src" "$repo"
  done
}

# ------------------------------------------------------------------------------------------------ blocksize

blocksize_section() {
  local bs item a b repo
  for bs in 4K 8K 16K 64K; do
    for item in rootfs mem; do
      if [[ $item == rootfs ]]; then a=rootfs.ext4 b=rootfs2.ext4; else a=mem.img b=mem2.img; fi
      repo=$WORK/bs-repo
      rm -rf "$repo"
      log "blocksize: $bs, $item"
      "$CAIRN" -r "$repo" init --image-block-size "$bs" >/dev/null
      "$CAIRN" -r "$repo" snapshot -q --json --tag base --image "$CORPUS/$a" >"$LOGS/blocksize.$bs.$item.full.json"
      "$CAIRN" -r "$repo" snapshot -q --json --parent base --image "$CORPUS/$b" >"$LOGS/blocksize.$bs.$item.diff.json"
      python3 - "$LOGS/blocksize.$bs.$item.full.json" "$LOGS/blocksize.$bs.$item.diff.json" "$repo" <<'EOF' |
import json, os, sys
full, diff, repo = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
print(full['stats']['storedBytes'], diff['stats']['storedBytes'], os.path.getsize(os.path.join(repo, 'manifests', diff['tree'])), diff['stats']['chunks'], diff['stats']['newChunks'])
EOF
        {
          read -r full diff manifest chunks fresh
          row blocksize "$item" "cairn-$bs" full.stored_bytes 1 "$full"
          row blocksize "$item" "cairn-$bs" diff.stored_bytes 1 "$diff"
          row blocksize "$item" "cairn-$bs" diff.manifest_bytes 1 "$manifest"
          row blocksize "$item" "cairn-$bs" diff.blocks 1 "$chunks"
          row blocksize "$item" "cairn-$bs" diff.new_blocks 1 "$fresh"
        }
      rm -rf "$repo"
    done
  done
}

# ------------------------------------------------------------------------------------------------ reflink

reflink_section() {
  local item a b repo=$WORK/reflink-repo img=$WORK/reflink-img run tool cache next_id
  xfs_setup
  cache=$XFS_MOUNT/cache
  for item in rootfs mem; do
    if [[ $item == rootfs ]]; then a=rootfs.ext4 b=rootfs2.ext4; else a=mem.img b=mem2.img; fi
    rm -rf "$repo" "$img" "$cache"
    mkdir -p "$img"
    "$CAIRN" -r "$repo" init >/dev/null
    ln -sfn "$CORPUS/$a" "$img/$item"
    "$CAIRN" -r "$repo" snapshot -q --json --tag base --image "$img/$item" >"$LOGS/reflink.$item.base.json"
    ln -sfn "$CORPUS/$b" "$img/$item"
    "$CAIRN" -r "$repo" snapshot -q --json --tag next --parent base --image "$img/$item" >"$LOGS/reflink.$item.next.json"
    # The parent's restore, kept in the image cache (untimed).
    "$CAIRN" -r "$repo" restore -q --reflink --cache-dir "$cache" base "$XFS_MOUNT/base" >/dev/null
    rm -rf "$XFS_MOUNT/base"
    next_id=$(json "$LOGS/reflink.$item.next.json" id)
    bench_warm_host "$CORPUS/$b"
    for run in $(seq 1 "$RUNS"); do
      local tools=(cp cairn cairn-reflink-parent cairn-reflink-same) first
      first=$(((run - 1) % ${#tools[@]}))
      for tool in "${tools[@]:first}" "${tools[@]:0:first}"; do
        rm -rf "$XFS_MOUNT/r"
        mkdir -p "$XFS_MOUNT/r"
        log "reflink: $item, $tool, run $run"
        case $tool in
          cp) timed reflink $item $tool restore "$run" cp --sparse=always "$CORPUS/$b" "$XFS_MOUNT/r/$item" ;;
          cairn) timed reflink $item $tool restore "$run" "$CAIRN" -r "$repo" restore -q --json next "$XFS_MOUNT/r" ;;
          cairn-reflink-parent)
            # Only the parent cached: drop this version's copy a previous round kept.
            find "$cache" -mindepth 3 -maxdepth 3 -type d -name "$next_id" -exec rm -rf {} +
            timed reflink $item $tool restore "$run" "$CAIRN" -r "$repo" restore -q --json --reflink --cache-dir "$cache" next "$XFS_MOUNT/r"
            ;;
          cairn-reflink-same)
            # This version cached too: the parent's round (or an untimed restore) kept it.
            if ! find "$cache" -mindepth 3 -maxdepth 3 -type d -name "$next_id" | grep -q .; then
              "$CAIRN" -r "$repo" restore -q --reflink --cache-dir "$cache" next "$XFS_MOUNT/untimed" >/dev/null
              rm -rf "$XFS_MOUNT/untimed"
            fi
            timed reflink $item $tool restore "$run" "$CAIRN" -r "$repo" restore -q --json --reflink --cache-dir "$cache" next "$XFS_MOUNT/r"
            ;;
        esac
        cmp -s "$XFS_MOUNT/r/$item" "$CORPUS/$b" || die "$tool did not restore $b identically"
        if [[ $tool == cairn* ]]; then
          row reflink $item $tool restore.cloned_bytes "$run" "$(json "$LOGS/reflink.$item.$tool.restore.$run.out" bytesCloned)"
        fi
        row reflink $item $tool restore.allocated_bytes "$run" "$(allocated "$XFS_MOUNT/r/$item")"
      done
    done
    rm -rf "$XFS_MOUNT/r" "$repo" "$img" "$cache"
  done
  xfs_cleanup
}

# ------------------------------------------------------------------------------------------------ summary

# Medians (min-max) of every metric, one line per section/item/tool/metric.
summary() {
  awk -F'\t' '
    { key = $1 "\t" $2 "\t" $3 "\t" $4; n[key]++; v[key, n[key]] = $6; order[key] = order[key] ? order[key] : ++keys; name[order[key]] = key }
    END {
      for (k = 1; k <= keys; k++) {
        key = name[k]; c = n[key]
        for (i = 1; i <= c; i++) a[i] = v[key, i] + 0
        for (i = 2; i <= c; i++) { x = a[i]; j = i - 1; while (j > 0 && a[j] > x) { a[j + 1] = a[j]; j-- } a[j + 1] = x }
        m = (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
        printf "%s\t%.3f\t%.3f\t%.3f\t%d\n", key, m, a[1], a[c], c
      }
    }' "$RESULTS"
}

main() {
  [[ $(id -u) -eq 0 ]] || die "run as root: dropping the page cache and mounting XFS need it"
  local tool
  for tool in restic borg python3 mkfs.xfs losetup cmp /usr/bin/time; do
    command -v "$tool" >/dev/null || die "missing $tool"
  done
  mkdir -p "$WORK" "$LOGS"
  : >"$RESULTS"
  trap xfs_cleanup EXIT
  "$CAIRN" --help >/dev/null # builds the launcher's Release binary outside any timing
  local sections=("$@")
  ((${#sections[@]} > 0)) || sections=(images chain blocksize reflink)
  local section
  for section in "${sections[@]}"; do
    case $section in
      images) images_section ;;
      chain) chain_section ;;
      blocksize) blocksize_section ;;
      reflink) reflink_section ;;
      lineage) lineage_section ;;
      *) die "unknown section '$section' (images, chain, blocksize, reflink, lineage)" ;;
    esac
  done
  printf 'section\titem\ttool\tmetric\tmedian\tmin\tmax\truns\n'
  summary
}

main "$@"
