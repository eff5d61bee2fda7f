// Package e2efleet sets up, for the e2e tests of several regions, two
// harness clusters (contexts primary and standby) with the app deployed by
// `kubectl piyasa deploy --fleet` and a real streaming-replication pair
// behind their postgres pods: the test's own helpers, in one place for the
// standby package, the failover benchmark and the region drill's test.
package e2efleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// Clusters are the harness clusters the packages start: harness.Main(m, harness.WithClusters(Clusters...)).
var Clusters = []string{"primary", "standby"}

// DeployFleet writes the fleet of the two clusters as deploy --fleet reads
// it: eu (context primary) the primary, us (context standby) the standby,
// both dev in ns; the standbys reach the primary at pg.
func DeployFleet(t testing.TB, ns string, pg *harness.Postgres) string {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: piyasa.io/v1alpha1
kind: Fleet
settings:
  standbyApi: zero
  primaryHost: %s
  primaryPort: %d
regions:
  - name: us
    context: standby
    environment: dev
    namespace: %s
    role: standby
    wave: 2
  - name: eu
    context: primary
    environment: dev
    namespace: %s
    role: primary
    wave: 1
`, pg.Host, pg.Port, ns, ns)
	return write(t, doc)
}

// FailoverFleet writes a fleet of the two clusters in which each region
// says where the other reaches its database: eu (context primary, the
// primary) at pg, us (context standby) at sb.
func FailoverFleet(t testing.TB, ns string, pg, sb *harness.Postgres) string {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: piyasa.io/v1alpha1
kind: Fleet
settings:
  standbyApi: zero
regions:
  - name: eu
    context: primary
    environment: dev
    namespace: %[1]s
    role: primary       # the writable database
    wave: 1
    databaseHost: %[2]s
    databasePort: %[3]d
  - name: us
    context: standby
    environment: dev
    namespace: %[1]s
    role: standby
    wave: 2
    databaseHost: %[4]s
    databasePort: %[5]d
`, ns, pg.Host, pg.Port, sb.Host, sb.Port)
	return write(t, doc)
}

func write(t testing.TB, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "piyasa-fleet.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Pair is the app in one namespace of both clusters with its databases.
type Pair struct {
	NS               string
	Primary, Standby *harness.Cluster
	PCS, SCS         kubernetes.Interface
	// PG is the primary's server (eu), SB its hot standby (us), each the
	// postgres pod of its cluster (execs, and the kubelet of the pod and of
	// the data Jobs).
	PG, SB *harness.Postgres
	// Fleet is a fleet file fit for failover (FailoverFleet); EnvFile the .env.
	Fleet, EnvFile string
}

// Setup deploys the app with `deploy --fleet` in a new namespace of both
// clusters, behind a streaming pair whose role password is the Secret's
// (TLS on, as the harness starts replication servers), and maps each
// cluster's postgres pod to its server.
func Setup(t testing.TB, prefix string) *Pair {
	t.Helper()
	p := &Pair{Primary: harness.ClusterOf(t, Clusters[0]), Standby: harness.ClusterOf(t, Clusters[1])}
	p.NS = p.Primary.Namespace(t, prefix)
	p.Standby.CreateNamespace(t, p.NS)
	p.PCS, p.SCS = p.Primary.Client(t), p.Standby.Client(t)
	p.EnvFile = harness.InitEnv(t, filepath.Join(t.TempDir(), ".env"))
	p.PG = harness.StartPostgres(t, app.DatabaseUser, harness.CanaryValue("pw"), app.DatabaseName, harness.WithReplication())
	p.PG.ClusterExecIn(t, p.Primary, p.NS, "", map[string]string{"PGDATA": p.PG.Data})
	harness.Piyasa(t, "deploy", "--fleet", DeployFleet(t, p.NS, p.PG), "--env-file", p.EnvFile, "--timeout", "3m").WithTimeout(6 * time.Minute).RunOK()
	secret, err := p.PCS.CoreV1().Secrets(p.NS).Get(context.Background(), app.ReplicationSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The role's password is the Secret's now (deploy --fleet set it): the clone uses it.
	p.PG.ReplicationPassword = string(secret.Data[app.KeyReplicationPassword])
	p.SB = p.PG.StartStandby(t, "piyasa-us")
	p.SB.ClusterExecIn(t, p.Standby, p.NS, "", map[string]string{"PGDATA": p.SB.Data})
	p.PG.KubeletIn(t, p.Primary, p.NS, "dev-"+app.Postgres)
	p.SB.KubeletIn(t, p.Standby, p.NS, "dev-"+app.Postgres)
	p.Fleet = FailoverFleet(t, p.NS, p.PG, p.SB)
	return p
}
