// Package standby_test exercises a PostgreSQL standby region end to end
// (issue 22): two local clusters (contexts primary and standby, one
// kubeconfig), the app deployed in each by `kubectl piyasa deploy`, and a
// real PostgreSQL streaming-replication pair on loopback whose primary the
// postgres pod of the primary cluster execs into and whose hot standby that
// of the standby cluster does. `deploy status` and `diagnose --probe` are run
// per context, as a user types them.
package standby_test

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/e2e/e2efleet"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m, harness.WithClusters(e2efleet.Clusters...)) }
