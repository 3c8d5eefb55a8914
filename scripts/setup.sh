#!/usr/bin/env bash
# scripts/setup.sh [--tests] - install what Cairn needs on a Debian 12 machine (as root) and build it.
#
#   (no flag)  runtime dependencies: libzstd, libnettle (SHA-256), FUSE 3, attr tools, and the toolchain of the
#              Native AOT build (clang, zlib1g-dev); then the Release build of the CLI (./cairn).
#   --tests    also what the test suite uses: the S3 server packages (Ceph radosgw, see scripts/s3-server.sh),
#              squashfs-tools (a FUSE test kills a real squashfuse), btrfs/xfs tools (reflink tests on loop devices),
#              fuse-overlayfs (writable mounts with --overlay fuse).
#              No CLI build here: scripts/test.sh builds ./cairn itself.
# Idempotent: packages already present are not installed again. Needs the .NET 10 SDK on PATH.
set -Eeuo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "setup: $*" >&2; }

want=(libzstd1 libnettle8 fuse3 libfuse3-3 attr zstd clang zlib1g-dev)
if [[ "${1:-}" == --tests ]]; then
  want+=(squashfs-tools squashfuse btrfs-progs xfsprogs e2fsprogs util-linux fuse-overlayfs)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "setup: missing packages (${missing[*]}): run as root or install them" >&2
    exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == --tests ]]; then
  "$here/scripts/s3-server.sh" install
fi

command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK (dotnet) is not on PATH" >&2; exit 1; }
# A ./cairn built ReadyToRun because Native AOT failed (e.g. before clang was installed): forget it, so that the next
# run of ./cairn tries Native AOT again.
if [[ "$(cat "$here/.cairn-build/.sources" 2>/dev/null || true)" == *-fallback ]]; then
  rm -f "$here/.cairn-build/.sources"
fi
if [[ "${1:-}" != --tests ]]; then
  # The launcher builds on first use; do it now so the first real command starts fast.
  "$here/cairn" --version >/dev/null
  log "ready: $("$here/cairn" --version)"
fi
