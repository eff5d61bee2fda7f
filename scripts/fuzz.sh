#!/usr/bin/env bash
# Run the Go fuzz targets of the repository one after another, each for a
# fixed time, and print one line per target (execs, new corpus entries).
#
# Usage: scripts/fuzz.sh [--time 15s] [--keep] [--list] [FuzzName...]
#
#   --time D  how long each target runs (go test -fuzztime; default 15s)
#   --keep    afterwards, copy the corpus entries the fuzzer found (Go keeps
#             them in its cache, $(go env GOCACHE)/fuzz) into the package's
#             testdata/fuzz/<FuzzName>, to commit: the next runs start from them
#   --list    print the targets (package and name) and exit
#
# The targets are every `func FuzzX(f *testing.F)` under shared/ and plugins/.
# A failing input is written by go test itself into
# <package>/testdata/fuzz/<FuzzName>/ (keep it: it is the regression seed of
# the fix); the script exits 1 after running the other targets.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=15s keep=false list=false only=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --time) [[ $# -ge 2 ]] || { echo "error: --time needs a value" >&2; exit 2; }; fuzztime=$2; shift 2 ;;
    --keep) keep=true; shift ;;
    --list) list=true; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "error: unknown flag $1" >&2; exit 2 ;;
    *) only+=("$1"); shift ;;
  esac
done

# "dir name" per target, sorted.
mapfile -t targets < <(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' shared plugins |
  sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]+)\(.*#\1 \2#' | sort -u)
if [[ ${#only[@]} -gt 0 ]]; then
  mapfile -t targets < <(printf '%s\n' "${targets[@]}" | grep -wFf <(printf '%s\n' "${only[@]}"))
fi
if $list; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi
[[ ${#targets[@]} -gt 0 ]] || { echo "error: no fuzz target matches" >&2; exit 2; }

module=$(go list -m)
cache=$(go env GOCACHE)/fuzz
failed=()
for t in "${targets[@]}"; do
  dir=${t% *} name=${t#* }
  log=$(mktemp)
  start=$SECONDS
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "./$dir" >"$log" 2>&1; then
    status=ok
  else
    status=FAIL
    failed+=("$name")
  fi
  # go test's last progress line: "fuzz: elapsed: 15s, execs: 123 (8/sec), new interesting: 4 (total: 30)"
  last=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -1 || true)
  execs=$(sed -nE 's/.*execs: ([0-9]+) .*/\1/p' <<<"$last")
  newi=$(sed -nE 's/.*new interesting: ([0-9]+) .*/\1/p' <<<"$last")
  printf 'fuzz: %-4s %-34s %-20s %9s execs in %ss, %s new corpus entries\n' "$status" "$name" "$dir" "${execs:-?}" "$((SECONDS - start))" "${newi:-?}"
  if [[ $status == FAIL ]]; then
    grep -vE '^fuzz: elapsed' "$log" | tail -40 | sed 's/^/    /'
  fi
  rm -f "$log"
  if $keep; then
    src=$cache/$module/$dir/$name
    dst=$dir/testdata/fuzz/$name
    if [[ -d $src ]]; then
      mkdir -p "$dst"
      n=0
      for f in "$src"/*; do
        [[ -e $dst/$(basename "$f") ]] && continue
        cp "$f" "$dst/" && n=$((n + 1))
      done
      echo "fuzz: kept $n new entries in $dst"
    fi
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]} (the failing inputs are in testdata/fuzz/<name>/ of their packages)" >&2
  exit 1
fi
