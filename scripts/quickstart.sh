#!/usr/bin/env bash
# scripts/quickstart.sh [DIR] - the main job, end to end, on a fresh machine:
# install and build, snapshot DIR (default: this repository's src/) into the default local repository,
# list the snapshots, restore the snapshot into a new directory, and check the restored tree equals DIR.
set -Eeuo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$(cd "${1:-$here/src}" && pwd)"
"$here/scripts/setup.sh"

out="$(mktemp -d /tmp/cairn-quickstart.XXXXXX)"
trap 'rm -rf "$out"' EXIT

echo "== cairn snapshot $src"
"$here/cairn" snapshot "$src" --tag quickstart
echo "== cairn snapshots"
"$here/cairn" snapshots
echo "== cairn restore quickstart $out/restored"
"$here/cairn" restore quickstart "$out/restored"
echo "== comparing"
diff -r --no-dereference "$src" "$out/restored" && echo "restored tree is identical to $src"
echo "(repository: ${CAIRN_REPO:-\$HOME/.local/share/cairn/repo}; try: ./cairn show quickstart, ./cairn --help)"
