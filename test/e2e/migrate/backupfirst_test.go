package migrate_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// backups returns the backup data files in dir (not their .json BackupInfo).
func backups(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if n := de.Name(); !strings.HasPrefix(n, ".") && !strings.HasSuffix(n, ".json") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}

// images returns the api Deployment's and the worker StatefulSet's images.
func (a *testApp) images(t *testing.T) (api, worker string) {
	t.Helper()
	cs := harness.Client(t)
	ac, _ := app.LookupComponent(app.API)
	wc, _ := app.LookupComponent(app.Worker)
	d, err := cs.AppsV1().Deployments(a.ns).Get(context.Background(), dev.WorkloadName(ac), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cs.AppsV1().StatefulSets(a.ns).Get(context.Background(), dev.WorkloadName(wc), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image, s.Spec.Template.Spec.Containers[0].Image
}

// containerNames returns the api's and the worker's first container names.
func (a *testApp) containerNames(t *testing.T) []string {
	t.Helper()
	cs := harness.Client(t)
	ac, _ := app.LookupComponent(app.API)
	wc, _ := app.LookupComponent(app.Worker)
	d, err := cs.AppsV1().Deployments(a.ns).Get(context.Background(), dev.WorkloadName(ac), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cs.AppsV1().StatefulSets(a.ns).Get(context.Background(), dev.WorkloadName(wc), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return []string{d.Spec.Template.Spec.Containers[0].Name, s.Spec.Template.Spec.Containers[0].Name}
}

// TestBackupFirst: `migrate up --backup-first --backup-dir D` writes a backup
// to D that `backup verify` accepts, records it on the Job (shown by `migrate
// jobs -o json`) and migrates to head.
func TestBackupFirst(t *testing.T) {
	a := setup(t, "alembic")
	dir := filepath.Join(t.TempDir(), "backups")
	r := a.migrate(t, "up", "--backup-first", "--backup-dir", dir).ExpectCode(0)
	a.noSecret(t, r)
	mustContain(t, "stderr", r.Stderr, "backup first: ", "succeeded")
	files := backups(t, dir)
	if len(files) != 1 {
		t.Fatalf("backups in %s: %v", dir, files)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("backup dir mode: %v %v", fi.Mode(), err)
	}
	harness.Piyasa(t, "backup", "verify", files[0], "-n", a.ns).RunOK()
	if v := a.version(t); v != "0003" {
		t.Fatalf("alembic_version = %q, want 0003", v)
	}
	jr := a.migrate(t, "jobs", "-o", "json").ExpectCode(0)
	var doc struct {
		Jobs []struct {
			Name   string `json:"name"`
			Backup string `json:"backup"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(jr.Stdout), &doc); err != nil {
		t.Fatalf("jobs -o json: %v\n%s", err, jr.Stdout)
	}
	if len(doc.Jobs) != 1 || doc.Jobs[0].Backup != files[0] {
		t.Fatalf("jobs: %+v, want the backup %s", doc.Jobs, files[0])
	}
}

// TestBackupFirstFails: a backup that cannot be written creates no Job,
// migrates nothing, releases the lock and exits 1.
func TestBackupFirstFails(t *testing.T) {
	a := setup(t, "alembic")
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := a.migrate(t, "up", "--backup-first", "--backup-dir", filepath.Join(blocker, "backups")).ExpectCode(1)
	mustContain(t, "stderr", r.Stderr, "backup before the migration failed, so nothing was migrated")
	if jobs := a.jobs(t); len(jobs) != 0 {
		t.Errorf("Jobs created after a failed backup: %v", jobs)
	}
	if v := a.version(t); v != "" {
		t.Errorf("alembic_version = %q after a failed backup", v)
	}
	if st := a.status(t, 1); st.Lock.Held {
		t.Errorf("lock still held: %+v", st.Lock)
	}
}

// TestDeployUpdateMigrate: a failing migration changes no image and names
// the Job; a working one moves api and worker and leaves the database at head.
func TestDeployUpdateMigrate(t *testing.T) {
	t.Run("failing migration", func(t *testing.T) {
		a := setup(t, "alembic", "FAIL_REVISION=0003")
		api, worker := a.images(t)
		r := harness.Piyasa(t, "deploy", "update", "--image", "v9.9.9", "--migrate", "-n", a.ns).ExpectCode(1)
		mustContain(t, "stderr", r.Stderr, "migration failed, so no image was changed: Job dev-db-migrate-", "kubectl logs job/dev-db-migrate-")
		if a2, w2 := a.images(t); a2 != api || w2 != worker {
			t.Errorf("images changed: api %s -> %s, worker %s -> %s", api, a2, worker, w2)
		}
	})
	t.Run("migrates then moves the images", func(t *testing.T) {
		a := setup(t, "alembic")
		dir := filepath.Join(t.TempDir(), "backups")
		r := harness.Piyasa(t, "deploy", "update", "--image", "v9.9.9", "--migrate", "--backup-first", "--backup-dir", dir, "-n", a.ns).ExpectCode(0)
		a.noSecret(t, r)
		mustContain(t, "stdout", r.Stdout, "update complete")
		if v := a.version(t); v != "0003" {
			t.Fatalf("alembic_version = %q, want 0003", v)
		}
		if api, worker := a.images(t); !strings.HasSuffix(api, ":v9.9.9") || worker != api {
			t.Errorf("images after the update: api %s, worker %s", api, worker)
		}
		if files := backups(t, dir); len(files) != 1 {
			t.Errorf("backups: %v", files)
		}
	})
}

// TestDeployUpdateMigrateRolloutFails: the migration succeeds, the new pods
// crash: the images are put back and the command says the schema is ahead of
// them, with the migrate down to the revision before and the backup.
func TestDeployUpdateMigrateRolloutFails(t *testing.T) {
	a := setup(t, "alembic")
	a.migrate(t, "up", "--to", "0002").ExpectCode(0)
	api, worker := a.images(t)
	// The new api and worker pods crash; the migration pod (container "migrate") runs.
	harness.CrashLoopStage(t, "piyasa-e2e-migrate-crash-"+a.ns,
		harness.Match{Key: ".metadata.namespace", Values: []string{a.ns}},
		harness.Match{Key: ".spec.containers.[0].image", Values: []string{app.APIImage + ":v9.9.8"}},
		harness.Match{Key: ".spec.containers.[0].name", Values: a.containerNames(t)})
	dir := filepath.Join(t.TempDir(), "backups")
	r := harness.Piyasa(t, "deploy", "update", "--image", "v9.9.8", "--migrate", "--backup-first", "--backup-dir", dir,
		"--timeout", "2m", "-n", a.ns).WithTimeout(5 * time.Minute).ExpectCode(1)
	files := backups(t, dir)
	if len(files) != 1 {
		t.Fatalf("backups: %v", files)
	}
	mustContain(t, "stdout", r.Stdout, "(rolled back)")
	mustContain(t, "stderr", r.Stderr, "AHEAD of the old image", "kubectl piyasa migrate down --to 0002 -n "+a.ns, files[0])
	if a2, w2 := a.images(t); a2 != api || w2 != worker {
		t.Errorf("images not rolled back: api %s -> %s, worker %s -> %s", api, a2, worker, w2)
	}
	if v := a.version(t); v != "0003" {
		t.Errorf("alembic_version = %q, want 0003 (a rollback does not undo a migration)", v)
	}
}
