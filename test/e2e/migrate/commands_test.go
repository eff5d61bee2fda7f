package migrate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

type historyDoc struct {
	Kind      string   `json:"kind"`
	Current   []string `json:"current"`
	Revisions []struct {
		Revision string `json:"revision"`
		Current  bool   `json:"current"`
		Head     bool   `json:"head"`
	} `json:"revisions"`
}

type jobsDoc struct {
	Kind string `json:"kind"`
	Jobs []struct {
		Name      string `json:"name"`
		Direction string `json:"direction"`
		Target    string `json:"target"`
		State     string `json:"state"`
		Backup    string `json:"backup"`
	} `json:"jobs"`
	Deleted []string `json:"deleted"`
}

// TestHistoryDownJobsUnlock: history marks the current revision; down asks
// for the namespace name (exit 2 when not confirmed) and downgrades; jobs
// lists both Jobs, with the backup's absolute path, and --cleanup keeps the
// newest; unlock refuses a lock its holder renews (also with --yes) and
// releases it with --force after confirmation.
func TestHistoryDownJobsUnlock(t *testing.T) {
	a := setup(t, "alembic")
	a.migrate(t, "up", "--to", "0002").ExpectCode(0)
	var h historyDoc
	r := a.migrate(t, "history", "-o", "json").ExpectCode(0)
	if err := json.Unmarshal([]byte(r.Stdout), &h); err != nil {
		t.Fatal(err)
	}
	if h.Kind != "MigrationHistory" || len(h.Revisions) != 3 || !h.Revisions[0].Head || h.Revisions[1].Revision != "0002" || !h.Revisions[1].Current || h.Revisions[0].Current {
		t.Errorf("history: %+v", h)
	}
	r = a.migrate(t, "history").ExpectCode(0)
	mustContain(t, "history table", r.Stdout, "REVISION", "0002", "<- current")

	r = a.migrate(t, "down", "--to", "0001").WithStdin(strings.NewReader("wrong-name\n")).ExpectCode(2)
	mustContain(t, "down without confirmation", r.Stderr, "not confirmed")
	if v := a.version(t); v != "0002" {
		t.Fatalf("unconfirmed down changed the database: %q", v)
	}
	// down always backs up first (here into a temporary --backup-dir, given
	// relative: the Job records the absolute path).
	backupDir := filepath.Join(t.TempDir(), "backups")
	rel, err := filepath.Rel(mustGetwd(t), backupDir)
	if err != nil {
		t.Fatal(err)
	}
	r = a.migrate(t, "down", "--to", "0001", "--backup-dir", rel).WithStdin(strings.NewReader(a.ns + "\n")).ExpectCode(0)
	mustContain(t, "down", r.Stderr, "backup first: ", "python -m alembic downgrade 0001")
	if files := backups(t, backupDir); len(files) != 1 {
		t.Fatalf("backups before down: %v", files)
	}
	if v := a.version(t); v != "0001" {
		t.Fatalf("alembic_version after down = %q", v)
	}

	var jd jobsDoc
	r = a.migrate(t, "jobs", "-o", "json").ExpectCode(0)
	if err := json.Unmarshal([]byte(r.Stdout), &jd); err != nil {
		t.Fatal(err)
	}
	if jd.Kind != "MigrationJobList" || len(jd.Jobs) != 2 || jd.Jobs[0].Direction != "down" || jd.Jobs[0].Target != "0001" || jd.Jobs[1].Direction != "up" || jd.Jobs[0].State != "Complete" ||
		!strings.HasPrefix(jd.Jobs[0].Backup, backupDir) || jd.Jobs[1].Backup != "" {
		t.Fatalf("jobs: %+v", jd)
	}
	r = a.migrate(t, "jobs", "--cleanup", "--older-than", "0s", "--keep", "1", "-o", "json").ExpectCode(0)
	jd = jobsDoc{}
	_ = json.Unmarshal([]byte(r.Stdout), &jd)
	if len(jd.Deleted) != 1 || jd.Deleted[0] != jd.Jobs[1].Name {
		t.Errorf("cleanup deleted %v, want the older Job", jd.Deleted)
	}
	waitFor(t, "the old Job to go", func() bool { return len(a.jobs(t)) == 1 })

	who := "someone@else (pid 1)"
	now := metav1.NewMicroTime(time.Now())
	if _, err := harness.Client(t).CoordinationV1().Leases(a.ns).Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: dev.MigrationLease()},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &who, AcquireTime: &now, RenewTime: &now},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = a.migrate(t).ExpectCode(1)
	mustContain(t, "locked migrate", r.Stderr, who, "wait for it")
	if strings.Contains(r.Stderr, "unlock") {
		t.Errorf("the refusal offers to unlock a live holder:\n%s", r.Stderr)
	}
	r = a.migrate(t, "unlock", "--yes").ExpectCode(1)
	mustContain(t, "unlock of a renewed lock", r.Stderr, who, "is in use", "--force")
	a.migrate(t, "unlock", "--force").WithStdin(strings.NewReader("no\n")).ExpectCode(2)
	r = a.migrate(t, "unlock", "--force").WithStdin(strings.NewReader(a.ns + "\n")).ExpectCode(0)
	mustContain(t, "unlock --force", r.Stderr, who, "at the same time", "released")
	a.migrate(t, "unlock", "--yes").ExpectCode(0)
	a.migrate(t).ExpectCode(0)
	if v := a.version(t); v != "0003" {
		t.Errorf("alembic_version = %q", v)
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestUnlockWhileAJobRuns: while a migration Job runs, unlock is refused
// also with --yes, naming the operation and the Job; --force releases it.
func TestUnlockWhileAJobRuns(t *testing.T) {
	a := setup(t, "alembic", "MIGRATE_SLEEP=15")
	var stdout, stderr bytes.Buffer
	cmd := a.migrate(t).Start(&stdout, &stderr)
	job := waitForJob(t, a)
	waitFor(t, "the log", func() bool { return strings.Contains(stdout.String(), "0002: creating table bots") })
	r := a.migrate(t, "unlock", "--yes").ExpectCode(1)
	mustContain(t, "unlock --yes", r.Stderr, "migrate up head by ", job, "Running", "--force")
	if _, err := harness.Client(t).CoordinationV1().Leases(a.ns).Get(context.Background(), dev.MigrationLease(), metav1.GetOptions{}); err != nil {
		t.Fatalf("the lock is gone after a refused unlock: %v", err)
	}
	r = a.migrate(t, "unlock", "--force", "--yes").ExpectCode(0)
	mustContain(t, "unlock --force --yes", r.Stderr, "migrate up head by ", "half-applied migration", "released")
	_ = cmd.Wait()
	if v := a.version(t); v != "0003" {
		t.Errorf("alembic_version = %q", v)
	}
}

// TestTimeout: a migration running past --timeout is stopped by the Job's
// activeDeadlineSeconds: exit 1, the reason named.
func TestTimeout(t *testing.T) {
	a := setup(t, "alembic", "MIGRATE_SLEEP=60")
	r := a.migrate(t, "--timeout", "3s").ExpectCode(1)
	mustContain(t, "stderr", r.Stderr, "DeadlineExceeded", "failed")
	if jobs := a.jobs(t); len(jobs) != 1 {
		t.Errorf("Jobs: %v", jobs)
	}
}

// TestRetriesFollowedAcrossPods: with --retries 1 a failing migration runs
// twice, and both pods' logs are followed.
func TestRetriesFollowedAcrossPods(t *testing.T) {
	a := setup(t, "alembic", "FAIL_REVISION=0003")
	r := a.migrate(t, "--retries", "1").ExpectCode(1)
	if n := strings.Count(r.Stdout, "failing on purpose"); n != 2 {
		t.Errorf("log of %d attempts printed, want 2:\n%s", n, r.Stdout)
	}
	mustContain(t, "stderr", r.Stderr, "(attempt 2)", "backoffLimit 1")
}
