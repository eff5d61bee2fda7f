package migrate

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup/backupflags"
)

// TestBackupFlagsStep: the backup step is set exactly when a backup is
// taken (the flags' own rules are tested in backupflags).
func TestBackupFlagsStep(t *testing.T) {
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
		if (c.b.Step() != nil) != c.on {
			t.Errorf("%s: backup step set = %v, want %v", c.name, !c.on, c.on)
		}
	}
}
