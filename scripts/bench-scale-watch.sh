#!/usr/bin/env bash
# bench-scale-watch.sh: does `kubectl piyasa scale status -w` keep up with a
# namespace whose pods are recreated continuously, without growing memory?
# A benchmark, not a test: it prints the figures.
#
#   scripts/bench-scale-watch.sh     start cluster piyasa-bench-watch, deploy the app's dev
#                                    overlay, scale the api to PODS, churn, measure, delete
#
# The churn deletes BATCH api pods every INTERVAL seconds for CHURN seconds (the
# Deployment recreates them). The watch's resident memory is sampled every
# second; "keeps up" is the time from the cluster being back at PODS ready pods
# to the watch printing that state (its -o json frames).
#
# (The selector is the api component's, app=piyasa-api, as in shared/app.)
# Environment: PODS (default 1000), CHURN (default 60 s), BATCH (default 50),
# INTERVAL (default 2 s), NAME (cluster name), KEEP=1 keeps the cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/cp-versions.sh
. "$here/cp-versions.sh"
PODS=${PODS:-1000}
CHURN=${CHURN:-60}
BATCH=${BATCH:-50}
INTERVAL=${INTERVAL:-2}
NAME=${NAME:-piyasa-bench-watch}
NODES=${NODES:-$(( PODS / 100 + 3 ))}
NS=bench-watch
command -v jq >/dev/null || { echo "bench-scale-watch: jq is needed (apt-get install jq)" >&2; exit 2; }

work=$(mktemp -d)
watch_pid=
cleanup() {
  if [ -n "$watch_pid" ]; then kill "$watch_pid" 2>/dev/null || true; fi
  [ "${KEEP:-}" = 1 ] || "$here/cluster.sh" down "$NAME" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "bench: building the suite" >&2
mkdir -p "$work/bin"
(cd "$root" && for p in piyasa deploy scale; do
  go build -tags "$(go run ./shared/suite/cmd/binaries -tags)" -o "$work/bin/" "./plugins/$p"
done)
for p in deploy scale; do mv "$work/bin/$p" "$work/bin/kubectl-piyasa-$p"; done
mv "$work/bin/piyasa" "$work/bin/kubectl-piyasa"
export PATH=$work/bin:$PATH:$CP_BIN

KCFG=${CP_CACHE}/clusters/$NAME.kubeconfig
if [ "${KEEP:-}" != 1 ] || [ ! -f "$KCFG" ]; then
  echo "bench: starting cluster $NAME with $NODES nodes" >&2
  KCFG=$(NODES=$NODES "$here/cluster.sh" up "$NAME" | tail -n1)
fi
export KUBECONFIG=$KCFG HOME=$work
K="$CP_BIN/kubectl"
"$K" wait --for=condition=Ready node --all --timeout=2m >/dev/null

kubectl-piyasa-deploy init-env -f "$work/.env" >/dev/null 2>&1
echo "bench: deploying the dev overlay into $NS" >&2
kubectl-piyasa-deploy --env dev -n "$NS" --env-file "$work/.env" --timeout 5m >/dev/null
# The bench wants PODS api pods: the HPA (max 10) would scale them back.
"$K" delete hpa -n "$NS" dev-api-hpa --ignore-not-found >/dev/null
"$K" scale deployment dev-api -n "$NS" --replicas "$PODS" >/dev/null
start=$(date +%s)
"$K" rollout status deployment/dev-api -n "$NS" --timeout=20m >/dev/null
echo "bench: $PODS api pods ready in $(( $(date +%s) - start )) s" >&2

# ready_api FILE: the api's ready count in the last complete JSON frame of the watch.
ready_api() { jq -s -r '[.[] | .components[]? | select(.component == "api") | .ready] | last // 0' "$1" 2>/dev/null || echo 0; }
rss() { awk '/^VmRSS:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo 0; }

kubectl-piyasa-scale status -w -n "$NS" --env dev -o json >"$work/frames" 2>"$work/watch.err" &
watch_pid=$!
until [ "$(ready_api "$work/frames")" = "$PODS" ]; do
  kill -0 "$watch_pid" 2>/dev/null || { echo "bench: the watch ended:" >&2; cat "$work/watch.err" >&2; exit 1; }
  sleep 1
done
rss_synced=$(rss "$watch_pid")
echo "bench: watch synced on $PODS api pods, RSS ${rss_synced} MiB; churning ${CHURN}s ($BATCH pods every ${INTERVAL}s)" >&2

# The sampler: the watch's RSS once a second, into a file, until the watch ends.
( while kill -0 "$watch_pid" 2>/dev/null; do echo "$(date +%s) $(rss "$watch_pid")"; sleep 1; done ) >"$work/rss" &
deleted=0
t_end=$(( $(date +%s) + CHURN ))
while [ "$(date +%s)" -lt "$t_end" ]; do
  mapfile -t victims < <("$K" get pods -n "$NS" -l app=piyasa-api --no-headers -o custom-columns=:metadata.name | shuf -n "$BATCH")
  if [ "${#victims[@]}" -gt 0 ]; then
    "$K" delete pod -n "$NS" --wait=false "${victims[@]}" >/dev/null 2>&1 &
    deleted=$(( deleted + ${#victims[@]} ))
  fi
  sleep "$INTERVAL"
done
wait_deletes() { for j in $(jobs -p); do [ "$j" = "$watch_pid" ] || wait "$j" 2>/dev/null || true; done; }
churn_end=$(date +%s)
frames_churn=$(grep -c '"kind"' "$work/frames" || true)

"$K" rollout status deployment/dev-api -n "$NS" --timeout=10m >/dev/null
settled=$(date +%s.%N)
until [ "$(ready_api "$work/frames")" = "$PODS" ]; do sleep 0.2; done
caught=$(date +%s.%N)
sleep 10
rss_after=$(rss "$watch_pid")
kill -INT "$watch_pid"; wait "$watch_pid" 2>/dev/null || true
watch_pid=
wait_deletes

max=$(awk -v e="$churn_end" '$1 <= e && $2 > m {m = $2} END {print m + 0}' "$work/rss")
half=$(awk -v e="$churn_end" -v c="$CHURN" '$1 <= e - c / 2 && $2 > m {m = $2} END {print m + 0}' "$work/rss")
echo "pods: $PODS api pods; churn: $deleted pods deleted in ${CHURN}s; frames printed: $frames_churn"
echo "watch RSS MiB: synced $rss_synced, peak in the first half of the churn $half, peak over all of it $max, 10 s after churn $rss_after"
awk -v a="$settled" -v b="$caught" 'BEGIN { printf "lag from the cluster settling to the watch showing it: %.1f s\n", b - a }'
