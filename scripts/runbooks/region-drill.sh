#!/usr/bin/env bash
# region-drill.sh: the disaster-recovery drill across regions, on a scratch
# deployment of a fleet (its own namespaces, never production):
#   every region ready (deploy status --fleet) -> unplanned failover to the
#   standby while the primary still answers (fenced at once) -> the old
#   primary rejoins as a standby -> diagnose --fleet --probe -> planned
#   switchover back to the old primary -> diagnose --fleet --probe -> the RTO
#   and RPO of each leg, measured by failover itself (its -o json document).
. "$(dirname "$0")/lib.sh"

rb_usage() {
  cat <<USAGE
Usage: $RB_NAME --fleet FILE [--to REGION] [--planned-only] [--timeout 10m] [--dry-run]

  --fleet FILE     the fleet file of a SCRATCH deployment (its own namespaces, never
                   production): failover rewrites its role lines; after the drill the
                   primary is the original one again
  --to REGION      the standby to fail over to (name or context; default the first standby)
  --planned-only   no unplanned leg: a planned switchover to the standby and back
  --timeout D      passed to every failover and rejoin (each rollout, stop, replay, clone)
  --dry-run        check that every region is ready and print the commands that would
                   change something; run none of them

Legs: 1. every region ready (kubectl piyasa deploy status --fleet FILE -o json exits 0
for each; a standby's database streaming);
2. unplanned failover to the standby while the primary still answers (fenced at once;
--accept-data-loss 3600), then 'failover rejoin' of the old primary; 3. diagnose --fleet
--probe: no error of PIY990/PIY991/PIY992; 4. planned switchover back to the old primary;
5. diagnose again. Prints each leg's RTO (failover's 'seconds': from its start until the
new primary's app is up), its RPO (rpo.seconds: the age of the last transaction the
standby had replayed at promotion; 0 for a planned switchover), the failover's own time
(overheadSeconds) and the rejoin's time. With --planned-only leg 2 is a planned
switchover to the standby (no rejoin). Exit status: 0 only when every step passed; 1 a
step failed (named, with the state it left); 2 bad input; 3 a cluster unreachable or
forbidden.
USAGE
}

fleet_file="" to="" planned_only=false timeout=""
while [[ $# -gt 0 ]]; do
  rb_common_flag "$@"
  if [[ $RB_SHIFT -gt 0 ]]; then shift "$RB_SHIFT"; continue; fi
  case "$1" in
    --fleet) [[ -n ${2:-} ]] || rb_die 2 "--fleet needs a file"; fleet_file=$2; shift 2 ;;
    --fleet=*) fleet_file=${1#--fleet=}; shift ;;
    --to) [[ -n ${2:-} ]] || rb_die 2 "--to needs a region"; to=$2; shift 2 ;;
    --to=*) to=${1#--to=}; shift ;;
    --planned-only) planned_only=true; shift ;;
    --timeout) [[ ${2:-} =~ ^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$ ]] || rb_die 2 "--timeout needs a duration such as 10m"; timeout=$2; shift 2 ;;
    *) rb_die 2 "unknown argument $1 (see --help)" ;;
  esac
done
[[ -n $fleet_file ]] || rb_die 2 "give --fleet FILE, the fleet file of a scratch deployment (see --help)"
[[ -f $fleet_file && -r $fleet_file ]] || rb_die 2 "--fleet: cannot read '$fleet_file'"
[[ ${#RB_TARGET[@]} -eq 0 ]] || rb_die 2 "--env/-n cannot be used: the fleet file names each region's environment and namespace"
rb_need kubectl jq

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
fleet=(--fleet "$fleet_file")
wait_opt=()
[[ -z $timeout ]] || wait_opt=(--timeout "$timeout")

# drill_fail STEP CODE [STATE]: the drill stops at STEP; a command's exit 2
# or 3 (bad input, unreachable) is the drill's, anything else is 1.
drill_fail() {
  local code=1
  case $2 in 2|3|130) code=$2 ;; esac
  echo "region-drill: FAILED at $1 (exit $2)"
  [[ -z ${3:-} ]] || echo "  state: $3"
  exit "$code"
}

# messages FILE: the "error:"/"hint:" lines a command printed, on one line.
messages() { grep -E '^(error|hint): ' "$1" 2>/dev/null | paste -sd ' ' - || true; }

# fleet_status: the List of `deploy status --fleet -o json` in $work/status.json; its exit code.
fleet_status() {
  local rc=0
  rb_piyasa deploy status "${fleet[@]}" -o json >"$work/status.json" 2>"$work/status.err" || rc=$?
  return "$rc"
}

# 1. preflight: every region ready; the primary and the standby from the
# fleet file's regions as the command read them.
rc=0
fleet_status || rc=$?
if ! jq -e '.items | length > 0' "$work/status.json" >/dev/null 2>&1; then
  cat "$work/status.err" >&2
  [[ $rc -ne 0 ]] || rc=1
  drill_fail "preflight: kubectl piyasa deploy status --fleet $fleet_file" "$rc" "$(messages "$work/status.err")"
fi
# Every region must be ready (a standby region's api, worker and frontend at
# 0 count as ready in deploy status), and a standby's database must stream.
not_ready=$(jq -r '
  [.items[] | select(.exitCode != 0 or (.role == "standby" and .document.replication.receiverStatus != "streaming")) |
    "\(.region) (context \(.context), \(.role)): exit \(.exitCode)\(if .error then ": " + .error else "" end)\(
      if .role == "standby" and .document.replication then ", database: " + .document.replication.message else "" end)"] | join("; ")' "$work/status.json")
if [[ -n $not_ready ]]; then
  cat "$work/status.err" >&2
  [[ $rc -ne 0 ]] || rc=1
  [[ $rc -eq 3 ]] || ! jq -e 'any(.items[]; .exitCode == 3)' "$work/status.json" >/dev/null || rc=3
  drill_fail "preflight: not every region is ready" "$rc" "$not_ready"
fi
primary=$(jq -r '[.items[] | select(.role == "primary") | .region] | if length == 1 then .[0] else empty end' "$work/status.json")
[[ -n $primary ]] || rb_die 2 "$fleet_file: exactly one region must be the primary"
if [[ -n $to ]]; then
  standby=$(jq -r --arg to "$to" '[.items[] | select(.region == $to or .context == $to)] | .[0] // empty | select(.role == "standby") | .region' "$work/status.json")
  [[ -n $standby ]] || rb_die 2 "--to $to: no standby region of $fleet_file has this name or context (regions: $(jq -r '[.items[] | "\(.region) (\(.role))"] | join(", ")' "$work/status.json"))"
else
  standby=$(jq -r '[.items[] | select(.role == "standby") | .region] | .[0] // empty' "$work/status.json")
  [[ -n $standby ]] || rb_die 2 "$fleet_file has no standby region to fail over to"
fi
rb_info "every region is ready; primary $primary, standby $standby ($fleet_file: a scratch deployment, never production)"

# diagnose_fleet LEG: diagnose --fleet --probe exits 0 or 1 with no error
# of the checks across the regions (PIY990, PIY991, PIY992).
diagnose_fleet() {
  local rc=0 bad
  rb_piyasa diagnose "${fleet[@]}" --probe -o json >"$work/diag.json" 2>"$work/diag.err" || rc=$?
  if [[ $rc -gt 1 ]] || ! jq -e '.items' "$work/diag.json" >/dev/null 2>&1; then
    cat "$work/diag.err" >&2
    drill_fail "$1: kubectl piyasa diagnose --fleet $fleet_file --probe" "$([[ $rc -gt 1 ]] && echo "$rc" || echo 1)" "$state; $(messages "$work/diag.err")"
  fi
  bad=$(jq -r '[(.findings // [])[] | select(.severity == "error" and (.code == "PIY990" or .code == "PIY991" or .code == "PIY992")) | "\(.code) \(.message)"] | join("; ")' "$work/diag.json")
  [[ -z $bad ]] || drill_fail "$1: diagnose --fleet --probe found $bad" 1 "$state; see kubectl piyasa diagnose --fleet $fleet_file --probe"
  rb_info "$1: diagnose --fleet --probe: no error across the regions (exit $rc)"
}

# failover_leg NAME TO ARGS...: runs failover -o json; its document in $work/NAME.json.
failover_leg() {
  local name=$1 dest=$2 rc=0 failed; shift 2
  rb_info "running: $(rb_quote "${RB_PIYASA[@]}" failover "${fleet[@]}" --to "$dest" "$@" --yes -o json "${wait_opt[@]}")"
  # stderr shown as it comes and kept (for the message); stdout the document.
  "${RB_PIYASA[@]}" failover "${fleet[@]}" --to "$dest" "$@" --yes -o json "${wait_opt[@]}" 2>&1 >"$work/$name.json" | tee "$work/$name.err" >&2 || rc=$?
  if [[ $rc -ne 0 ]] || ! jq -e '.kind == "Failover" and .exitCode == 0' "$work/$name.json" >/dev/null 2>&1; then
    failed=$(jq -r '[.steps[]? | select(.error) | "\(.region): \(.step): \(.error)"] | join("; ")' "$work/$name.json" 2>/dev/null) || true
    drill_fail "the $name (failover --to $dest$(printf ' %s' "$@"))${failed:+: $failed}" "$([[ $rc -ne 0 ]] && echo "$rc" || echo 1)" "$(messages "$work/$name.err")"
  fi
}

if $planned_only; then
  first=(--planned) first_name="planned switchover"
else
  first=(--accept-data-loss 3600) first_name="unplanned failover"
fi

if $RB_DRY_RUN; then
  # The plan of the first leg, read-only (it checks the standby too).
  rb_piyasa failover "${fleet[@]}" --to "$standby" "${first[@]}" --dry-run=client >&2 ||
    drill_fail "the plan of the $first_name (failover --dry-run=client)" $?
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" failover "${fleet[@]}" --to "$standby" "${first[@]}" --yes -o json "${wait_opt[@]}")"
  $planned_only || printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" failover rejoin "${fleet[@]}" "$primary" --yes "${wait_opt[@]}")"
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" failover "${fleet[@]}" --to "$primary" --planned --yes -o json "${wait_opt[@]}")"
  echo "region-drill: dry run: $primary -> $standby -> $primary on $fleet_file; nothing changed"
  exit 0
fi

# 2. the first leg: to the standby (unplanned: the primary answers, so it
# is fenced at once), then the old primary rejoins.
failover_leg "$first_name" "$standby" "${first[@]}"
state="$standby is the primary ($fleet_file says so), $primary its standby"
$planned_only || state="$standby is the primary ($fleet_file says so), $primary fenced (not yet rejoined)"
rejoin=""
if ! $planned_only; then
  t0=$(date +%s%N)
  rc=0
  rb_change failover rejoin "${fleet[@]}" "$primary" --yes "${wait_opt[@]}" 2>&1 | tee "$work/rejoin.err" >&2 || rc=$?
  [[ $rc -eq 0 ]] || drill_fail "the rejoin of $primary (failover rejoin)" "$rc" \
    "$standby is the primary; $(messages "$work/rejoin.err")"
  rejoin=$(( ($(date +%s%N) - t0) / 100000000 ))
  rejoin="$((rejoin / 10)).$((rejoin % 10))"
  state="$standby is the primary ($fleet_file says so), $primary its standby"
fi

# 3. the fleet as a whole after the first leg.
diagnose_fleet "the check after the $first_name"

# 4. back to the old primary, planned: nothing lost.
failover_leg "switchover back" "$primary" --planned
state="$primary is the primary again, $standby its standby"

# 5. again.
diagnose_fleet "the check after the switchover back"

# The fleet file names the original primary again.
fleet_status || true
now=$(jq -r '[.items[]? | select(.role == "primary") | .region] | join(",")' "$work/status.json" 2>/dev/null) || true
[[ $now == "$primary" ]] || drill_fail "the end: $fleet_file names '$now' the primary, not $primary" 1

# 6. the report.
leg() { # leg NAME: RTO, RPO and the failover's own time from its document
  jq -r 'def s: if type == "number" then tostring | if test("[.e]") then . else . + ".0" end else "unknown" end;
    "RTO \(.seconds | s) s (the failover'"'"'s own work \(.overheadSeconds | s) s, waiting \(.waitSeconds | s) s), RPO \(.rpo.seconds | s) s\(if .rpo.lastReplayed then " (last transaction replayed \(.rpo.lastReplayed), promoted \(.rpo.promotedAt))" elif .planned then "" else " (no transaction replayed since the standby started)" end), \(.totalWorkers) workers"' "$work/$1.json"
}
echo "region-drill: $primary -> $standby -> $primary on $fleet_file"
echo "  $first_name $primary -> $standby: $(leg "$first_name")"
[[ -z $rejoin ]] || echo "  rejoin of $primary as a standby of $standby: $rejoin s"
echo "  planned switchover $standby -> $primary: $(leg "switchover back")"
echo "  diagnose --fleet --probe after each leg: no error across the regions"
echo "region-drill: OK ($primary is the primary again)"
