package e2ebackup

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// Backup runs `kubectl piyasa backup ARGS --env dev -n NS`.
func (e *Env) Backup(t *testing.T, args ...string) *harness.Cmd {
	return harness.Piyasa(t, append(append([]string{"backup"}, args...), "--env", "dev", "-n", e.NS)...).WithTimeout(4 * time.Minute)
}

// ParseInfo reads a BackupInfo document (`-o json`) and fails t unless it is one.
func ParseInfo(t *testing.T, out string) *backup.BackupInfo {
	t.Helper()
	var info backup.BackupInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("BackupInfo: %v\n%s", err, out)
	}
	if info.Kind != backup.KindBackupInfo || info.APIVersion != app.APIVersion {
		t.Fatalf("document kind %q apiVersion %q", info.Kind, info.APIVersion)
	}
	return &info
}
