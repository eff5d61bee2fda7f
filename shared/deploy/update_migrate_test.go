package deploy

import (
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// TestUpdateMigrateFlags: the --migrate flags are checked before anything
// runs (exit 2, no image changed); a dry run runs no migration.
func TestUpdateMigrateFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"migrate needs --image", []string{"update", "--frontend-image", "v2.0.0", "--migrate"}, 2, "--migrate needs --image"},
		{"backup flags need --migrate", []string{"update", "--image", "v2.0.0", "--backup-first"}, 2, "go with --migrate"},
		{"backup-first and no-backup", []string{"update", "--image", "v2.0.0", "--migrate", "--backup-first", "--no-backup"}, 2, "contradict"},
		{"dir and s3", []string{"update", "--image", "v2.0.0", "--migrate", "--backup-dir", "d", "--backup-to", "s3://b/p"}, 2, "one of --backup-dir and --backup-to"},
		{"backup-to not s3", []string{"update", "--image", "v2.0.0", "--migrate", "--backup-to", "/tmp/x"}, 2, "s3://BUCKET/PREFIX"},
		{"client dry run migrates nothing", []string{"update", "--image", "v2.0.0", "--migrate", "--dry-run=client"}, 0, "the backup and the migration are not run"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := clitest.New(devNS, liveApp(imgV1)...)
			err := run(tt, c.args...)
			stdout, stderr := tt.Output()
			all := stdout + stderr
			if err != nil {
				all += err.Error()
			}
			if got := code(err); got != c.code || !strings.Contains(all, c.out) {
				t.Fatalf("exit %d (want %d), output lacks %q? %v\n%s", got, c.code, c.out, err, all)
			}
			if api := getDeploy(t, tt, "dev-api").Spec.Template.Spec.Containers[0].Image; api != imgV1 {
				t.Errorf("api image changed to %s", api)
			}
		})
	}
}

// TestExplainRollbackAfterMigration: a rollback over a migrated schema says
// the schema is ahead, with migrate down --to the revision before and the backup.
func TestExplainRollbackAfterMigration(t *testing.T) {
	tt := clitest.New(devNS)
	if err := tt.Global.Complete(); err != nil {
		t.Fatal(err)
	}
	m := updateMigrate{done: &migrationDone{Job: "dev-db-migrate-1", Before: "0002", Backup: "backups/b.sql.zst"}}
	err := m.explainRollback(tt.Global, cli.Failedf("update failed and was rolled back"))
	_, stderr := tt.Output()
	e := cli_error(err)
	if e == nil || !strings.Contains(e.Hint, "migrate down --to 0002 -n "+devNS) || !strings.Contains(e.Hint, "backups/b.sql.zst") {
		t.Fatalf("hint: %#v", e)
	}
	for _, want := range []string{"AHEAD of the old image", "dev-db-migrate-1", "kubectl piyasa migrate down --to 0002 -n " + devNS, "kubectl piyasa backup restore backups/b.sql.zst"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if (&updateMigrate{}).explainRollback(tt.Global, nil) != nil {
		t.Error("no error must stay no error")
	}
}
