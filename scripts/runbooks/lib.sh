# shellcheck shell=bash
# lib.sh: what every runbook shares. Sourced, not run. The runbooks chain
# `kubectl piyasa ...` through exit codes and `-o json` (read with jq) only:
# they never scrape a table.
#
# Common flags, parsed by rb_common_flag: --env ENV, -n/--namespace NS
# (passed through to every command), --dry-run (print the commands that would
# change something instead of running them; read-only commands still run),
# -h/--help.

set -euo pipefail

RB_NAME=$(basename "$0")
RB_DRY_RUN=false
RB_TARGET=()   # --env / -n, passed to every kubectl piyasa command

# The command that runs the suite ($PIYASA, default "kubectl piyasa").
read -r -a RB_PIYASA <<<"${PIYASA:-kubectl piyasa}"

rb_die() { # rb_die CODE MESSAGE...
  local code=$1; shift
  printf '%s: error: %s\n' "$RB_NAME" "$*" >&2
  exit "$code"
}

rb_info() { printf '%s: %s\n' "$RB_NAME" "$*" >&2; }

# rb_common_flag "$@": consumes one common flag; sets RB_SHIFT to how many
# arguments it took (0 when the flag is not a common one).
# shellcheck disable=SC2034  # RB_SHIFT is read by the runbooks
rb_common_flag() {
  RB_SHIFT=0
  case "${1:-}" in
    --env|-n|--namespace)
      [[ $# -ge 2 && -n "${2:-}" ]] || rb_die 2 "$1 needs a value"
      RB_TARGET+=("$1" "$2"); RB_SHIFT=2 ;;
    --env=*|--namespace=*|-n=*) RB_TARGET+=("$1"); RB_SHIFT=1 ;;
    --dry-run) RB_DRY_RUN=true; RB_SHIFT=1 ;;
    -h|--help) rb_usage; exit 0 ;;
  esac
}

rb_need() { # rb_need TOOL...: the tools a runbook needs
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || rb_die 2 "$t is required (install it and retry)"
  done
}

# rb_quote ARGS...: the command line as a shell would take it back.
rb_quote() { local out="" a; for a in "$@"; do out+=" $(printf '%q' "$a")"; done; printf '%s' "${out# }"; }

# rb_piyasa ARGS...: runs a read-only `kubectl piyasa` command (also in a dry run).
rb_piyasa() {
  "${RB_PIYASA[@]}" "$@" "${RB_TARGET[@]}"
}

# rb_change ARGS...: runs a `kubectl piyasa` command that changes something;
# in a dry run it only prints it (prefixed with "would run:").
rb_change() {
  if $RB_DRY_RUN; then
    printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" "$@" "${RB_TARGET[@]}")"
    return 0
  fi
  rb_info "running: $(rb_quote "${RB_PIYASA[@]}" "$@" "${RB_TARGET[@]}")"
  "${RB_PIYASA[@]}" "$@" "${RB_TARGET[@]}"
}

# rb_json ARGS...: a read-only command's -o json document on stdout; its exit
# status is the command's (the document still describes the state when it is
# non-zero, e.g. deploy status of an app that is not ready).
rb_json() { rb_piyasa "$@" -o json; }

# rb_target_text: the --env/-n arguments as text, for the commands printed to a person.
rb_target_text() { if [[ ${#RB_TARGET[@]} -gt 0 ]]; then printf ' %s' "$(rb_quote "${RB_TARGET[@]}")"; fi; }
