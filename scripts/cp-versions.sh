# cp-versions.sh: pinned versions and cache location of the local control plane.
# Sourced by cp-build.sh and cluster.sh.
K8S_VERSION=${K8S_VERSION:-v1.36.3}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}
CP_CACHE=${CP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-piyasa/k8s-$K8S_VERSION-kwok-$KWOK_VERSION-etcd-$ETCD_VERSION-ms-$METRICS_SERVER_VERSION}
CP_BIN=$CP_CACHE/bin
