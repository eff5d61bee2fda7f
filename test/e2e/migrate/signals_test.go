package migrate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestSignalDuringLogFollow (issue 13 #2): Ctrl-C (SIGINT) or SIGTERM while
// migrate up follows the Job's log ends it at once (the bound tells
// "ignored" from "stopped"; it is no timing assertion): exit 130, one error
// that says the Job keeps running with the lock and how to follow it again.
// Nothing is cut short in the cluster: the Job holds the lock and finishes.
func TestSignalDuringLogFollow(t *testing.T) {
	for _, sig := range harness.Signals {
		t.Run(harness.SigName(sig), func(t *testing.T) {
			a := setup(t, "alembic", "MIGRATE_SLEEP=20")
			run := a.migrate(t, "up").Background()
			run.WaitFor("0002: creating table bots", 2*time.Minute)
			job := waitForJob(t, a)
			run.Signal(sig)
			r := run.ExitWithin(10 * time.Second)
			a.noSecret(t, r)
			if r.Code != 130 {
				t.Fatalf("exit %d, want 130:\n%s", r.Code, r.Stderr)
			}
			mustContain(t, "stderr", r.Stderr, "error: interrupted: stopped following; Job "+job+" keeps running and the lock "+dev.MigrationLease()+" stays with it",
				"hint: follow it again: kubectl logs -f job/"+job+" -n "+a.ns)
			if st := a.status(t, 1); !st.Lock.Held || st.Lock.Job != job || st.Running == nil || st.Running.Name != job {
				t.Errorf("after the signal: lock %+v, running %+v; want the lock held for the running Job %s", st.Lock, st.Running, job)
			}
			waitFor(t, "the Job to complete", func() bool {
				j, err := harness.Client(t).BatchV1().Jobs(a.ns).Get(context.Background(), job, metav1.GetOptions{})
				return err == nil && j.Status.Succeeded > 0
			})
			if v := a.version(t); v != "0003" {
				t.Errorf("alembic_version = %q after the Job left running", v)
			}
		})
	}
	// --cancel-on-interrupt: SIGTERM deletes the Job and releases the lock, as Ctrl-C does (TestCancelOnInterrupt).
	t.Run("SIGTERM --cancel-on-interrupt", func(t *testing.T) {
		a := setup(t, "alembic", "MIGRATE_SLEEP=20")
		run := a.migrate(t, "up", "--cancel-on-interrupt").Background()
		run.WaitFor("0002: creating table bots", 2*time.Minute)
		job := waitForJob(t, a)
		run.Signal(harness.Signals[1])
		r := run.ExitWithin(10 * time.Second)
		if r.Code != 130 {
			t.Fatalf("exit %d, want 130:\n%s", r.Code, r.Stderr)
		}
		mustContain(t, "stderr", r.Stderr, "error: interrupted: Job "+job+" deleted and the lock "+dev.MigrationLease()+" released",
			"hint: check it with: kubectl piyasa migrate status -n "+a.ns)
		if strings.Count("\n"+r.Stderr, "\nerror: ") != 1 {
			t.Errorf("want one error line:\n%s", r.Stderr)
		}
		waitFor(t, "the Job to go", func() bool { return len(a.jobs(t)) == 0 })
	})
}
