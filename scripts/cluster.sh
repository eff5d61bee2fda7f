#!/usr/bin/env bash
# cluster.sh: a real local Kubernetes control plane on 127.0.0.1 for tests and
# demos: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
# metrics-server built from pinned Go modules (scripts/cp-build.sh), with kwok
# playing the nodes. Nothing is downloaded at run time.
#
#   scripts/cluster.sh up   [NAME]   build if needed, start NAME (default piyasa), print the kubeconfig path
#   scripts/cluster.sh down [NAME]   stop and delete NAME
#   scripts/cluster.sh env  [NAME]   print "export KUBECONFIG=..." and the PATH with the cluster's tools
#   scripts/cluster.sh gc            delete test clusters whose owning process has gone
#
# Environment: NODES (default 2), CLUSTER_OWNER_PID (a test harness's PID: the
# cluster is garbage-collected by the next run once that process is gone).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cp-versions.sh
. "$here/cp-versions.sh"
export KWOK_WORKDIR=${KWOK_WORKDIR:-$CP_CACHE/clusters}
NODES=${NODES:-2}
cmd=${1:-up}
NAME=${2:-piyasa}
KCFG=$KWOK_WORKDIR/$NAME.kubeconfig

gc() {
  # Clusters started by a test harness record its PID; delete those whose process is gone.
  shopt -s nullglob
  for owner in "$KWOK_WORKDIR"/*.owner; do
    local n pid
    n=$(basename "$owner" .owner); pid=$(cat "$owner" 2>/dev/null || echo 0)
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "cluster.sh: deleting cluster $n left behind by process $pid" >&2
      "$CP_BIN/kwokctl" delete cluster --name "$n" --kubeconfig "$KWOK_WORKDIR/$n.kubeconfig" >/dev/null 2>&1 || true
      rm -f "$owner" "$KWOK_WORKDIR/$n.kubeconfig" "$KWOK_WORKDIR/$n-kwokctl.yaml"
    fi
  done
}

down() {
  [ -x "$CP_BIN/kwokctl" ] || return 0
  "$CP_BIN/kwokctl" delete cluster --name "$NAME" --kubeconfig "$KCFG" >/dev/null 2>&1 || true
  rm -f "$KWOK_WORKDIR/$NAME.owner" "$KCFG" "$KWOK_WORKDIR/$NAME-kwokctl.yaml"
}

case "$cmd" in
up)
  "$here/cp-build.sh" >/dev/null
  export PATH=$PATH:$CP_BIN   # kwokctl shells out to kubectl (kustomize of metrics-server's manifests)
  mkdir -p "$KWOK_WORKDIR"
  # One creation at a time: kwokctl picks free ports, and two creations at once can pick the same.
  exec 8>"$KWOK_WORKDIR/.up.lock"
  flock 8
  gc
  down   # a cluster of the same name left behind is replaced
  CFG=$KWOK_WORKDIR/$NAME-kwokctl.yaml
  cat > "$CFG" <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  kubeVersion: $K8S_VERSION
  bindAddress: 127.0.0.1
  etcdBinary: $CP_BIN/etcd
  kubeApiserverBinary: $CP_BIN/kube-apiserver
  kubeControllerManagerBinary: $CP_BIN/kube-controller-manager
  kubeSchedulerBinary: $CP_BIN/kube-scheduler
  kwokControllerBinary: $CP_BIN/kwok
  kubectlBinary: $CP_BIN/kubectl
  enableCRDs: [Stage, Logs, ClusterLogs, Exec, ClusterExec, PortForward, ClusterPortForward, Attach, ClusterAttach, ResourceUsage, ClusterResourceUsage, Metric]
  enable: [metrics-server]
  metricsServerBinary: $CP_BIN/metrics-server
  metricsServerManifests: [$CP_BIN/metrics-server-manifests/overlays/release]
componentsPatches:
- name: metrics-server   # the fake nodes' InternalIP is unreachable; Hostname (localhost) reaches kwok-controller
  extraArgs: [{key: kubelet-preferred-address-types, value: Hostname, override: true}]
YAML
  [ -n "${CLUSTER_OWNER_PID:-}" ] && echo "$CLUSTER_OWNER_PID" > "$KWOK_WORKDIR/$NAME.owner"
  if ! "$CP_BIN/kwokctl" create cluster --name "$NAME" -c "$CFG" --kubeconfig "$KCFG" --wait 2m >&2 8>&-; then
    down
    echo "cluster.sh: could not start cluster $NAME (see the kwokctl messages above)" >&2
    exit 1
  fi
  # kwok reads Stage, ResourceUsage and Metric objects from the API (their CRDs are enabled):
  # its default life-cycle stages, and the metrics emulation that feeds metrics-server.
  "$CP_BIN/kubectl" --kubeconfig "$KCFG" apply -f "$CP_BIN/kwok-stages.yaml" -f "$CP_BIN/kwok-metrics.yaml" >/dev/null
  # kwok's default node has no ephemeral-storage; the app's pods request some (as kube-score asks).
  "$CP_BIN/kwokctl" --name "$NAME" scale node --replicas "$NODES" --param '.allocatable["ephemeral-storage"]="100Gi"' >&2 8>&-
  # metrics-server binds its port last, after kwokctl returns: the lock is held
  # until it answers through the API server (90 s at most), or the next
  # creation can pick the same port and its metrics-server never serves.
  for _ in $(seq 1 180); do
    "$CP_BIN/kubectl" --kubeconfig "$KCFG" get --raw /apis/metrics.k8s.io/v1beta1 >/dev/null 2>&1 && break
    sleep 0.5
  done
  flock -u 8
  echo "$KCFG"
  ;;
down) down ;;
gc) mkdir -p "$KWOK_WORKDIR"; gc ;;
env)
  echo "export KUBECONFIG=$KCFG"
  echo "export PATH=\$PATH:$CP_BIN"
  ;;
*) echo "usage: $0 up|down|env|gc [NAME]" >&2; exit 2 ;;
esac
