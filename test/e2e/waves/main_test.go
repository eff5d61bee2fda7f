// Package waves_test runs a release in waves (`kubectl piyasa deploy update
// --fleet`, issue 22) end to end: two local clusters (contexts eu and us,
// one kubeconfig), the app deployed in each, a fleet file of two waves (eu
// primary in wave 1, us standby in wave 2), a real PostgreSQL and real
// Alembic behind the primary's migration Jobs (the harness kubelet).
package waves_test

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) {
	harness.Main(m, harness.WithClusters("eu", "us"), harness.WithMigratePython())
}
