package migrate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/migrate/migraterun"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

const threeRevisions = "0002 -> 0003 (head), create messages\n0001 -> 0002, create bots\n<base> -> 0001, create users\n"

func noJobs(t *testing.T, fake interface {
	List(context.Context, metav1.ListOptions) (*batchv1.JobList, error)
}) {
	t.Helper()
	if list, _ := fake.List(context.Background(), metav1.ListOptions{}); len(list.Items) != 0 {
		t.Errorf("a Job was created: %s", list.Items[0].Name)
	}
}

// TestUpUnknownRevision: --to a revision the image does not know is exit 2
// before the lock, the backup and any Job, naming the heads (D13); down too.
func TestUpUnknownRevision(t *testing.T) {
	for _, dir := range []string{"up", "down"} {
		t.Run(dir, func(t *testing.T) {
			tt := newApp(t)
			_ = tt.Global.Complete()
			b := &fakeBackup{tt: tt}
			_, err := Up(context.Background(), tt.Global, Options{Direction: dir, To: "9999", Exec: &fakeExec{history: threeRevisions, current: "0002\n"},
				Timeout: time.Minute, BackupFirst: b})
			e := cli.Classify(err, "")
			if err == nil || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, `"9999"`) || !strings.Contains(e.Msg, "heads: 0003") || !strings.Contains(e.Hint, "migrate history") {
				t.Fatalf("unknown revision: %v", err)
			}
			if b.underLck {
				t.Error("a backup was taken")
			}
			noJobs(t, tt.Fake.BatchV1().Jobs(tt.Namespace))
			if _, err := tt.Fake.CoordinationV1().Leases(tt.Namespace).Get(context.Background(), "dev-piyasa-migrate", metav1.GetOptions{}); err == nil {
				t.Error("the lock was taken")
			}
		})
	}
}

// TestUpAtTarget: up when the database is at head (or past --to) says so,
// creates no Job, takes no backup and exits 0; -o json prints a MigrationRun
// with state UpToDate (R5).
func TestUpAtTarget(t *testing.T) {
	for _, c := range []struct{ to, current, says string }{
		{"head", "0003 (head)\n", "already at head 0003: nothing to do"},
		{"0002", "0003\n", "already at head 0003: nothing to do"},
		{"00", "0003\n", ""}, // a prefix of three revisions: alembic's to refuse, in a Job
	} {
		t.Run(c.to, func(t *testing.T) {
			tt := newApp(t)
			_ = tt.Global.Complete()
			if c.to == "00" {
				completeJobs(t, tt, batchv1.JobComplete)
			}
			b := &fakeBackup{tt: tt}
			p := output.NewFlags()
			p.Output = output.JSON
			err := runPrinted(context.Background(), tt.Global, Options{Direction: "up", To: c.to, Exec: &fakeExec{history: threeRevisions, current: c.current},
				Timeout: time.Minute, BackupFirst: b}, p)
			if err != nil {
				t.Fatalf("up: %v\n%s", err, tt.Stderr)
			}
			if c.to == "00" { // not told apart here: alembic decides in a Job
				if !b.underLck {
					t.Error("an ambiguous prefix was taken as up to date")
				}
				return
			}
			if !strings.Contains(tt.Stderr.String(), c.says) || b.underLck {
				t.Errorf("stderr (backup taken: %v):\n%s", b.underLck, tt.Stderr)
			}
			noJobs(t, tt.Fake.BatchV1().Jobs(tt.Namespace))
			var doc struct {
				Kind string `json:"kind"`
				migraterun.Result
			}
			if err := json.Unmarshal(tt.Stdout.Bytes(), &doc); err != nil || doc.Kind != migraterun.Kind || doc.State != migraterun.StateUpToDate || doc.Job != "" || doc.From != "0003" {
				t.Errorf("document %v %+v\n%s", err, doc, tt.Stdout)
			}
			if _, err := tt.Fake.CoordinationV1().Leases(tt.Namespace).Get(context.Background(), "dev-piyasa-migrate", metav1.GetOptions{}); err == nil {
				t.Error("the lock was not released")
			}
		})
	}
}

// TestUpOtherImageNotChecked: with --image other than the running one, the
// running pods' revisions say nothing about the Job's: the Job runs.
func TestUpOtherImageNotChecked(t *testing.T) {
	tt := newApp(t)
	_ = tt.Global.Complete()
	completeJobs(t, tt, batchv1.JobComplete)
	ex := &fakeExec{history: threeRevisions, current: "0003\n"}
	r, err := Up(context.Background(), tt.Global, Options{To: "0004", Image: "v2.0.0", Exec: ex, Timeout: time.Minute})
	if err != nil || r.Job == "" || r.State != "Complete" {
		t.Fatalf("up --image v2.0.0 --to 0004: %v %+v", err, r)
	}
	if strings.Contains(strings.Join(ex.cmds, "\n"), "alembic history") {
		t.Errorf("the running image's history was read: %v", ex.cmds)
	}
}

func TestRevisionsResolve(t *testing.T) {
	hist, _ := ParseHistory(threeRevisions)
	rv := &revisions{history: hist, heads: []string{"0003"}}
	for target, want := range map[string]bool{"0003": true, "head": true, "base": true, "-1": true, "head-1": true, "br@0002": true,
		"000": true /* ambiguous: alembic's */, "9999": false, "00031": false} {
		if _, ok := rv.resolve(target); ok != want {
			t.Errorf("resolve(%q) = %v, want %v", target, ok, want)
		}
	}
	if !rv.upToDate("heads", []string{"0003"}) || rv.upToDate("head", []string{"0002"}) || rv.upToDate("+1", []string{"0003"}) || rv.upToDate("head", []string{"0009"}) {
		t.Error("upToDate")
	}
	two := &revisions{history: hist, heads: []string{"0003", "0002"}}
	if two.upToDate("head", []string{"0003"}) {
		t.Error("head with several heads is alembic's to refuse")
	}
}
