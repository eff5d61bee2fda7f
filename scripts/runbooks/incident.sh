#!/usr/bin/env bash
# incident.sh: what to look at first, and what to attach to the ticket.
#   diagnose -o json -> the top findings with their fix commands -> a support
#   bundle -> a short report file a person can paste into a ticket.
# No secret value reaches the report: it is built from diagnose's report and
# deploy status, which carry none, and the bundle is redacted by diagnose.
. "$(dirname "$0")/lib.sh"

rb_usage() {
  cat <<USAGE
Usage: $RB_NAME [--env dev|prod] [-n NS] [--out DIR] [--top N] [--dry-run]

  --out DIR   where the report and the bundle go (default: the current directory)
  --top N     how many findings to show first (default 5)
  --dry-run   print the commands that would write files; write none

Writes DIR/incident-<time>.md (the report) and DIR/incident-<time>.tar.gz (the
support bundle, mode 0600). Exit status: diagnose's (0 nothing failing,
1 problems found, 3 the cluster could not be read); 2 bad input.
USAGE
}

out=. top=5
while [[ $# -gt 0 ]]; do
  rb_common_flag "$@"
  if [[ $RB_SHIFT -gt 0 ]]; then shift "$RB_SHIFT"; continue; fi
  case "$1" in
    --out) [[ $# -ge 2 ]] || rb_die 2 "--out needs a directory"; out=$2; shift 2 ;;
    --top) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || rb_die 2 "--top needs a number"; top=$2; shift 2 ;;
    *) rb_die 2 "unknown argument $1 (see --help)" ;;
  esac
done
rb_need kubectl jq
[[ -d $out && -w $out ]] || rb_die 2 "--out $out is not a writable directory"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
report_file=$out/incident-$stamp.md
bundle_file=$out/incident-$stamp.tar.gz

set +e
report=$(rb_json diagnose)
diag=$?
set -e
if [[ $diag -ne 0 && $diag -ne 1 ]] || ! jq -e .kind >/dev/null 2>&1 <<<"$report"; then
  rb_die "$diag" "diagnose could not read the namespace (exit $diag); check: kubectl piyasa diagnose$(rb_target_text)"
fi
ns=$(jq -r .namespace <<<"$report")

findings=$(jq -r --argjson top "$top" '
  def rank: {"error":0,"warning":1,"info":2}[.severity] // 3;
  [.findings // [] | .[]] | sort_by(rank) | .[:$top][] |
  "- **\(.severity | ascii_upcase) \(.code)** \(.component) \(.object.kind|ascii_downcase)/\(.object.name): \(.message)" +
  (if (.fix // "") != "" then "\n  fix: `\(.fix)`" else "" end)' <<<"$report")
summary=$(jq -r '.summary | "\(.errors) errors, \(.warnings) warnings, \(.passed) checks passed (\(.skipped) skipped), score \(.score)/100"' <<<"$report")

echo "Top findings in $ns: $summary"
if [[ -n $findings ]]; then printf '%s\n' "$findings"; else echo "- none"; fi

if $RB_DRY_RUN; then
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" diagnose bundle -f "$bundle_file" "${RB_TARGET[@]}")"
  printf 'would write: %s\n' "$report_file"
  exit "$diag"
fi

bundle_note="$bundle_file"
if ! rb_piyasa diagnose bundle -f "$bundle_file" >&2; then
  bundle_note="(the bundle could not be written: run kubectl piyasa diagnose bundle -f FILE$(rb_target_text))"
fi

status=$(rb_json deploy status) || true
components=$(jq -r '.components[]? | "| \(.component) | \(.kind) \(.workload) | \(.ready // 0)/\(.desired // 0) | \(if .rolledOut then "yes" else "no" end) |"' <<<"$status" 2>/dev/null || true)

umask 077
{
  echo "# Incident report: $ns ($(jq -r .environment <<<"$report")), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "diagnose: $summary (exit $diag)"
  echo
  echo "## Top findings"
  if [[ -n $findings ]]; then printf '%s\n' "$findings"; else echo "- none"; fi
  echo
  echo "## Components"
  echo "| component | workload | ready | rolled out |"
  echo "|---|---|---|---|"
  printf '%s\n' "${components:-| (deploy status could not be read) | | | |}"
  echo
  echo "## Attachments"
  echo "- support bundle (secret values redacted): $bundle_note"
  echo "- full report: kubectl piyasa diagnose -o json$(rb_target_text)"
} >"$report_file"
echo "Report: $report_file"
echo "Bundle: $bundle_note"
exit "$diag"
