#!/usr/bin/env bash
# bench-fleet.sh: the fleet fan-out figures (issue 22 "Performance"):
# `deploy status` and `diagnose` across 2 and N local clusters (default 8,
# each its own etcd, kube-apiserver and one kwok node) against the same
# command on the slowest single cluster of them, and the client's peak RSS.
# A benchmark, not a test: it asserts nothing about time and prints a
# Markdown table (median of --runs runs; the ratio's goal is at most 1.3x).
#
# It runs TestBenchFleet (test/e2e/fleetbench, build tag `bench`, never part
# of `make test`) through `go test`: the e2e harness starts the clusters and
# deploys the dev overlay in each; the plugins measured are built as a
# release builds them (CGO_ENABLED=0, -trimpath, the suite's tags, stripped).
#
# Usage: scripts/bench-fleet.sh [--clusters N] [--runs R] [--out FILE]
# Exit codes: 0 figures printed, 1 the run failed, 2 usage.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
clusters=8 runs=5 out=""
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --clusters) clusters=${2:-}; shift 2 ;;
    --runs) runs=${2:-}; shift 2 ;;
    --out) out=${2:-}; shift 2 ;;
    *) echo "bench-fleet: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $clusters$runs in *[!0-9]*|'') echo "bench-fleet: --clusters and --runs take positive integers" >&2; exit 2 ;; esac
[ "$clusters" -ge 2 ] || { echo "bench-fleet: --clusters must be at least 2" >&2; exit 2; }

table=$(mktemp)
log=$(mktemp)
bin=$(mktemp -d)
trap 'rm -rf "$table" "$log" "$bin"' EXIT
echo "bench-fleet: building kubectl-piyasa-deploy and -diagnose as a release does" >&2
tags=$(cd "$root" && go run ./shared/suite/cmd/binaries -tags)
for p in deploy diagnose; do
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "-s -w" -o "$bin/kubectl-piyasa-$p" "./plugins/$p")
done
echo "bench-fleet: $clusters clusters, $runs runs each, $(nproc) cores; the log is $log while it runs" >&2
if ! (cd "$root" && BENCH_CLUSTERS=$clusters BENCH_RUNS=$runs BENCH_OUT=$table BENCH_BIN=$bin \
      go test -tags bench -count=1 -timeout 90m -run '^TestBenchFleet$' -v ./test/e2e/fleetbench/) >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "bench-fleet: the run failed (the log's end is above)" >&2
  exit 1
fi
cat "$table"
if [ -n "$out" ]; then cp "$table" "$out"; fi
