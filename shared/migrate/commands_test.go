package migrate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// migrationJob is a migration Job as BuildJob labels and annotates it, created ago before the test clock.
func migrationJob(name, dir, target, backup string, ago time.Duration, state batchv1.JobConditionType) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "piyasa-chatbot-dev", Labels: map[string]string{app.MigrationLabel: "true"},
		CreationTimestamp: metav1.NewTime(clitest.Fixed.Add(-ago)),
		Annotations: map[string]string{app.MigrationCommandAnnotation: dir, app.MigrationTargetAnnotation: target,
			app.MigrationUserAnnotation: "me@h", app.MigrationBackupAnnotation: backup}}}
	j.Spec.Template.Spec.Containers = []corev1.Container{{Name: app.MigrationContainer, Image: "api@" + digest}}
	if state != "" {
		end := metav1.NewTime(clitest.Fixed.Add(-ago + time.Minute))
		j.Status.Conditions = []batchv1.JobCondition{{Type: state, Status: corev1.ConditionTrue, LastTransitionTime: end, Reason: "Done"}}
	}
	return j
}

func addObjects(t *testing.T, tt *clitest.T, objs ...interface{ GetName() string }) {
	t.Helper()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *batchv1.Job:
			_, err = tt.Fake.BatchV1().Jobs(tt.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
		default:
			l := lease("a@h (pid 1)", "restore b.sql.zst", "", time.Second)
			_, err = tt.Fake.CoordinationV1().Leases(tt.Namespace).Create(context.Background(), l, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatusShowsTheOperation: status names the lock's operation, the
// running and failed Jobs and what is pending (exit 1), and its document.
func TestStatusShowsTheOperation(t *testing.T) {
	tt := newApp(t)
	_ = tt.Global.Complete()
	addObjects(t, tt, lease("", "", "", 0), migrationJob("dev-db-migrate-2", "up", "head", "", time.Minute, ""),
		migrationJob("dev-db-migrate-1", "up", "0003", "", time.Hour, batchv1.JobFailed))
	ex := &fakeExec{current: "0002\n", heads: "0003 (head)\n", history: threeRevisions}
	o := NewStatusOptions(tt.Global)
	o.Exec = ex
	err := o.Run(context.Background())
	if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitFailed {
		t.Fatalf("status with a pending revision: %v", err)
	}
	for _, want := range []string{"Current:    0002", "Pending:    0003", "Running:    Job dev-db-migrate-2 (up head, by me@h)",
		"Lock:       dev-piyasa-migrate held: restore b.sql.zst by a@h (pid 1) since", "1 migration(s) pending"} {
		if !strings.Contains(tt.Stdout.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, tt.Stdout)
		}
	}
	tt.Stdout.Reset()
	o.Print.Output = output.JSON
	_ = o.Run(context.Background())
	var st Status
	if err := json.Unmarshal(tt.Stdout.Bytes(), &st); err != nil || st.Lock.Operation != "restore b.sql.zst" || st.UpToDate || st.Running == nil {
		t.Errorf("status document: %v %+v", err, st)
	}
}

// TestStatusExpiredLockAndUpToDate: an expired lock is shown free with its
// last operation; a database at head is exit 0.
func TestStatusExpiredLockAndUpToDate(t *testing.T) {
	tt := newApp(t)
	_ = tt.Global.Complete()
	_, _ = tt.Fake.CoordinationV1().Leases(tt.Namespace).Create(context.Background(), lease("b@h (pid 2)", "migrate down 0001", "", time.Hour), metav1.CreateOptions{})
	o := NewStatusOptions(tt.Global)
	o.Exec = &fakeExec{current: "0003\n", heads: "0003\n", history: threeRevisions}
	if err := o.Run(context.Background()); err != nil {
		t.Fatalf("status at head: %v", err)
	}
	if s := tt.Stdout.String(); !strings.Contains(s, "free (expired; last: migrate down 0001 by b@h (pid 2)") || !strings.Contains(s, "Status:     up to date") {
		t.Errorf("status:\n%s", s)
	}
}

// TestHistoryMarksCurrent: history is the image's revisions with the current one marked.
func TestHistoryMarksCurrent(t *testing.T) {
	tt := newApp(t)
	_ = tt.Global.Complete()
	o := &HistoryOptions{Global: tt.Global, Print: output.NewFlags(), Exec: &fakeExec{current: "0002\n", history: threeRevisions}}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := tt.Stdout.String(); !strings.Contains(s, "<- current") || !strings.Contains(s, "<base>") || !strings.Contains(s, "create messages") {
		t.Errorf("history:\n%s", s)
	}
	tt.Stdout.Reset()
	o.Print.Output = output.JSON
	var h History
	if err := o.Run(context.Background()); err != nil || json.Unmarshal(tt.Stdout.Bytes(), &h) != nil || len(h.Revisions) != 3 || !h.Revisions[1].Current {
		t.Errorf("history document: %v %+v", err, h)
	}
}

// TestJobsListAndCleanup: jobs lists the Jobs with their backup and names the
// lock's holder; --cleanup deletes the finished ones beyond --keep, never a
// running one nor the one the lock names.
func TestJobsListAndCleanup(t *testing.T) {
	tt := clitest.New("piyasa-chatbot-dev")
	_ = tt.Global.Complete()
	addObjects(t, tt,
		migrationJob("dev-db-migrate-4", "up", "head", "", time.Minute, ""),
		migrationJob("dev-db-migrate-3", "down", "0001", "/backups/b.sql.zst", 2*time.Hour, batchv1.JobComplete),
		migrationJob("dev-db-migrate-2", "up", "0003", "", 3*time.Hour, batchv1.JobFailed),
		migrationJob("dev-db-migrate-1", "up", "0002", "", 4*time.Hour, batchv1.JobComplete))
	_, _ = tt.Fake.CoordinationV1().Leases(tt.Namespace).Create(context.Background(), lease("a@h (pid 1)", "migrate up head", "dev-db-migrate-4", time.Second), metav1.CreateOptions{})
	o := &JobsOptions{Global: tt.Global, Print: output.NewFlags(), OlderThan: "1h", Keep: 1}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := tt.Stdout.String(); !strings.Contains(s, "/backups/b.sql.zst") || !strings.Contains(s, "dev-db-migrate-1") || !strings.Contains(s, "Running") {
		t.Errorf("jobs:\n%s", s)
	}
	if !strings.Contains(tt.Stderr.String(), "lock dev-piyasa-migrate held: migrate up head by a@h (pid 1)") {
		t.Errorf("stderr:\n%s", tt.Stderr)
	}
	tt.Stdout.Reset()
	o.Cleanup = true
	o.Print.Output = output.JSON
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var doc JobList
	if err := json.Unmarshal(tt.Stdout.Bytes(), &doc); err != nil || strings.Join(doc.Deleted, ",") != "dev-db-migrate-2,dev-db-migrate-1" {
		t.Errorf("cleanup deleted %v (%v)", doc.Deleted, err)
	}
}

// TestDownRuns: down asks for the namespace (exit 2 when not confirmed),
// warns without a backup and runs the downgrade Job.
func TestDownRuns(t *testing.T) {
	tt := newApp(t)
	tt.In.WriteString("nope\n")
	o := &DownOptions{Global: tt.Global, Options: Options{Direction: "down", To: "0001", Timeout: time.Minute, Exec: &fakeExec{history: threeRevisions}}, Print: output.NewFlags()}
	o.Backup.No = true
	if err := o.Complete(nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if e := cli.Classify(o.Run(context.Background()), ""); e.Code != cli.ExitUsage {
		t.Fatalf("unconfirmed down: %+v", e)
	}
	completeJobs(t, tt, batchv1.JobComplete)
	o.Yes = true
	if err := o.Run(context.Background()); err != nil {
		t.Fatalf("down: %v\n%s", err, tt.Stderr)
	}
	if s := tt.Stderr.String(); !strings.Contains(s, "without a backup first") || !strings.Contains(s, "alembic downgrade 0001") {
		t.Errorf("stderr:\n%s", s)
	}
}

// TestUpCommandRuns: `migrate up` (the command's Run) migrates to head.
func TestUpCommandRuns(t *testing.T) {
	tt := newApp(t)
	o := NewUpOptions(tt.Global)
	o.Exec = &fakeExec{history: threeRevisions, current: "0001\n"}
	if err := o.Complete(nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	completeJobs(t, tt, batchv1.JobComplete)
	if err := o.Run(context.Background()); err != nil || !strings.Contains(tt.Stderr.String(), "migration up head succeeded") {
		t.Fatalf("up: %v\n%s", err, tt.Stderr)
	}
	n, _ := o.NeededRights(context.Background())
	if n == nil || len(n.Rights) == 0 {
		t.Error("no rights needed")
	}
}

// TestUpInterrupted: Ctrl-C once the Job exists leaves it running with the
// lock (exit 130); with CancelOnInterrupt the Job is deleted and the lock freed.
func TestUpInterrupted(t *testing.T) {
	for _, cancelJob := range []bool{false, true} {
		tt := newApp(t)
		_ = tt.Global.Complete()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for i := 0; i < 500; i++ {
				if list, _ := tt.Fake.BatchV1().Jobs(tt.Namespace).List(context.Background(), metav1.ListOptions{}); len(list.Items) == 1 {
					cancel()
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		r, err := Up(ctx, tt.Global, Options{Exec: &fakeExec{}, Timeout: time.Minute, CancelOnInterrupt: cancelJob})
		if e := cli.Classify(err, ""); e.Code != cli.ExitInterrupted || r == nil {
			t.Fatalf("cancel-on-interrupt %v: %v", cancelJob, err)
		}
		jobs, _ := tt.Fake.BatchV1().Jobs(tt.Namespace).List(context.Background(), metav1.ListOptions{})
		info, _, _ := oplock.DescribeLock(context.Background(), tt.Fake, tt.Namespace, "dev-piyasa-migrate", clitest.Fixed.Add(time.Minute))
		if cancelJob && (len(jobs.Items) != 0 || info.Holder != "" || r.State != "Cancelled") {
			t.Errorf("cancelled: Jobs %d, lock %+v, state %s", len(jobs.Items), info, r.State)
		}
		if !cancelJob && (len(jobs.Items) != 1 || !info.Held || info.Job != r.Job || r.State != "Interrupted") {
			t.Errorf("interrupted: Jobs %d, lock %+v, state %s", len(jobs.Items), info, r.State)
		}
	}
}
