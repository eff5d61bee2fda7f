package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// migrateApp is a deployed dev app with its database and the harness
// kubelet for its migration pods (as in test/e2e/migrate).
type migrateApp struct {
	ns string
	pg *harness.MigratePG
}

// setupMigrate deploys the dev overlay, points it at a fresh PostgreSQL and
// plays the kubelet for the migration pods with the Alembic project of
// test/e2e/migrate (0001, 0002 and 0003; 0002 sleeps MIGRATE_SLEEP seconds).
func setupMigrate(t *testing.T, extraEnv ...string) *migrateApp {
	t.Helper()
	ns, envFile := deployDev(t)
	password := harness.EnvValue(t, envFile, app.KeyDatabasePassword)
	pg := harness.MigratePGStart(t, password)
	patch := fmt.Sprintf(`{"data":{"DATABASE_HOST":"127.0.0.1","DATABASE_PORT":"%d","DATABASE_URL":%q}}`, pg.Port, pg.URL())
	harness.Kubectl(t, "patch", "configmap", dev.ConfigMap(), "-n", ns, "--type", "merge", "-p", patch).RunOK()
	waitComponents(t, ns, app.API, app.Postgres)
	project, err := filepath.Abs(filepath.Join("..", "migrate", "testdata", "alembic"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := app.LookupComponent(app.API)
	harness.MigrateKubelet(t, harness.MigrateKubeletOptions{
		Namespace: ns, WorkDir: project, ExecDeployment: dev.WorkloadName(c),
		ExtraEnv: append([]string{fmt.Sprintf("PGPORT=%d", pg.Port), "PGHOST=127.0.0.1", "PGPASSWORD=" + password}, extraEnv...),
	})
	// kwok serves the exec of the namespace's pods once it has read the
	// ClusterExec; after an earlier test's outage its watch may take a while
	// to come back (client-go's backoff).
	pc, _ := app.LookupComponent(app.Postgres)
	pods, err := harness.Client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: pc.Selector()})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("postgres pod: %v", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := harness.Kubectl(t, "exec", "-n", ns, pods.Items[0].Name, "--", "sh", "-c", "echo ok").WithTimeout(20 * time.Second).Run()
		if r.Code == 0 && strings.TrimSpace(r.Stdout) == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exec into the postgres pod never worked: %s", r.Stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return &migrateApp{ns: ns, pg: pg}
}

func (a *migrateApp) migrate(t *testing.T, args ...string) *harness.Cmd {
	return harness.Piyasa(t, append(append([]string{"migrate"}, args...), "-n", a.ns)...).WithTimeout(4 * time.Minute)
}

func (a *migrateApp) version(t *testing.T) string {
	t.Helper()
	return a.pg.Query(t, "SELECT coalesce(string_agg(version_num, ','), '') FROM alembic_version")
}

// migrationStatus is the part of `migrate status -o json` these tests read.
type migrationStatus struct {
	UpToDate bool     `json:"upToDate"`
	Current  []string `json:"current"`
	Running  *struct {
		Name string `json:"name"`
	} `json:"running"`
	Lock struct {
		Held     bool   `json:"held"`
		Holder   string `json:"holder"`
		Job      string `json:"job"`
		JobState string `json:"jobState"`
		Expired  bool   `json:"expired"`
		// HolderGone: the holder was a process of this machine that is gone.
		HolderGone bool `json:"holderGone"`
	} `json:"lock"`
}

func (a *migrateApp) status(t *testing.T, code int) migrationStatus {
	t.Helper()
	r := a.migrate(t, "status", "-o", "json").ExpectCode(code)
	var st migrationStatus
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.Stdout)
	}
	return st
}

// jobState returns the Job's Complete or Failed condition ("" while it runs).
func (a *migrateApp) jobState(t *testing.T, name string) string {
	t.Helper()
	state, err := oplock.JobState(context.Background(), harness.Client(t), a.ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// migrationLog lines of the Alembic project, in order.
var migrationLog = []string{"0001: creating table users", "0002: creating table bots", "0003: creating table messages"}

// logOnce checks that every migration line was printed exactly once, in order.
func logOnce(t *testing.T, stdout string) {
	t.Helper()
	last := -1
	for _, l := range migrationLog {
		if n := strings.Count(stdout, l); n != 1 {
			t.Errorf("%q printed %d times:\n%s", l, n, stdout)
		}
		i := strings.Index(stdout, l)
		if i < last {
			t.Errorf("%q out of order:\n%s", l, stdout)
		}
		last = i
	}
}

// TestMigrateFollowRidesOutAnOutage: the API server killed while the
// migration runs (0002 sleeps 8 s), back after 5 s: migrate up reports the
// outage once, resumes the log without repeating or losing a line, sees the
// Job complete and exits 0. Afterwards the Lease is released, the Job is
// kept as Complete, status is clean and a rerun is a no-op that exits 0.
func TestMigrateFollowRidesOutAnOutage(t *testing.T) {
	a := setupMigrate(t, "MIGRATE_SLEEP=8")
	m := start(t, a.migrate(t, "up"))
	m.waitFor(m.stdout, "0002: creating table bots", 3*time.Minute)
	harness.APIServerOutage(t, 5*time.Second)
	r := m.wait(4 * time.Minute)
	expectCode(t, r, 0)
	outageReported(t, r.Stderr)
	logOnce(t, r.Stdout)
	if strings.Contains(r.Stderr, "warning: lock") || strings.Contains(r.Stderr, "warning: could not") {
		t.Errorf("warnings for an outage that was ridden out:\n%s", r.Stderr)
	}
	if v := a.version(t); v != "0003" {
		t.Errorf("alembic_version = %q, want 0003", v)
	}
	if _, err := harness.Client(t).CoordinationV1().Leases(a.ns).Get(context.Background(), dev.MigrationLease(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Lease is still there after the migration: %v", err)
	}
	st := a.status(t, 0)
	if !st.UpToDate || st.Running != nil || st.Lock.Held || st.Lock.Holder != "" {
		t.Errorf("status after the migration: %+v", st)
	}
	a.migrate(t, "up").ExpectCode(0)
}

// TestMigrateKilledWithTheAPIServer: the API server killed while the
// migration runs, and the migrate command with it (the operator's session
// dies); the migration ends during the outage. Once the API server is back
// the Job tells the truth (Complete, as the harness kubelet reports it), the
// Lease names that Job and its holder; the holder was killed on this machine,
// so `migrate status` says the lock is free (its pid is gone) and a rerun
// takes it over at once, as the README documents. (A holder on another
// machine holds until the Lease runs out: oplock's TestLocalHolderGone.)
func TestMigrateKilledWithTheAPIServer(t *testing.T) {
	a := setupMigrate(t, "MIGRATE_SLEEP=2")
	m := start(t, a.migrate(t, "up"))
	m.waitFor(m.stdout, "0002: creating table bots", 3*time.Minute)
	harness.StopAPIServer(t)
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	m.wait(time.Minute)
	time.Sleep(5 * time.Second) // 0002 and 0003 end during the outage
	harness.StartAPIServer(t)

	cs := harness.Client(t)
	lease, err := cs.CoordinationV1().Leases(a.ns).Get(context.Background(), dev.MigrationLease(), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Lease of the killed migration: %v", err)
	}
	job := lease.Annotations[app.MigrationJobAnnotation]
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	if !strings.HasPrefix(job, "dev-db-migrate-") || !strings.Contains(holder, fmt.Sprintf("(pid %d)", m.cmd.Process.Pid)) {
		t.Fatalf("Lease after the kill: job %q, holder %q", job, holder)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for a.jobState(t, job) == "Running" {
		if time.Now().After(deadline) {
			t.Fatalf("Job %s still running 3 minutes after the outage", job)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if s := a.jobState(t, job); s != "Complete" {
		t.Fatalf("Job %s: %s, want Complete (the migration ran to its end)", job, s)
	}
	if v := a.version(t); v != "0003" {
		t.Errorf("alembic_version = %q, want 0003", v)
	}
	// The holder was killed on this machine: its pid is gone, so the Lease
	// counts as expired at once (no wait for it to run out: the oplock unit
	// test TestLocalHolderGone pins that rule), and a rerun takes it over
	// naming the dead holder and its Job.
	st := a.status(t, 0)
	if st.Lock.Job != job || st.Lock.JobState != "Complete" || st.Lock.Holder != holder {
		t.Errorf("status lock: %+v", st.Lock)
	}
	// Free either way: its holder's pid is gone (HolderGone), or, on a slow
	// machine, the Lease ran out before the API server was back.
	if st.Lock.Held || !st.Lock.Expired {
		t.Errorf("status: the killed holder's Lease is not free: %+v", st.Lock)
	}
	r := a.migrate(t, "up").ExpectCode(0)
	if !strings.Contains(r.Stderr, "took over the expired lock "+dev.MigrationLease()+" from "+holder+" (Job "+job+": Complete)") {
		t.Errorf("rerun after the holder died:\n%s", r.Stderr)
	}
}
