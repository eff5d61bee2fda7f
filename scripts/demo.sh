#!/usr/bin/env bash
# demo.sh: the suite's main job on the local demo cluster. Builds nothing
# itself (make demo builds first); starts the cluster "piyasa" if it is not
# running, then deploys the app's dev overlay with a fresh .env, shows its
# status, scales the workers and runs diagnose, all through `kubectl piyasa`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/cp-versions.sh"
export PATH=$root/bin:$PATH:$CP_BIN
kc=$CP_CACHE/clusters/piyasa.kubeconfig
if ! KUBECONFIG=$kc kubectl get --raw /readyz >/dev/null 2>&1; then
  kc=$("$root/scripts/cluster.sh" up piyasa)
fi
export KUBECONFIG=$kc
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step kubectl piyasa version
step kubectl piyasa deploy init-env -f "$work/.env"
step kubectl piyasa deploy --env dev --env-file "$work/.env" --timeout 3m
step kubectl piyasa deploy status --env dev
step kubectl piyasa scale worker 3 --env dev
step kubectl piyasa scale status --env dev
step kubectl piyasa diagnose --env dev || true
printf '\nThe cluster keeps running: export KUBECONFIG=%s (make cluster-down stops it).\n' "$kc"
