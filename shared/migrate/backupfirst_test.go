package migrate

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup/backupflags"
)

// TestBackupFlagsBeforeJob: the backup seam is set exactly when a backup is
// taken (the flags' own rules are tested in backupflags).
func TestBackupFlagsBeforeJob(t *testing.T) {
	dev, prod := app.Environments["dev"], app.Environments["prod"]
	cases := []struct {
		name string
		b    BackupFlags
		env  app.Environment
		on   bool
	}{
		{"dev default off", BackupFlags{}, dev, false},
		{"dev backup-first", BackupFlags{First: backupflags.First{First: true}}, dev, true},
		{"prod default on", BackupFlags{}, prod, true},
		{"prod no-backup", BackupFlags{First: backupflags.First{No: true}}, prod, false},
	}
	for _, c := range cases {
		c.b.Resolve(c.env)
		if (c.b.BeforeJob(nil) != nil) != c.on {
			t.Errorf("%s: BeforeJob set = %v, want %v", c.name, !c.on, c.on)
		}
	}
}
