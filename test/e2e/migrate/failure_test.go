package migrate_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestFailingRevision: revision 0003 fails: exit 1 with its log and what to
// do, the Job kept with one pod (nothing retried), the database at 0002, the lock free.
func TestFailingRevision(t *testing.T) {
	a := setup(t, "alembic", "FAIL_REVISION=0003")
	r := a.migrate(t).ExpectCode(1)
	a.noSecret(t, r)
	mustContain(t, "stdout", r.Stdout, "0002: creating table bots", "failing on purpose")
	mustContain(t, "stderr", r.Stderr, "migration up head failed", "last ", "RuntimeError: migration 0003 failed on purpose", "what to do", "kubectl logs job/dev-db-migrate-")
	jobs := a.jobs(t)
	if len(jobs) != 1 {
		t.Fatalf("Jobs: %v", jobs)
	}
	pods, err := harness.Client(t).CoreV1().Pods(a.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + jobs[0]})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods of the failed Job (want 1: not retried): %v %d", err, len(pods.Items))
	}
	if v := a.version(t); v != "0002" {
		t.Errorf("alembic_version = %q, want 0002 (0003 rolled back)", v)
	}
	// Its log survives with the Job.
	logs := harness.Kubectl(t, "logs", "job/"+jobs[0], "-n", a.ns).RunOK()
	mustContain(t, "kubectl logs", logs.Stdout, "failed on purpose")
	st := a.status(t, 1)
	if st.LastFailed == nil || st.LastFailed.Name != jobs[0] || strings.Join(st.Pending, ",") != "0003" || st.Lock.Held {
		t.Errorf("status after the failure: %+v", st)
	}
}

// TestTwoHeads: an image with two heads gives a clear error and migrates nothing.
func TestTwoHeads(t *testing.T) {
	a := setup(t, "twoheads")
	st := a.status(t, 1)
	if !st.MultipleHeads || len(st.Heads) != 2 {
		t.Errorf("status: %+v", st)
	}
	r := a.migrate(t).ExpectCode(1)
	mustContain(t, "stderr", r.Stderr, "several Alembic heads", "alembic merge heads")
	if v := a.version(t); v != "" {
		t.Errorf("alembic_version = %q, want none", v)
	}
}

// TestConcurrentMigrations: two migrates started at the same instant:
// exactly one runs, the other exits 1 at once naming the holder and the lock.
func TestConcurrentMigrations(t *testing.T) {
	a := setup(t, "alembic", "MIGRATE_SLEEP=3")
	var wg sync.WaitGroup
	results := make([]harness.Result, 2)
	start := make(chan struct{})
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			results[i] = a.migrate(t).Run()
		}(i)
	}
	close(start)
	wg.Wait()
	var ok, refused []harness.Result
	for _, r := range results {
		switch r.Code {
		case 0:
			ok = append(ok, r)
		case 1:
			refused = append(refused, r)
		default:
			t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
		}
	}
	if len(ok) != 1 || len(refused) != 1 {
		t.Fatalf("want one run and one refused: %d ok, %d refused\n%s\n---\n%s", len(ok), len(refused), results[0].Stderr, results[1].Stderr)
	}
	host, _ := os.Hostname()
	mustContain(t, "refused stderr", refused[0].Stderr, "another operation holds the database lock dev-piyasa-migrate", "migrate up ", "@"+host, "since ")
	if refused[0].Duration > ok[0].Duration/2 {
		t.Errorf("the refused migrate waited: %s (the other ran %s)", refused[0].Duration, ok[0].Duration)
	}
	if jobs := a.jobs(t); len(jobs) != 1 {
		t.Errorf("Jobs: %v", jobs)
	}
	if v := a.version(t); v != "0003" {
		t.Errorf("alembic_version = %q", v)
	}
}

// TestExpiredLeaseTakenOver: a Lease left by a holder that is gone, whose Job
// has finished long ago, is taken over.
func TestExpiredLeaseTakenOver(t *testing.T) {
	a := setup(t, "alembic")
	who := "ghost@gone (pid 4242)"
	old := metav1.NewMicroTime(time.Now().Add(-time.Hour))
	dur := int32(30)
	_, err := harness.Client(t).CoordinationV1().Leases(a.ns).Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: dev.MigrationLease(), Annotations: map[string]string{app.MigrationJobAnnotation: "dev-db-migrate-19990101-000000"}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &who, AcquireTime: &old, RenewTime: &old, LeaseDurationSeconds: &dur},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := a.status(t, 1)
	if st.Lock.Held || st.Lock.Holder != who {
		t.Errorf("status of an expired lock: %+v", st.Lock)
	}
	r := a.migrate(t).ExpectCode(0)
	mustContain(t, "stderr", r.Stderr, "took over the expired lock dev-piyasa-migrate from "+who)
	if v := a.version(t); v != "0003" {
		t.Errorf("alembic_version = %q", v)
	}
}

// TestInterruptLeavesTheJob: Ctrl-C stops following and leaves the Job
// running; a second migrate is refused until it ends, then runs.
func TestInterruptLeavesTheJob(t *testing.T) {
	// 0002 sleeps 15 s: the second migrate and the status must find the Job
	// still running also on a loaded machine (5 s was once too short).
	a := setup(t, "alembic", "MIGRATE_SLEEP=15")
	var stdout, stderr bytes.Buffer
	cmd := a.migrate(t).Start(&stdout, &stderr)
	job := waitForJob(t, a)
	waitFor(t, "the log", func() bool { return strings.Contains(stdout.String(), "0002: creating table bots") })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d (%v), want 130\n%s", code, err, stderr.String())
	}
	mustContain(t, "stderr", stderr.String(), "Job "+job+" keeps running", "kubectl logs -f job/"+job)
	r := a.migrate(t).ExpectCode(1)
	mustContain(t, "second migrate", r.Stderr, "holds the database lock", job)
	if st := a.status(t, 1); st.Running == nil || st.Running.Name != job || !st.Lock.Held || st.Lock.Job != job {
		t.Errorf("status while the left Job runs: %+v", st)
	}
	waitFor(t, "the Job to complete", func() bool {
		j, err := harness.Client(t).BatchV1().Jobs(a.ns).Get(context.Background(), job, metav1.GetOptions{})
		return err == nil && j.Status.Succeeded > 0
	})
	if v := a.version(t); v != "0003" {
		t.Errorf("alembic_version = %q after the left Job", v)
	}
	a.migrate(t).ExpectCode(0)
}

// TestCancelOnInterrupt: with --cancel-on-interrupt Ctrl-C deletes the Job and releases the lock.
func TestCancelOnInterrupt(t *testing.T) {
	a := setup(t, "alembic", "MIGRATE_SLEEP=5")
	var stdout, stderr bytes.Buffer
	cmd := a.migrate(t, "--cancel-on-interrupt").Start(&stdout, &stderr)
	job := waitForJob(t, a)
	waitFor(t, "the log", func() bool { return strings.Contains(stdout.String(), "0002: creating table bots") })
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130\n%s", code, stderr.String())
	}
	mustContain(t, "stderr", stderr.String(), "Job "+job+" deleted", "released")
	if _, err := harness.Client(t).CoordinationV1().Leases(a.ns).Get(context.Background(), dev.MigrationLease(), metav1.GetOptions{}); err == nil {
		t.Error("the lock is still there")
	}
	waitFor(t, "the Job to go", func() bool { return len(a.jobs(t)) == 0 })
}

func waitForJob(t *testing.T, a *testApp) string {
	t.Helper()
	var job string
	waitFor(t, "the migration Job", func() bool {
		if j := a.jobs(t); len(j) == 1 {
			job = j[0]
		}
		return job != ""
	})
	return job
}

// waitFor polls cond for up to a minute (tests wait for conditions; they assert no timings).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
