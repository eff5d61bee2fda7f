#!/usr/bin/env bash
# cp-build.sh: build the pinned local control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kwok, kwokctl, metrics-server)
# from the Go module proxy into a cache outside the repository. Idempotent: a
# complete cache is reused (a stamp file marks it complete).
# Usage: scripts/cp-build.sh            prints the bin directory on the last line
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cp-versions.sh
. "$here/cp-versions.sh"

if [ -f "$CP_BIN/.complete" ] && [ -f "$CP_BIN/kwok-stages.yaml" ]; then
  echo "$CP_BIN"
  exit 0
fi
# One build at a time: concurrent test packages wait for the first one's build.
mkdir -p "$CP_CACHE"
exec 9>"$CP_CACHE/.build.lock"
flock 9
if [ -f "$CP_BIN/.complete" ] && [ -f "$CP_BIN/kwok-stages.yaml" ]; then
  echo "$CP_BIN"
  exit 0
fi
WORK=$CP_CACHE/work
STAGING=v0${K8S_VERSION#v1}
MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
mkdir -p "$CP_BIN" "$WORK"
t0=$(date +%s); lap() { echo "== $1: $(( $(date +%s) - t0 ))s" >&2; }

if [ ! -x "$CP_BIN/kwokctl" ]; then
  GOBIN=$CP_BIN go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION" >&2
  lap kwok
fi

if [ ! -x "$CP_BIN/kubectl" ]; then
  mkdir -p "$WORK/k8s" && cd "$WORK/k8s"
  KMOD=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  { echo "module local/k8sbuild"; echo; echo "go 1.26.0"; echo; echo "require k8s.io/kubernetes $K8S_VERSION"; echo "replace ("
    grep '=> ./staging' "$KMOD" | awk '{print $1}' | grep -v '^k8s.io/sample-' | sed "s|.*|	& => & $STAGING|"; echo ")"; } > go.mod
  cat > tools.go <<'GO'
//go:build tools

package k8sbuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy >&2
  V="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$MINOR -X k8s.io/component-base/version.gitTreeState=clean"
  V="$V -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$MINOR"
  go build -trimpath -ldflags "-s -w $V" -o "$CP_BIN/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler >&2
  lap control-plane
  go build -trimpath -ldflags "-s -w $V" -o "$CP_BIN/" k8s.io/kubernetes/cmd/kubectl >&2
  lap kubectl
fi

if [ ! -x "$CP_BIN/etcd" ]; then
  mkdir -p "$WORK/etcd" && cd "$WORK/etcd"
  printf 'module local/etcdbuild\n\ngo 1.26.0\n' > go.mod
  cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 && go mod tidy >&2
  go build -trimpath -ldflags "-s -w" -o "$CP_BIN/etcd" . >&2
  lap etcd
fi

if [ ! -x "$CP_BIN/metrics-server" ]; then
  GOBIN=$CP_BIN go install -trimpath -ldflags "-s -w" "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION" >&2
  MSDIR=$(go mod download -json "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  rm -rf "$CP_BIN/metrics-server-manifests"; cp -r "$MSDIR/manifests" "$CP_BIN/metrics-server-manifests"; chmod -R u+w "$CP_BIN/metrics-server-manifests"
  lap metrics-server
fi
KWDIR=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
{ cat "$KWDIR/kustomize/metrics/resource/metrics-resource.yaml"; echo "---"; cat "$KWDIR/kustomize/metrics/usage/usage-from-annotation.yaml"; } > "$CP_BIN/kwok-metrics.yaml"
# kwok's default stages as Stage objects (the Stage CRD is enabled so tests can add their own):
# fast node and pod life cycle, node leases, and volume provisioning through a default StorageClass.
"$CP_BIN/kubectl" kustomize "$KWDIR/kustomize/stage/fast" > "$CP_BIN/kwok-stages.yaml.tmp"
{ echo "---"; "$CP_BIN/kubectl" kustomize "$KWDIR/kustomize/stage/volume/fast"; } >> "$CP_BIN/kwok-stages.yaml.tmp"
mv "$CP_BIN/kwok-stages.yaml.tmp" "$CP_BIN/kwok-stages.yaml"
rm -rf "$WORK"
touch "$CP_BIN/.complete"
lap total
echo "$CP_BIN"
