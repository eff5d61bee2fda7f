package migrate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/migrate/migraterun"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// TestUpJSONDocument: `migrate up -o json` prints the run's MigrationRun
// document on stdout, with the revision read under the lock before the Job
// and the backup taken first, whether the migration succeeded or failed.
func TestUpJSONDocument(t *testing.T) {
	cases := []struct {
		name, current, from string
		state               batchv1.JobConditionType
		code                int
	}{
		{"complete", "INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\n0002\n", "0002", batchv1.JobComplete, 0},
		{"failed, from base", "", "base", batchv1.JobFailed, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := newApp(t)
			_ = tt.Global.Complete()
			completeJobs(t, tt, c.state)
			ex := &fakeExec{current: c.current}
			p := output.NewFlags()
			p.Output = output.JSON
			err := runPrinted(context.Background(), tt.Global, Options{Direction: "up", To: "head", Exec: ex, Timeout: time.Minute,
				BackupFirst: &fakeBackup{tt: tt}}, p)
			if got := cli.Classify(err, ""); (err == nil) != (c.code == 0) || (err != nil && got.Code != c.code) {
				t.Fatalf("exit: %v\n%s", err, tt.Stderr)
			}
			var doc struct {
				Kind string `json:"kind"`
				migraterun.Result
				DurationSeconds *float64 `json:"durationSeconds"`
			}
			if err := json.Unmarshal(tt.Stdout.Bytes(), &doc); err != nil {
				t.Fatalf("stdout is not the document: %v\n%s", err, tt.Stdout)
			}
			wantState := map[batchv1.JobConditionType]string{batchv1.JobComplete: "Complete", batchv1.JobFailed: "Failed"}[c.state]
			if doc.Kind != migraterun.Kind || doc.Job != "dev-db-migrate-20261201-030000" || doc.From != c.from || doc.Backup != "/backups/b-20261201-030000.sql.zst" ||
				doc.State != wantState || doc.Target != "head" || doc.DurationSeconds == nil {
				t.Errorf("document %+v\n%s", doc, tt.Stdout)
			}
			if !strings.Contains(tt.Stderr.String(), "database revision before the migration: "+c.from) || !strings.Contains(tt.Stderr.String(), "fake logs") {
				t.Errorf("stderr:\n%s", tt.Stderr)
			}
			if i, j := strings.Index(strings.Join(ex.cmds, "\n"), "alembic current"), strings.Index(strings.Join(ex.cmds, "\n"), "pg_isready"); i < j {
				t.Errorf("the revision was read before the connection check: %v", ex.cmds)
			}
		})
	}
}

// TestUpTableLogOnStdout: without -o json|yaml the log goes to stdout as
// before.
func TestUpTableLogOnStdout(t *testing.T) {
	tt := newApp(t)
	_ = tt.Global.Complete()
	completeJobs(t, tt, batchv1.JobComplete)
	ex := &fakeExec{}
	if err := runPrinted(context.Background(), tt.Global, Options{Direction: "up", To: "head", Exec: ex, Timeout: time.Minute}, output.NewFlags()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tt.Stdout.String(), "fake logs\n") {
		t.Errorf("stdout %q", tt.Stdout)
	}
}
