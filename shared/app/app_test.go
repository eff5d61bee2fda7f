package app

import (
	"strings"
	"testing"
)

func TestComponentLookups(t *testing.T) {
	for _, c := range Components {
		got, err := LookupComponent(c.Name)
		if err != nil || got.Name != c.Name {
			t.Errorf("LookupComponent(%s) = %v, %v", c.Name, got.Name, err)
		}
		// a pod carries its component's labels plus others
		labels := map[string]string{"pod-template-hash": "x", PartOfLabel: PartOfValue}
		for k, v := range c.Labels {
			labels[k] = v
		}
		if n := ComponentNameForLabels(labels); n != c.Name {
			t.Errorf("ComponentNameForLabels(%v) = %q, want %s", labels, n, c.Name)
		}
	}
	if _, err := LookupComponent("databse"); err == nil {
		t.Error("unknown component accepted")
	}
	if n := ComponentNameForLabels(map[string]string{"app": "piyasa-api"}); n != "" {
		t.Errorf("partial labels matched %q", n)
	}
	if c, _ := LookupComponent(Worker); c.HPA != "" {
		t.Error("the workers must have no HPA (TOTAL_WORKERS sharding)")
	}
}

func TestEnvironments(t *testing.T) {
	for _, name := range EnvironmentNames() {
		e, err := LookupEnvironment(name)
		if err != nil {
			t.Fatal(err)
		}
		if e.TotalWorkers != e.Replicas[Worker] {
			t.Errorf("%s: TOTAL_WORKERS %d != worker replicas %d", name, e.TotalWorkers, e.Replicas[Worker])
		}
		if got, ok := EnvironmentForNamespace(e.Namespace); !ok || got.Name != name {
			t.Errorf("EnvironmentForNamespace(%s) = %v", e.Namespace, got.Name)
		}
	}
	if _, err := LookupEnvironment("staging"); err == nil {
		t.Error("unknown environment accepted")
	}
}

// TestRestoreCommandsOfEncryptedBackups: the commands a restore record
// offers carry --identity when the backup (or its safety copy) is age-encrypted.
func TestRestoreCommandsOfEncryptedBackups(t *testing.T) {
	for _, c := range []struct {
		backup, safety string
		finish, undo   bool // want --identity
	}{
		{"/b/piyasa_db-ns-t.sql.zst", "/b/piyasa_db-ns-t-pre-restore.sql.zst", false, false},
		{"/b/piyasa_db-ns-t.sql.zst.age", "/b/piyasa_db-ns-t-pre-restore.sql.zst.age", true, true},
		{"s3://b/p/piyasa_db-ns-t.sql.gz.age", "", true, false},
	} {
		r := RestoreRecord{Backup: c.backup, SafetyBackup: c.safety, Environment: "prod"}
		if got := strings.HasSuffix(r.FinishCommand("ns"), " --identity AGE_IDENTITY_FILE"); got != c.finish {
			t.Errorf("%s: finish %q", c.backup, r.FinishCommand("ns"))
		}
		if got := strings.Contains(r.UndoCommand("ns"), "--identity"); got != c.undo {
			t.Errorf("%s: undo %q", c.safety, r.UndoCommand("ns"))
		}
	}
}
