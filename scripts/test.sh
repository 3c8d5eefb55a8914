#!/usr/bin/env bash
# scripts/test.sh [dotnet test args...] - the whole test suite, as CI runs it.
# Installs what the tests need (scripts/setup.sh --tests), starts a real S3 server (scripts/s3-server.sh) unless one
# is running and stops it at the end, builds ./cairn (the command-line tests run it) and every test project, runs them.
# Prints one closing line "Total: N passed, M failed, K skipped" and exits non-zero on any failure.
set -Eeuo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
"$here/scripts/setup.sh" --tests
# The command-line tests run the Native AOT build of ./cairn, what users run (the launcher builds it if needed).
"$here/cairn" --version >/dev/null
export CAIRN_TEST_CLI="$here/.cairn-build/cairn"
if [[ "$(cat "$here/.cairn-build/.sources")" == *-fallback ]]; then
  echo "test.sh: WARNING: the Native AOT build of ./cairn failed (its error is above); the tests run the ReadyToRun build" >&2
fi

log="$(mktemp /tmp/cairn-test.XXXXXX.log)"
# One S3 server for the whole run: the test projects run in parallel, and a fixture that started the server itself
# would stop it at its end, under the other project. Fixtures leave alone a server they did not start.
started_s3=0
if ! "$here/scripts/s3-server.sh" status >/dev/null 2>&1; then
  "$here/scripts/s3-server.sh" start
  started_s3=1
fi
cleanup() {
  rm -f "$log"
  if ((started_s3)); then "$here/scripts/s3-server.sh" stop || true; fi
}
trap cleanup EXIT
status=0
dotnet test Cairn.slnx -c Release --nologo "$@" 2>&1 | tee "$log" || status=$?

# Sum the per-project summaries ("Passed!  - Failed: 0, Passed: 37, Skipped: 0, Total: 37 ...").
read -r passed failed skipped < <(grep -E '^(Passed|Failed)!' "$log" | sed -E 's/.*Failed: *([0-9]+), Passed: *([0-9]+), Skipped: *([0-9]+).*/\2 \1 \3/' |
  awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}')
echo "Total: $passed passed, $failed failed, $skipped skipped"
if ((status == 0 && passed == 0)); then
  echo "test.sh: no test ran" >&2
  exit 1
fi
exit "$status"
