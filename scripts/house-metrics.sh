#!/usr/bin/env bash
# house-metrics.sh: the figures of the house review, measured the same way
# each time: the longest functions of shared/ (lines, cyclomatic complexity),
# the unit coverage of shared/backup and shared/migrate, and how many places
# open an exec stream into a pod or follow a container's log.
#
# Usage: scripts/house-metrics.sh   (exit 0; it reports, it does not judge)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== longest functions in shared/ (go run ./scripts/funcsize)"
go run ./scripts/funcsize -n 5 -over 100 shared || true
echo "== unit coverage"
for p in backup migrate; do
  go test -count=1 -cover "./shared/$p/" 2>&1 | sed -n 's/.*coverage: \([0-9.]*%\).*/'"shared\/$p"': \1/p'
done
echo "== plumbing written more than once"
# An exec stream is opened by remotecommand's executors; a log follower opens
# GetLogs with a Follow option.
printf 'exec into a pod: %s file(s): ' "$(grep -rl --include='*.go' --exclude='*_test.go' 'remotecommand.New' shared | wc -l)"
grep -rl --include='*.go' --exclude='*_test.go' 'remotecommand.New' shared | tr '\n' ' '; echo
printf 'log followers:   %s file(s): ' "$(grep -rlE --include='*.go' --exclude='*_test.go' 'PodLogOptions\{[^}]*Follow: *[a-z]' shared | wc -l)"
grep -rlE --include='*.go' --exclude='*_test.go' 'PodLogOptions\{[^}]*Follow: *[a-z]' shared | tr '\n' ' '; echo
