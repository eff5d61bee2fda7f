#!/usr/bin/env bash
# bench-diagnose.sh: how long `kubectl piyasa diagnose` takes, and how much
# memory it peaks at, on a namespace of many pods, against
# `kubectl get pods,deploy,sts,svc,ingress,hpa,pvc,events -o json` on the same
# namespace in the same run. A benchmark, not a test: it prints the figures.
#
#   scripts/bench-diagnose.sh            start cluster piyasa-bench, fill it, measure, delete it
#
# Environment: PODS (default 5000), EVENTS (default 20000 Warning/Normal events
# about those pods, on top of the controllers' own), NODES (default 50; kwok
# nodes hold 110 pods each), RUNS (default 3 runs of each command, interleaved),
# KEEP=1 keeps the cluster (and reuses a filled one on the next run), CHUNK
# (diagnose --chunk-size). Budgets (issue 13's load targets): diagnose's peak
# memory under 250 MiB (MEM_BUDGET) and its time under 0.5x kubectl's read of
# the same kinds (RATIO_BUDGET); the last lines say whether each was met.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/cp-versions.sh
. "$here/cp-versions.sh"
PODS=${PODS:-5000}
EVENTS=${EVENTS:-20000}
MEM_BUDGET=${MEM_BUDGET:-250}
RATIO_BUDGET=${RATIO_BUDGET:-0.5}
NODES=${NODES:-$(( (PODS + 99) / 100 ))}
RUNS=${RUNS:-3}
CHUNK=${CHUNK:-500}
NAME=${NAME:-piyasa-bench}
NS=bench
[ -x /usr/bin/time ] || { echo "bench-diagnose: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "bench: building kubectl-piyasa-diagnose" >&2
(cd "$root" && go build -o "$work/kubectl-piyasa-diagnose" ./plugins/diagnose)

KCFG=${CP_CACHE}/clusters/$NAME.kubeconfig
if [ "${KEEP:-}" != 1 ] || [ ! -f "$KCFG" ]; then
  echo "bench: starting cluster $NAME with $NODES nodes" >&2
  KCFG=$(NODES=$NODES "$here/cluster.sh" up "$NAME" | tail -n1)
fi
if [ "${KEEP:-}" != 1 ]; then
  trap 'rm -rf "$work"; "$here/cluster.sh" down "$NAME"' EXIT
fi
export KUBECONFIG=$KCFG
K="$CP_BIN/kubectl"

have=$("$K" get deploy bench -n $NS -o jsonpath='{.status.readyReplicas}' 2>/dev/null || true)
if [ "${have:-0}" != "$PODS" ]; then
  echo "bench: creating $PODS pods in namespace $NS (a Deployment on kwok nodes)" >&2
  "$K" create namespace $NS --dry-run=client -o yaml | "$K" apply -f - >/dev/null
  start=$(date +%s)
  cat <<YAML | "$K" apply -n $NS -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: bench}
spec:
  replicas: $PODS
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      containers:
      - name: c
        image: example/bench:v1
        resources: {requests: {cpu: 1m, memory: 1Mi}, limits: {cpu: 10m, memory: 16Mi}}
YAML
  "$K" rollout status deployment/bench -n $NS --timeout=40m >/dev/null
  echo "bench: $PODS pods ready in $(( $(date +%s) - start )) s" >&2
fi
planted=$("$K" get events -n $NS --field-selector source=piyasa-bench --no-headers 2>/dev/null | wc -l)
if [ "$planted" -lt "$EVENTS" ]; then
  echo "bench: creating $(( EVENTS - planted )) events in namespace $NS" >&2
  start=$(date +%s)
  mapfile -t pods < <("$K" get pods -n $NS --no-headers -o custom-columns=:metadata.name)
  # 1,000 events a request, as a List; reasons diagnose knows and some it does not.
  python3 - "$NS" "$planted" "$EVENTS" "${pods[@]}" <<'PY' | "$K" create -f - >/dev/null
import json, sys
ns, have, want, pods = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
reasons = [("Warning", "BackOff", "Back-off restarting failed container c in pod {p}"),
           ("Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"),
           ("Warning", "FailedScheduling", "0/50 nodes are available: 50 Insufficient cpu."),
           ("Normal", "Pulled", "Container image \"example/bench:v1\" already present on machine"),
           ("Warning", "FailedMount", "MountVolume.SetUp failed for volume \"data\""),
           ("Normal", "BenchNoise", "an event diagnose has no rule for")]
items = []
for i in range(have, want):
    p = pods[i % len(pods)]
    kind, reason, msg = reasons[i % len(reasons)]
    items.append({"apiVersion": "v1", "kind": "Event",
                  "metadata": {"name": f"bench-{i}", "namespace": ns},
                  "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": p, "namespace": ns},
                  "type": kind, "reason": reason, "message": msg.format(p=p),
                  "source": {"component": "piyasa-bench"}, "count": 1 + i % 7,
                  "firstTimestamp": "2026-12-01T00:00:00Z", "lastTimestamp": "2026-12-01T00:00:00Z"})
    if len(items) == 1000:
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items})); items = []
if items:
    print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
  echo "bench: events created in $(( $(date +%s) - start )) s" >&2
fi
echo "bench: namespace $NS holds $("$K" get pods -n $NS --no-headers | wc -l) pods and $("$K" get events -n $NS --no-headers | wc -l) events" >&2

# measure CMD...: prints "seconds peak_MiB"
measure() {
  /usr/bin/time -v -o "$work/time" "$@" >"$work/out" 2>"$work/err" || true
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
  # wall is [h:]m:ss.ss
  awk -v w="$wall" -v r="$rss" 'BEGIN { n = split(w, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f %.0f\n", s, r / 1024 }'
}

printf '%-10s %-4s %10s %12s\n' COMMAND RUN SECONDS PEAK_MiB
k_s=(); k_m=(); d_s=(); d_m=()
for i in $(seq 1 "$RUNS"); do
  read -r s m < <(measure "$K" get pods,deploy,sts,svc,ingress,hpa,pvc,events -n $NS -o json)
  printf '%-10s %-4s %10s %12s\n' kubectl "$i" "$s" "$m"; k_s+=("$s"); k_m+=("$m")
  read -r s m < <(measure "$work/kubectl-piyasa-diagnose" -n $NS -o json --chunk-size "$CHUNK")
  printf '%-10s %-4s %10s %12s\n' diagnose "$i" "$s" "$m"; d_s+=("$s"); d_m+=("$m")
  cp "$work/out" "$work/report.json"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ks=$(median "${k_s[@]}"); km=$(median "${k_m[@]}"); ds=$(median "${d_s[@]}"); dm=$(median "${d_m[@]}")
python3 - "$work/report.json" <<PY
import json, sys
d = json.load(open(sys.argv[1]))
r = d["stats"]["requests"]
print(f"diagnose read {d['stats']['pods']} pods; LISTs per kind: max {max(r['lists'].values())}; pods: {r['lists'].get('pods')} LIST in {r['pages'].get('pods')} pages; {r['total']} HTTP requests in all")
PY
echo "median of $RUNS runs: kubectl get -o json ${ks}s ${km}MiB; diagnose ${ds}s ${dm}MiB; ratio $(awk -v a="$ds" -v b="$ks" 'BEGIN {printf "%.2f", a / b}')x time"
awk -v m="$dm" -v mb="$MEM_BUDGET" -v r="$(awk -v a="$ds" -v b="$ks" 'BEGIN {print a / b}')" -v rb="$RATIO_BUDGET" 'BEGIN {
  printf "memory budget %s MiB: %s (%s MiB)\n", mb, (m + 0 <= mb + 0 ? "met" : "MISSED"), m
  printf "time budget %sx of kubectl: %s (%.2fx)\n", rb, (r + 0 <= rb + 0 ? "met" : "MISSED"), r }'
