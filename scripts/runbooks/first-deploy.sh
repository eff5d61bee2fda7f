#!/usr/bin/env bash
# first-deploy.sh: the guide's Procedure 1 in one go.
#   init-env (only when the .env is missing) -> deploy -> diagnose,
#   then the commands to reach the app. Exit status: diagnose's.
. "$(dirname "$0")/lib.sh"

rb_usage() {
  cat <<USAGE
Usage: $RB_NAME [--env dev|prod] [-n NS] [--env-file FILE] [--image TAG] [--dry-run]

Deploys the app for the first time: creates FILE with fresh secrets when it
does not exist (kubectl piyasa deploy init-env, mode 0600), deploys, runs
diagnose, and prints how to reach the app.

  --env-file FILE  the .env to deploy with (default .env)
  --image TAG      image tag or reference of api and worker
  --dry-run        print the commands that would change something; run none of them

Exit status: diagnose's (0 healthy, 1 problems found, 3 cluster unreadable);
2 bad input; the deploy's code when the deploy itself fails.
USAGE
}

env_file=.env
deploy_args=()
while [[ $# -gt 0 ]]; do
  rb_common_flag "$@"
  if [[ $RB_SHIFT -gt 0 ]]; then shift "$RB_SHIFT"; continue; fi
  case "$1" in
    --env-file) [[ $# -ge 2 ]] || rb_die 2 "--env-file needs a value"; env_file=$2; shift 2 ;;
    --image) [[ $# -ge 2 ]] || rb_die 2 "--image needs a value"; deploy_args+=(--image "$2"); shift 2 ;;
    *) rb_die 2 "unknown argument $1 (see --help)" ;;
  esac
done
rb_need kubectl jq

if [[ ! -e $env_file ]]; then
  # init-env is local: it takes no --env/-n.
  if $RB_DRY_RUN; then
    printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" deploy init-env -f "$env_file")"
  else
    "${RB_PIYASA[@]}" deploy init-env -f "$env_file"
    rb_info "created $env_file with fresh secrets; put the LLM provider's key in it before going to prod"
  fi
fi

if $RB_DRY_RUN; then
  # The server validates and admits everything; nothing is persisted. A
  # missing .env is stood in for by a throwaway one, removed at once.
  check_env=$env_file
  if [[ ! -e $env_file ]]; then
    scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
    check_env=$scratch/.env
    "${RB_PIYASA[@]}" deploy init-env -f "$check_env" 2>/dev/null
  fi
  rb_piyasa deploy --env-file "$check_env" "${deploy_args[@]}" --dry-run=server >&2 || rb_die $? "the server dry run of the deploy failed"
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" deploy --env-file "$env_file" "${deploy_args[@]}" "${RB_TARGET[@]}")"
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" diagnose "${RB_TARGET[@]}")"
  exit 0
fi

set +e
rb_change deploy --env-file "$env_file" "${deploy_args[@]}"
rc=$?
set -e
[[ $rc -eq 0 ]] || rb_die "$rc" "deploy failed (exit $rc); see its output above, then: kubectl piyasa diagnose$(rb_target_text)"

set +e
rb_piyasa diagnose
diag=$?
set -e

status=$(rb_json deploy status) || true
ns=$(jq -r .namespace <<<"$status")
env=$(jq -r .environment <<<"$status")
api=$(jq -r '.components[] | select(.component=="api") | .workload' <<<"$status")
prefix=${api%api}
echo
echo "The app is deployed in namespace $ns (env $env). To reach it:"
if [[ $env == prod ]]; then
  echo "  kubectl get ingress -n $ns    # the api and frontend hosts"
else
  echo "  kubectl port-forward -n $ns svc/${prefix}api-service 8000:8000 &       # http://localhost:8000/docs"
  echo "  kubectl port-forward -n $ns svc/${prefix}frontend-service 5173:5173 &  # http://localhost:5173"
fi
exit "$diag"
