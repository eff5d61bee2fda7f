#!/usr/bin/env bash
# bench-size.sh: build every binary of the suite as a release does (stripped:
# CGO_ENABLED=0, -trimpath, -ldflags "-s -w"), print each size in MiB, pack
# them into a tar.gz like the release archive (gzip -9) and print its size.
#
# Usage: scripts/bench-size.sh [--out DIR]   (default: a temporary directory, removed)
#   GOOS/GOARCH in the environment select the platform (default: the host's).
# Exit status: 1 when the dispatcher is over 5 MiB, a subcommand over 32 MiB
# or the archive over 60 MiB; 2 on a usage error.
set -euo pipefail

DISPATCHER_MAX=5 SUBCOMMAND_MAX=32 ARCHIVE_MAX=60
OUT=
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=${2-}; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument \"$1\"" >&2; echo "hint: see scripts/bench-size.sh --help" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TAGS=$(go run ./shared/suite/cmd/binaries -tags)
if [ -z "$OUT" ]; then
  OUT=$(mktemp -d)
  trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT/bin"

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
size() { wc -c < "$1" | tr -d ' '; }
over() { awk -v b="$1" -v m="$2" 'BEGIN { exit !(b > m * 1048576) }'; }

ext=
[ "${GOOS:-$(go env GOOS)}" = windows ] && ext=.exe
fail=0
files=()
printf '%-28s %8s %8s\n' BINARY MIB LIMIT
for dir in plugins/*/; do
  p=$(basename "$dir")
  case $p in
    piyasa) out=kubectl-piyasa limit=$DISPATCHER_MAX ;;
    complete-*) out=kubectl_$p limit=$DISPATCHER_MAX ;;
    *) out=kubectl-piyasa-$p limit=$SUBCOMMAND_MAX ;;
  esac
  CGO_ENABLED=0 go build -trimpath -tags "$TAGS" -ldflags "-s -w" -o "$OUT/bin/$out$ext" "./plugins/$p"
  b=$(size "$OUT/bin/$out$ext")
  mark=
  if over "$b" "$limit"; then mark=" OVER"; fail=1; fi
  printf '%-28s %8s %8s%s\n' "$out$ext" "$(mib "$b")" "$limit" "$mark"
  files+=("$out$ext")
done

cp LICENSE "$OUT/bin/LICENSE"
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$OUT/bin" -cf - LICENSE "${files[@]}" | gzip -n -9 > "$OUT/kubectl-piyasa.tar.gz"
b=$(size "$OUT/kubectl-piyasa.tar.gz")
mark=
if over "$b" "$ARCHIVE_MAX"; then mark=" OVER"; fail=1; fi
printf '%-28s %8s %8s%s\n' "kubectl-piyasa.tar.gz" "$(mib "$b")" "$ARCHIVE_MAX" "$mark"
exit $fail
