#!/usr/bin/env bash
# rotate-secrets.sh NEW_ENV_FILE: validate -> secret rotate -> wait for api
# and worker -> diagnose. Exit status: 0 rotated and healthy.
. "$(dirname "$0")/lib.sh"

rb_usage() {
  cat <<USAGE
Usage: $RB_NAME NEW_ENV_FILE [--env dev|prod] [-n NS] [--timeout 10m] [--dry-run]

Replaces Secret piyasa-secrets with the values of NEW_ENV_FILE: validates the
file and the change with a server dry run first, rotates, waits until the api
and the workers run with the new values, then runs diagnose.
Keep DATABASE_PASSWORD and TOKEN_ENCRYPTION_KEY as they are unless you mean to
change them: PostgreSQL keeps its password, and tokens encrypted with the old
key can no longer be read.

Exit status: 0 rotated and diagnose clean; 1 the rotation's rollout or
diagnose failed; 2 bad input (nothing changed); 3 cluster unreachable or forbidden.
USAGE
}

file=""
timeout=10m
while [[ $# -gt 0 ]]; do
  rb_common_flag "$@"
  if [[ $RB_SHIFT -gt 0 ]]; then shift "$RB_SHIFT"; continue; fi
  case "$1" in
    --timeout) [[ $# -ge 2 ]] || rb_die 2 "--timeout needs a value"; timeout=$2; shift 2 ;;
    -*) rb_die 2 "unknown flag $1 (see --help)" ;;
    *) [[ -z $file ]] || rb_die 2 "one NEW_ENV_FILE only"; file=$1; shift ;;
  esac
done
[[ -n $file ]] || rb_die 2 "NEW_ENV_FILE is required (see --help)"
[[ -r $file ]] || rb_die 2 "cannot read $file"
rb_need kubectl jq

# 1. validate: the file's syntax and keys, and the change, by a server dry run.
set +e
rb_piyasa deploy secret rotate --env-file "$file" --dry-run=server >&2
rc=$?
set -e
[[ $rc -eq 0 ]] || rb_die "$rc" "$file or the change was refused (exit $rc): nothing was changed"

# 2. rotate; it restarts the api and workers and waits for them.
set +e
rb_change deploy secret rotate --env-file "$file" --timeout "$timeout"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  rb_die "$rc" "secret rotate failed (exit $rc): the Secret may hold the new values while pods still run the old ones; see: kubectl piyasa deploy status$(rb_target_text)"
fi
$RB_DRY_RUN && { printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" deploy status "${RB_TARGET[@]}") && $(rb_quote "${RB_PIYASA[@]}" diagnose "${RB_TARGET[@]}")"; exit 0; }

# 3. api and worker rolled out with the new values.
status=$(rb_json deploy status) || true
not_ready=$(jq -r '[.components[] | select((.component=="api" or .component=="worker") and (.rolledOut|not)) | .component] | join(",")' <<<"$status")
[[ -z $not_ready ]] || rb_die 1 "not rolled out after the rotation: $not_ready; see: kubectl piyasa deploy status$(rb_target_text)"

# 4. diagnose
set +e
rb_piyasa diagnose
rc=$?
set -e
[[ $rc -eq 0 ]] && rb_info "rotated: api and workers run with the new Secret, diagnose is clean"
exit "$rc"
