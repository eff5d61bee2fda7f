package migrate_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpFromEmptyToHead: status says pending (exit 1), migrate runs the three
// revisions in a Job with their log printed, alembic_version is at head in the
// real database, status is then clean (exit 0), the Job is kept.
func TestUpFromEmptyToHead(t *testing.T) {
	a := setup(t, "alembic")
	// A revision the image does not know: exit 2 before any Job (D13).
	r := a.migrate(t, "up", "--to", "9999").ExpectCode(2)
	mustContain(t, "--to 9999", r.Stderr, `"9999"`, "heads: 0003")
	if jobs := a.jobs(t); len(jobs) != 0 {
		t.Fatalf("Jobs after --to 9999: %v", jobs)
	}
	st := a.status(t, 1)
	if len(st.Current) != 0 || strings.Join(st.Heads, ",") != "0003" || strings.Join(st.Pending, ",") != "0001,0002,0003" || st.UpToDate {
		t.Fatalf("status before: %+v", st)
	}
	if st.APIVersion != "piyasa.io/v1alpha1" || st.Kind != "MigrationStatus" {
		t.Errorf("status document type: %s %s", st.APIVersion, st.Kind)
	}
	logFile := filepath.Join(t.TempDir(), "migrate.log")
	r = a.migrate(t, "--log-file", logFile).ExpectCode(0)
	a.noSecret(t, r)
	mustContain(t, "stdout", r.Stdout, "0001: creating table users", "0002: creating table bots", "0003: creating table messages")
	mustContain(t, "stderr", r.Stderr, "PostgreSQL accepts connections", "Job dev-db-migrate-", "python -m alembic upgrade head", "succeeded")
	if v := a.version(t); v != "0003" {
		t.Fatalf("alembic_version = %q, want 0003", v)
	}
	if got := a.pg.Query(t, "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('users','bots','messages')"); got != "3" {
		t.Errorf("tables made: %s", got)
	}
	b, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(b), "0003: creating table messages") {
		t.Errorf("--log-file: %v\n%s", err, b)
	}
	if jobs := a.jobs(t); len(jobs) != 1 {
		t.Errorf("migration Jobs kept: %v", jobs)
	}
	st = a.status(t, 0)
	if !st.UpToDate || strings.Join(st.Current, ",") != "0003" || len(st.Pending) != 0 || st.Lock.Held {
		t.Fatalf("status after: %+v", st)
	}
	// A second run finds the database at head: exit 0, no Job, no backup (R5).
	backupDir := t.TempDir()
	r = a.migrate(t, "up", "--backup-first", "--backup-dir", backupDir, "-o", "json").ExpectCode(0)
	mustContain(t, "up at head", r.Stderr, "already at head 0003: nothing to do")
	mustContain(t, "up at head -o json", r.Stdout, `"state": "UpToDate"`)
	if jobs := a.jobs(t); len(jobs) != 1 {
		t.Errorf("Jobs after up at head: %v", jobs)
	}
	if files := backups(t, backupDir); len(files) != 0 {
		t.Errorf("backups taken at head: %v", files)
	}
}
