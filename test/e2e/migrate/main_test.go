// Package migrate_test exercises `kubectl piyasa migrate` end to end on the
// local kwok cluster with a real PostgreSQL on loopback and real Alembic: the
// harness plays the kubelet for the migration pods (harness.MigrateKubelet).
package migrate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m, harness.WithMigratePython()) }

var dev = app.Environments["dev"]

// app is one test's deployed dev app with its database.
type testApp struct {
	ns string
	pg *harness.MigratePG
}

// fixture returns the path of an Alembic project under testdata.
func fixture(name string) string {
	p, _ := filepath.Abs(filepath.Join("testdata", name))
	return p
}

// setup deploys the dev overlay into a fresh namespace, points piyasa-config at
// a fresh loopback PostgreSQL (password from the .env, as the Secret has it)
// and starts the harness kubelet on the Alembic project proj with extra env.
func setup(t testing.TB, proj string, extraEnv ...string) *testApp {
	t.Helper()
	ns := harness.Namespace(t, "migrate")
	envPath := harness.InitEnv(t, filepath.Join(t.TempDir(), "dev.env"))
	password := harness.EnvValue(t, envPath, app.KeyDatabasePassword)
	if password == "" {
		t.Fatal("no DATABASE_PASSWORD in the .env")
	}
	pg := harness.MigratePGStart(t, password)
	harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", envPath, "--wait=false").RunOK()
	patch := fmt.Sprintf(`{"data":{"DATABASE_HOST":"127.0.0.1","DATABASE_PORT":"%d","DATABASE_URL":%q}}`, pg.Port, pg.URL())
	harness.Kubectl(t, "patch", "configmap", dev.ConfigMap(), "-n", ns, "--type", "merge", "-p", patch).RunOK()
	var ws []kube.Workload
	for _, n := range []string{app.API, app.Postgres} {
		c, _ := app.LookupComponent(n)
		ws = append(ws, kube.Workload{Component: n, Kind: c.Kind, Name: dev.WorkloadName(c)})
	}
	if _, err := kube.WaitForWorkloads(context.Background(), harness.Client(t), ns, ws, kube.WaitOptions{Timeout: 2 * time.Minute}); err != nil {
		t.Fatalf("api and postgres not ready in %s: %v", ns, err)
	}
	c, _ := app.LookupComponent(app.API)
	harness.MigrateKubelet(t, harness.MigrateKubeletOptions{
		Namespace: ns, WorkDir: fixture(proj), ExecDeployment: dev.WorkloadName(c),
		// PGHOST and PGPASSWORD let a backup's pg_dump (exec into the postgres pod) reach the server.
		ExtraEnv: append([]string{fmt.Sprintf("PGPORT=%d", pg.Port), "PGHOST=127.0.0.1", "PGPASSWORD=" + password}, extraEnv...),
	})
	return &testApp{ns: ns, pg: pg}
}

// migrate runs `kubectl piyasa migrate args... -n ns`.
func (a *testApp) migrate(t *testing.T, args ...string) *harness.Cmd {
	return harness.Piyasa(t, append(append([]string{"migrate"}, args...), "-n", a.ns)...).WithTimeout(3 * time.Minute)
}

// version returns alembic_version's revisions in the real database ("" when the table is missing).
func (a *testApp) version(t testing.TB) string {
	t.Helper()
	if a.pg.Query(t, "SELECT to_regclass('public.alembic_version') IS NOT NULL") != "t" {
		return ""
	}
	return a.pg.Query(t, "SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version")
}

type statusDoc struct {
	APIVersion    string   `json:"apiVersion"`
	Kind          string   `json:"kind"`
	Current       []string `json:"current"`
	Heads         []string `json:"heads"`
	Pending       []string `json:"pending"`
	UpToDate      bool     `json:"upToDate"`
	MultipleHeads bool     `json:"multipleHeads"`
	Problems      []string `json:"problems"`
	Running       *struct {
		Name string `json:"name"`
	} `json:"running"`
	LastFailed *struct {
		Name string `json:"name"`
	} `json:"lastFailed"`
	Lock struct {
		Held   bool   `json:"held"`
		Holder string `json:"holder"`
		Job    string `json:"job"`
	} `json:"lock"`
}

func (a *testApp) status(t *testing.T, code int) statusDoc {
	t.Helper()
	r := a.migrate(t, "status", "-o", "json").ExpectCode(code)
	var st statusDoc
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.Stdout)
	}
	return st
}

// jobs returns the namespace's migration Jobs.
func (a *testApp) jobs(t *testing.T) []string {
	t.Helper()
	list, err := harness.Client(t).BatchV1().Jobs(a.ns).List(context.Background(), metav1.ListOptions{LabelSelector: app.MigrationLabel + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range list.Items {
		names = append(names, j.Name)
	}
	return names
}

// noSecret fails (without printing it) when output shows the database password.
func (a *testApp) noSecret(t *testing.T, r harness.Result) {
	t.Helper()
	if strings.Contains(r.Stdout, a.pg.Password) || strings.Contains(r.Stderr, a.pg.Password) {
		t.Error("output shows the database password")
	}
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}
