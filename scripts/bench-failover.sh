#!/usr/bin/env bash
# bench-failover.sh: the failover figures (issue 22 "Performance": the
# failover's own overhead, everything but waiting for replay and rollouts,
# under 5 s). Two local clusters with the app deployed by `deploy --fleet`
# behind a real PostgreSQL streaming pair (the e2e harness, as the standby
# e2e tests have them); planned switchovers back and forth, then unplanned
# failovers (the old primary fenced at once), each followed by `failover
# rejoin`. The figures are the Failover documents' own (seconds,
# waitSeconds, overheadSeconds). A benchmark, not a test: it asserts nothing
# about time and prints a Markdown table.
#
# It runs TestBenchFailover (test/e2e/failoverbench, build tag `bench`,
# never part of `make test`) through `go test`.
#
# Usage: scripts/bench-failover.sh [--runs R] [--out FILE]
# Exit codes: 0 figures printed, 1 the run failed, 2 usage.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
runs=4 out=""
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --runs) runs=${2:-}; shift 2 ;;
    --out) out=${2:-}; shift 2 ;;
    *) echo "bench-failover: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $runs in *[!0-9]*|''|0) echo "bench-failover: --runs takes a positive integer" >&2; exit 2 ;; esac

table=$(mktemp)
log=$(mktemp)
trap 'rm -f "$table" "$log"' EXIT
echo "bench-failover: $runs runs of each kind, $(nproc) cores; the log is $log while it runs" >&2
if ! (cd "$root" && BENCH_RUNS=$runs BENCH_OUT=$table \
      go test -trimpath -tags bench -count=1 -timeout 60m -run '^TestBenchFailover$' -v ./test/e2e/failoverbench/) >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "bench-failover: the run failed (the log's end is above)" >&2
  exit 1
fi
cat "$table"
if [ -n "$out" ]; then cp "$table" "$out"; fi
