#!/usr/bin/env bash
# scale-for-event.sh --api N --worker M: more capacity for an expected peak.
# Raises the api (and frontend) HPA minimums, or their replicas when they have
# no HPA, and scales the workers (TOTAL_WORKERS follows), then prints the
# command that returns to the state read before from `scale status -o json`.
. "$(dirname "$0")/lib.sh"

rb_usage() {
  cat <<USAGE
Usage: $RB_NAME [--api N] [--worker M] [--frontend F] [--until TIME] [--env dev|prod] [-n NS] [--dry-run]

  --api N       at least N api pods (the HPA's minimum; its maximum is raised to N when lower)
  --worker M    M workers (kubectl piyasa scale worker keeps TOTAL_WORKERS equal to M)
  --frontend F  at least F frontend pods
  --until TIME  stay scaled until TIME (anything 'date -d' reads, e.g. "22:00" or
                "2026-12-24 06:00"), then return to the previous state; Ctrl-C
                while waiting prints the return command and leaves the capacity as it is
  --dry-run     print the commands that would change something; run none of them

Exit status: 0 scaled (and, with --until, returned); 1 a scale failed (that
command rolled its own change back; the steps before it stay: the return
command is printed); 2 bad input; 3 cluster unreachable or forbidden; 130 interrupted.
USAGE
}

api="" worker="" frontend="" until=""
num() { [[ $2 =~ ^[0-9]+$ ]] || rb_die 2 "$1 needs a whole number, got '$2'"; }
while [[ $# -gt 0 ]]; do
  rb_common_flag "$@"
  if [[ $RB_SHIFT -gt 0 ]]; then shift "$RB_SHIFT"; continue; fi
  case "$1" in
    --api) num "$1" "${2:-}"; api=$2; shift 2 ;;
    --worker) num "$1" "${2:-}"; worker=$2; shift 2 ;;
    --frontend) num "$1" "${2:-}"; frontend=$2; shift 2 ;;
    --until) [[ $# -ge 2 ]] || rb_die 2 "--until needs a time"; until=$2; shift 2 ;;
    *) rb_die 2 "unknown argument $1 (see --help)" ;;
  esac
done
[[ -n $api$worker$frontend ]] || rb_die 2 "nothing to scale: give --api, --worker or --frontend (see --help)"
rb_need kubectl jq
deadline=""
if [[ -n $until ]]; then
  deadline=$(date -d "$until" +%s 2>/dev/null) || rb_die 2 "--until: cannot read the time '$until'"
  (( deadline > $(date +%s) )) || rb_die 2 "--until $until is not in the future"
fi

before=$(rb_json scale status) || [[ $? -eq 1 ]] || rb_die 3 "cannot read the current scale (kubectl piyasa scale status$(rb_target_text))"
comp() { jq -c --arg c "$1" '.components[] | select(.component==$c)' <<<"$before"; }

steps=()  # the changes, in order
back=()   # the commands that undo them, in reverse order
plan() { # plan COMPONENT N
  local c=$1 n=$2 cur min max hpa
  cur=$(comp "$c")
  [[ -n $cur && $(jq -r .found <<<"$cur") == true ]] || rb_die 1 "$c is not deployed here: kubectl piyasa deploy status$(rb_target_text)"
  hpa=$(jq -r '.hpa.name // ""' <<<"$cur")
  if [[ $c == worker ]]; then
    steps+=("scale worker $n")
    back=("scale worker $(jq -r .desired <<<"$cur")" "${back[@]}")
  elif [[ -n $hpa ]]; then
    min=$(jq -r .hpa.minReplicas <<<"$cur"); max=$(jq -r .hpa.maxReplicas <<<"$cur")
    if (( n > max )); then steps+=("scale hpa $c --min $n --max $n"); else steps+=("scale hpa $c --min $n"); fi
    back=("scale hpa $c --min $min --max $max" "${back[@]}")
  else
    steps+=("scale $c $n")
    back=("scale $c $(jq -r .desired <<<"$cur")" "${back[@]}")
  fi
}
[[ -z $api ]] || plan api "$api"
[[ -z $frontend ]] || plan frontend "$frontend"
[[ -z $worker ]] || plan worker "$worker"

return_cmd() {
  local s out=""
  for s in "${back[@]}"; do out+="${out:+ && }kubectl piyasa $s$(rb_target_text)"; done
  printf '%s' "$out"
}

for s in "${steps[@]}"; do
  read -r -a words <<<"$s"
  set +e
  rb_change "${words[@]}"
  rc=$?
  set -e
  if [[ $rc -ne 0 ]]; then
    rb_info "step failed (exit $rc): kubectl piyasa $s; it rolled its own change back"
    rb_info "to return to the state before this runbook: $(return_cmd)"
    exit "$rc"
  fi
done

echo "To return to the previous state: $(return_cmd)"
[[ -n $deadline ]] || exit 0
if $RB_DRY_RUN; then
  printf 'would wait until %s, then run: %s\n' "$(date -d "@$deadline")" "$(return_cmd)"
  exit 0
fi
trap 'rb_info "interrupted: the capacity stays; to return later: $(return_cmd)"; exit 130' INT TERM
rb_info "holding until $(date -d "@$deadline")"
while (( $(date +%s) < deadline )); do sleep 5 & wait $!; done
trap - INT TERM
for s in "${back[@]}"; do
  read -r -a words <<<"$s"
  rb_change "${words[@]}"
done
rb_info "returned to the previous state"
