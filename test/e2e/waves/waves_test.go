package waves_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/deploy"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

var dev = app.Environments["dev"]

// fleetApp is the app in both clusters, in one namespace, and the fleet file.
type fleetApp struct {
	ns        string
	eu, us    *harness.Cluster
	fleetFile string
	pg        *harness.MigratePG
}

// setup deploys the dev app in the same namespace of both clusters, with a
// loopback PostgreSQL and the Alembic fixture of the migrate e2e behind the
// primary's api pods and migration Jobs (the app's own settings stay as
// deployed, so that diagnose finds it healthy), and writes the fleet file.
func setup(t *testing.T) *fleetApp {
	t.Helper()
	a := &fleetApp{eu: harness.ClusterOf(t, "eu"), us: harness.ClusterOf(t, "us")}
	a.ns = a.eu.Namespace(t, "waves")
	a.us.CreateNamespace(t, a.ns)
	envPath := harness.InitEnv(t, filepath.Join(t.TempDir(), ".env"))
	password := harness.EnvValue(t, envPath, app.KeyDatabasePassword)
	a.pg = harness.MigratePGStart(t, password)
	for _, ctx := range []string{"eu", "us"} {
		harness.Piyasa(t, "deploy", "--env", "dev", "-n", a.ns, "--env-file", envPath, "--context", ctx, "--timeout", "3m").WithTimeout(4 * time.Minute).RunOK()
	}
	c, _ := app.LookupComponent(app.API)
	fixture, _ := filepath.Abs(filepath.Join("..", "migrate", "testdata", "alembic"))
	harness.MigrateKubelet(t, harness.MigrateKubeletOptions{
		Namespace: a.ns, WorkDir: fixture, ExecDeployment: dev.WorkloadName(c),
		ExtraEnv: []string{"DATABASE_URL=" + a.pg.URL(), "DATABASE_HOST=127.0.0.1", fmt.Sprintf("DATABASE_PORT=%d", a.pg.Port),
			"PGHOST=127.0.0.1", fmt.Sprintf("PGPORT=%d", a.pg.Port), "POSTGRES_PASSWORD=" + password, "POSTGRES_USER=" + app.DatabaseUser},
	})
	a.fleetFile = filepath.Join(t.TempDir(), "piyasa-fleet.yaml")
	fleet := fmt.Sprintf(`apiVersion: piyasa.io/v1alpha1
kind: Fleet
regions:
  - name: eu
    context: eu
    environment: dev
    namespace: %[1]s
    role: primary
    wave: 1
  - name: us
    context: us
    environment: dev
    namespace: %[1]s
    role: standby
    wave: 2
`, a.ns)
	if err := os.WriteFile(a.fleetFile, []byte(fleet), 0o644); err != nil {
		t.Fatal(err)
	}
	return a
}

// release runs `kubectl piyasa deploy update --fleet F args... -o json`,
// expects its exit code and returns its document.
func (a *fleetApp) release(t *testing.T, code int, args ...string) (deploy.Release, harness.Result) {
	t.Helper()
	r := harness.Piyasa(t, append([]string{"deploy", "update", "--fleet", a.fleetFile, "-o", "json"}, args...)...).
		WithTimeout(6 * time.Minute).Run()
	var doc deploy.Release
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("deploy update --fleet -o json (exit %d): %v\n%s\n%s", r.Code, err, r.Stdout, r.Stderr)
	}
	if r.Code != code || doc.ExitCode != code || len(doc.Regions) != 2 {
		t.Fatalf("exit %d, document: exitCode %d, %d regions, want %d; states %s\n%s\n%s", r.Code, doc.ExitCode, len(doc.Regions), code, states(doc), reasons(doc), r.Stderr)
	}
	return doc, r
}

// images returns the api and worker images of a cluster, and whether api
// records a change-cause (set by every update).
func (a *fleetApp) images(t *testing.T, c *harness.Cluster) (api, worker, cause string) {
	t.Helper()
	cs := c.Client(t)
	d, err := cs.AppsV1().Deployments(a.ns).Get(context.Background(), "dev-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cs.AppsV1().StatefulSets(a.ns).Get(context.Background(), "dev-worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image, s.Spec.Template.Spec.Containers[0].Image, d.Annotations["kubernetes.io/change-cause"]
}

// migrationJobs counts the migration Jobs in a cluster's namespace.
func (a *fleetApp) migrationJobs(t *testing.T, c *harness.Cluster) int {
	t.Helper()
	jobs, err := c.Client(t).BatchV1().Jobs(a.ns).List(context.Background(), metav1.ListOptions{LabelSelector: app.MigrationLabel + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	return len(jobs.Items)
}

func states(doc deploy.Release) string {
	var s []string
	for _, r := range doc.Regions {
		s = append(s, r.Region+"="+r.State)
	}
	return strings.Join(s, " ")
}

// reasons says why each region ended as it did (for failure messages).
func reasons(doc deploy.Release) string {
	var s []string
	for _, r := range doc.Regions {
		s = append(s, fmt.Sprintf("%s: %s (gate %+v)", r.Region, r.Reason, r.Gate))
	}
	return strings.Join(s, "\n")
}

// TestWaves: a dry run plans and changes nothing; a release whose first wave
// fails its diagnose gate (TOTAL_WORKERS broken on purpose in eu: PIY401)
// rolls eu back and never touches us; once fixed, a release with --migrate
// migrates once, in eu only, and updates both regions.
func TestWaves(t *testing.T) {
	a := setup(t)
	v1, v2 := app.APIImage+":v1.0.0", app.APIImage+":v1.1.0"
	if api, worker, _ := a.images(t, a.us); api != v1 || worker != v1 {
		t.Fatalf("us deployed with %s, %s", api, worker)
	}

	t.Run("dry run", func(t *testing.T) {
		doc, _ := a.release(t, 0, "--image", "v1.1.0", "--migrate", "--dry-run=client")
		if states(doc) != "eu=planned us=planned" || doc.Migration == nil || doc.Migration.Region != "eu" || doc.Migration.State != "planned" {
			t.Fatalf("plan: %s, migration %+v", states(doc), doc.Migration)
		}
		if im := doc.Regions[1].Images; len(im) == 0 || im[0].From != v1 || im[0].To != v2 {
			t.Errorf("us images in the plan: %+v", im)
		}
		for _, c := range []*harness.Cluster{a.eu, a.us} {
			if api, _, _ := a.images(t, c); api != v1 || a.migrationJobs(t, c) != 0 {
				t.Fatalf("the dry run changed %s: api %s, %d migration Jobs", c.Context, api, a.migrationJobs(t, c))
			}
		}
	})

	t.Run("the first wave fails its gate: rolled back, the second never touched", func(t *testing.T) {
		a.eu.Kubectl(t, "-n", a.ns, "patch", "configmap", dev.ConfigMap(), "--type", "merge", "-p", `{"data":{"TOTAL_WORKERS":"5"}}`).RunOK()
		doc, r := a.release(t, 1, "--image", "v1.1.0")
		if states(doc) != "eu=rolledBack us=notTouched" {
			t.Fatalf("states %s\n%s\n%s\n%s", states(doc), reasons(doc), r.Stdout, r.Stderr)
		}
		eu := doc.Regions[0]
		if eu.Gate == nil || eu.Gate.Passed || !strings.Contains(strings.Join(eu.Gate.Codes, ","), "PIY401") || !strings.Contains(eu.Reason, "PIY401") {
			t.Errorf("eu's gate: %+v, reason %q", eu.Gate, eu.Reason)
		}
		if us := doc.Regions[1]; us.Gate != nil || !strings.Contains(us.Reason, "wave 1 failed in region eu") {
			t.Errorf("us: %+v", us)
		}
		if api, worker, _ := a.images(t, a.eu); api != v1 || worker != v1 {
			t.Errorf("eu not rolled back: %s, %s", api, worker)
		}
		if api, worker, cause := a.images(t, a.us); api != v1 || worker != v1 || cause != "" {
			t.Errorf("us was touched: %s, %s, change-cause %q", api, worker, cause)
		}
		if strings.Contains(r.Stderr, "[us]") {
			t.Errorf("us has progress lines:\n%s", r.Stderr)
		}
		a.eu.Kubectl(t, "-n", a.ns, "patch", "configmap", dev.ConfigMap(), "--type", "merge", "-p", `{"data":{"TOTAL_WORKERS":"2"}}`).RunOK()
	})

	t.Run("a good release with --migrate updates both, migrating once in the primary", func(t *testing.T) {
		doc, r := a.release(t, 0, "--image", "v1.1.0", "--migrate")
		if states(doc) != "eu=updated us=updated" {
			t.Fatalf("states %s\n%s\n%s\n%s", states(doc), reasons(doc), r.Stdout, r.Stderr)
		}
		if m := doc.Migration; m == nil || m.State != "applied" || m.Region != "eu" || m.Job == "" {
			t.Fatalf("migration: %+v\n%s", doc.Migration, r.Stderr)
		}
		for _, c := range []*harness.Cluster{a.eu, a.us} {
			if api, worker, _ := a.images(t, c); api != v2 || worker != v2 {
				t.Errorf("%s: %s, %s", c.Context, api, worker)
			}
		}
		if n := a.migrationJobs(t, a.eu); n != 1 {
			t.Errorf("%d migration Jobs in eu, want 1", n)
		}
		if n := a.migrationJobs(t, a.us); n != 0 {
			t.Errorf("%d migration Jobs in us, want 0", n)
		}
		if rev := a.pg.Query(t, "SELECT string_agg(version_num, ',') FROM alembic_version"); rev == "" {
			t.Errorf("the database was not migrated")
		}
	})
}
