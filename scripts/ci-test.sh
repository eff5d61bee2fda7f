#!/usr/bin/env bash
# The README's test command (`make test` runs this): lint, then the e2e suite
# in the background while the unit tests and the fuzz targets run in the
# foreground (the e2e packages wait on their clusters most of the time, so the
# two overlap on a 2-core machine); then the e2e output, and the time per stage
# and per e2e package (scripts/ci-times.sh).
#
# Usage: scripts/ci-test.sh            (make test; CI_OUT, CI_FUZZTIME, E2E_* as in the Makefile)
# Exit status: 0 when every stage passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
CI_OUT=${CI_OUT:-$HOME/.cache/kubectl-piyasa/ci}
CI_FUZZTIME=${CI_FUZZTIME:-2s}
mkdir -p "$CI_OUT"
: > "$CI_OUT/stages"
begin=$(date +%s)

# stage NAME CMD...: runs CMD and appends "NAME SECONDS" to $CI_OUT/stages.
stage() {
  local name=$1 start rc=0
  shift
  start=$(date +%s)
  "$@" || rc=$?
  echo "$name $(( $(date +%s) - start ))" >> "$CI_OUT/stages"
  return "$rc"
}

stage lint make --no-print-directory lint || exit 1

# The e2e suite in its own process group, so that an interrupted run stops it whole.
setsid bash -c "$(declare -f stage); CI_OUT='$CI_OUT'; stage e2e make --no-print-directory e2e" > "$CI_OUT/e2e.log" 2>&1 &
e2e=$!
trap 'kill -TERM -- -$e2e 2>/dev/null; wait $e2e 2>/dev/null; exit 130' INT TERM
echo "e2e: started in the background (its output follows the fuzz targets; $CI_OUT/e2e.log)"

rc=0
stage unit make --no-print-directory unit || rc=1
stage "fuzz FUZZTIME=$CI_FUZZTIME" make --no-print-directory fuzz FUZZTIME="$CI_FUZZTIME" || rc=1

echo "--- e2e:"
tail -n +1 -f --pid="$e2e" "$CI_OUT/e2e.log"
wait "$e2e" || rc=1
echo "wall $(( $(date +%s) - begin ))" >> "$CI_OUT/stages"
echo
scripts/ci-times.sh "$CI_OUT"
exit "$rc"
