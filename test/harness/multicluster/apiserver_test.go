// Package multicluster tests the harness's per-cluster fault injection on a
// package with two clusters.
package multicluster

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.FaultsMain(m, harness.WithClusters("east", "west")) }

// serves reports whether the cluster's API server answers.
func serves(t *testing.T, c *harness.Cluster) bool {
	t.Helper()
	cfg := c.RESTConfig(t)
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.Discovery().ServerVersion()
	return err == nil
}

// Each cluster's API server stops and starts on its own, both may be down at
// once, and the package functions act on the first cluster.
func TestClusterAPIServerStopStart(t *testing.T) {
	east, west := harness.ClusterOf(t, "east"), harness.ClusterOf(t, "west")
	injected, recovered := harness.Faults()
	west.StopAPIServer(t)
	if serves(t, west) || !serves(t, east) {
		t.Fatalf("west stopped: west serves %v, east %v", serves(t, west), serves(t, east))
	}
	harness.StopAPIServer(t) // east, the package's own
	if serves(t, east) {
		t.Fatal("east serves after StopAPIServer")
	}
	west.StartAPIServer(t)
	if !serves(t, west) || serves(t, east) {
		t.Fatalf("west started: west serves %v, east %v", serves(t, west), serves(t, east))
	}
	east.StartAPIServer(t)
	if !serves(t, east) {
		t.Fatal("east does not serve after StartAPIServer")
	}
	if i, r := harness.Faults(); i != injected+2 || r != recovered+2 {
		t.Fatalf("faults: %d injected, %d recovered; want %d, %d", i, r, injected+2, recovered+2)
	}
}

// A cluster's API server left stopped at a test's end is started again.
func TestClusterAPIServerLeftStopped(t *testing.T) {
	west := harness.ClusterOf(t, "west")
	t.Run("stop", func(t *testing.T) { west.StopAPIServer(t) })
	if !serves(t, west) {
		t.Fatal("west does not serve after the test that stopped it ended")
	}
	if _, err := west.Client(t).CoreV1().Nodes().List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
}
