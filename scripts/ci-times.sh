#!/usr/bin/env bash
# Time per CI stage and per e2e package, from what `make test` leaves in
# ~/.cache/kubectl-piyasa/ci (make's CI_OUT): `stages` (a "STAGE SECONDS" line per stage) and `e2e.json` (the
# `go test -json` stream of the e2e packages).
#
# Usage: scripts/ci-times.sh [DIR]            stages and e2e packages of DIR (default ~/.cache/kubectl-piyasa/ci)
#        scripts/ci-times.sh --json FILE      the packages of any `go test -json` file
#        scripts/ci-times.sh --failures FILE  the output of the failed tests of FILE
#
# Per package: its wall time, and from the harness's lines what it spent
# before its first test (binaries built, cluster up, ready) and in its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v jq >/dev/null || { echo "ci-times: jq is required (apt-get install jq)" >&2; exit 2; }

packages() {
  jq -rs '
    def secs(re): ([capture(re)] | first // {s: "-"}).s;
    ([.[] | select(.Time) | .Time[0:19] + "Z" | fromdateiso8601] | (max - min)) as $wall
    | ([.[] | select(.Test == null and .Package)] | group_by(.Package)[]
       | {pkg: .[0].Package,
          end: (map(select(.Action == "pass" or .Action == "fail" or .Action == "skip")) | last),
          out: (map(select(.Action == "output") | .Output) | join(""))}
       | select(.end != null and .end.Action != "skip")
       | [.pkg, .end.Action, (.end.Elapsed | tostring),
          (.out | secs("binaries built in (?<s>[0-9.]+)s") as $b
           | if $b != "-" then $b
             else ([capture("\\$ go build [^\n]* # exit 0 in ((?<m>[0-9]+)m)?(?<s>[0-9.]+)s")] | first
                   | if . == null then "-" else ((.m // "0" | tonumber) * 60 + (.s | tonumber) | tostring) end)
             end),
          (.out | secs("cluster [^ ]+ up in (?<s>[0-9.]+)s")),
          (.out | secs("ready for the tests after (?<s>[0-9.]+)s"))] | @tsv),
      "wall\t\($wall)"' "$1" |
    awk -F'\t' '
      $1 == "wall" { wall = $2; next }
      { n++; sum += $3; line[n] = $0; el[n] = $3 }
      END {
        printf "%-44s %-4s %8s %8s %8s %8s %8s\n", "e2e package", "", "total", "build", "cluster", "ready", "tests"
        # longest first
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (el[j] > el[i]) { t = line[i]; line[i] = line[j]; line[j] = t; t = el[i]; el[i] = el[j]; el[j] = t }
        for (i = 1; i <= n; i++) {
          split(line[i], f, "\t"); sub(/^.*\/test\//, "test/", f[1])
          # a harness without the "ready" line built, then started the cluster: one after the other
          if (f[6] == "-" && f[4] != "-" && f[5] != "-") f[6] = f[4] + f[5]
          for (k = 4; k <= 6; k++) if (f[k] != "-") f[k] = sprintf("%.1f", f[k])
          tests = (f[6] == "-") ? "-" : sprintf("%.1f", f[3] - f[6])
          printf "%-44s %-4s %7.1fs %8s %8s %8s %8s\n", f[1], f[2], f[3], f[4], f[5], f[6], tests
        }
        printf "%-44s %-4s %7.1fs  (sum of the packages; e2e wall time %ds)\n", "all " n " packages", "", sum, wall
      }'
}

failures() {
  jq -jrs '
    (map(select(.Test != null and .Action == "fail") | "\(.Package) \(.Test)")) as $failed
    | .[] | select(.Action == "output" and .Test != null and ("\(.Package) \(.Test)" | IN($failed[])))
    | .Output' "$1"
}

case ${1:-} in
--json) packages "$2" ;;
--failures) failures "$2" ;;
-h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' ;;
*)
  dir=${1:-$HOME/.cache/kubectl-piyasa/ci}
  if [[ -f $dir/stages ]]; then
    # "STAGE... SECONDS" per line (make test: `fuzz FUZZTIME=2s 95`)
    # and "wall SECONDS" last: the stages overlap (e2e runs beside unit and fuzz)
    awk '$1 == "wall" && NF == 2 { wall = $2; next }
         { secs = $NF; $NF = ""; sub(/ $/, ""); total += secs; printf "%-44s %7ds\n", $0, secs }
         END { printf "%-44s %7ds\n", "sum of the stages", total
               if (wall != "") printf "%-44s %7ds\n", "wall time (e2e beside unit and fuzz)", wall
               print "" }' "$dir/stages"
  fi
  [[ -f $dir/e2e.json ]] && packages "$dir/e2e.json"
  ;;
esac
