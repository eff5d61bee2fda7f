#!/usr/bin/env bash
# bench-pitr.sh: point-in-time recovery figures (issue 21 "Performance") in
# ONE run on ONE database: `backup create --physical` against the raw
# `kubectl exec ... pg_basebackup` stream, logical `backup create` with and
# without --compress-in-pod, `backup restore --to-time` against a logical
# `backup restore` of the same data, the --to-latest drill's RPO and RTO, and
# every client's peak RSS (GNU time's %M). A benchmark, not a test: it asserts
# nothing about time and prints a Markdown table.
#
# It runs TestBenchPITR (test/e2e/pitr/bench_pitr_test.go, build tag
# `bench`, so never part of `make test`) through `go test`: the e2e harness
# starts the local control plane, a real PostgreSQL archiving its WAL, plays
# the postgres pod's lifecycle, and runs the real binaries.
#
# Usage: scripts/bench-pitr.sh [--size MB] [--archive-timeout SECONDS] [--out FILE]
#   --size MB               database size on disk (default 1024)
#   --archive-timeout S     the server's archive_timeout (default 60, the manifests')
#   --out FILE              also write the table to FILE
# Exit codes: 0 figures printed, 1 the run failed, 2 usage or a missing tool.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
size=1024 timeout=60 out=""
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --size) size=${2:-}; shift 2 ;;
    --archive-timeout) timeout=${2:-}; shift 2 ;;
    --out) out=${2:-}; shift 2 ;;
    *) echo "bench-pitr: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $size$timeout in *[!0-9]*|'') echo "bench-pitr: --size and --archive-timeout take positive integers" >&2; exit 2 ;; esac
[ -x /usr/bin/time ] || { echo "bench-pitr: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || { echo "bench-pitr: PostgreSQL is needed (apt-get install postgresql)" >&2; exit 2; }

table=$(mktemp)
log=$(mktemp)
bin=$(mktemp -d)
trap 'rm -rf "$table" "$log" "$bin"' EXIT
# The plugin measured is built as a release is (scripts/bench-size.sh): the
# harness's own build links cgo and is twice the size, which shows in the RSS.
echo "bench-pitr: building kubectl-piyasa-backup as a release does" >&2
(cd "$root" && CGO_ENABLED=0 go build -trimpath -tags "$(go run ./shared/suite/cmd/binaries -tags)" -ldflags "-s -w" \
  -o "$bin/kubectl-piyasa-backup" ./plugins/backup)
echo "bench-pitr: ${size} MB database, archive_timeout ${timeout}s, $(nproc) cores shared with other work; the log is $log while it runs" >&2
if ! (cd "$root" && BENCH_SIZE_MB=$size BENCH_ARCHIVE_TIMEOUT=$timeout BENCH_OUT=$table BENCH_BIN=$bin \
      go test -tags bench -count=1 -timeout 120m -run '^TestBenchPITR$' -v ./test/e2e/pitr/) >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "bench-pitr: the run failed (the log's end is above)" >&2
  exit 1
fi
cat "$table"
if [ -n "$out" ]; then cp "$table" "$out"; fi
