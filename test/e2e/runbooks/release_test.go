package runbooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// releaseApp deploys the dev app with a real PostgreSQL behind its postgres
// pod (exec: pg_dump, psql, pg_isready) and real Alembic behind its api pods
// and migration Jobs (the harness kubelet), on the Alembic fixture of the
// migrate e2e: three revisions, 0003 failing while FAIL_REVISION=0003 is in
// piyasa-config.
func releaseApp(t *testing.T) (ns string, pg *harness.MigratePG) {
	t.Helper()
	ns = harness.Namespace(t, "rb-release")
	envPath := harness.InitEnv(t, filepath.Join(t.TempDir(), ".env"))
	password := harness.EnvValue(t, envPath, app.KeyDatabasePassword)
	pg = harness.MigratePGStart(t, password)
	harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", envPath, "--timeout", "3m").RunOK()
	c, _ := app.LookupComponent(app.API)
	fixture, _ := filepath.Abs(filepath.Join("..", "migrate", "testdata", "alembic"))
	// The app's own settings stay as deployed (diagnose finds them healthy);
	// the local processes reach the loopback server through these.
	harness.MigrateKubelet(t, harness.MigrateKubeletOptions{
		Namespace: ns, WorkDir: fixture, ExecDeployment: app.Environments["dev"].WorkloadName(c),
		ExtraEnv: []string{"DATABASE_URL=" + pg.URL(), "DATABASE_HOST=127.0.0.1", fmt.Sprintf("DATABASE_PORT=%d", pg.Port),
			"PGHOST=127.0.0.1", fmt.Sprintf("PGPORT=%d", pg.Port), "POSTGRES_PASSWORD=" + password, "POSTGRES_USER=" + app.DatabaseUser},
	})
	return ns, pg
}

func apiImage(t *testing.T, ns string) (api, worker string) {
	t.Helper()
	cs := harness.Client(t)
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "dev-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cs.AppsV1().StatefulSets(ns).Get(context.Background(), "dev-worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image, s.Spec.Template.Spec.Containers[0].Image
}

func dbRevision(t *testing.T, pg *harness.MigratePG) string {
	t.Helper()
	if pg.Query(t, "SELECT to_regclass('public.alembic_version') IS NOT NULL") != "t" {
		return ""
	}
	return pg.Query(t, "SELECT string_agg(version_num, ',') FROM alembic_version")
}

// TestReleaseDryRun: the dry run reads (diagnose, migrate status) and changes nothing.
func TestReleaseDryRun(t *testing.T) {
	ns, pg := releaseApp(t)
	backups := t.TempDir()
	api0, _ := apiImage(t, ns)
	r := runbook(t, "release.sh", "v1.1.0", "--dry-run", "--env", "dev", "-n", ns, "--backup-dir", backups).WithTimeout(5 * time.Minute).RunOK()
	for _, want := range []string{"would run: kubectl piyasa backup create --dir " + backups, "would run: kubectl piyasa deploy update --image v1.1.0 --migrate"} {
		if !strings.Contains(r.Stdout, want) {
			t.Fatalf("dry run lacks %q:\n%s", want, r.Stdout)
		}
	}
	if a, _ := apiImage(t, ns); a != api0 {
		t.Fatalf("the dry run changed the image to %s", a)
	}
	if rev := dbRevision(t, pg); rev != "" {
		t.Fatalf("the dry run migrated the database to %s", rev)
	}
	if files, _ := os.ReadDir(backups); len(files) != 0 {
		t.Fatalf("the dry run wrote %d files", len(files))
	}
}

// TestReleaseFailures: a failing migration leaves the images; a rollout that
// fails after a migration rolls the images back and says the schema is ahead.
func TestReleaseFailures(t *testing.T) {
	ns, pg := releaseApp(t)
	backups := t.TempDir()
	target := []string{"--env", "dev", "-n", ns, "--backup-dir", backups, "--timeout", "2m"}
	api0, worker0 := apiImage(t, ns)
	release := func(tag string) *harness.Cmd {
		return runbook(t, "release.sh", append([]string{tag}, target...)...).WithTimeout(8 * time.Minute)
	}

	// 1. The migration fails at 0003: stopped, images unchanged, database at 0002.
	harness.Kubectl(t, "patch", "configmap", "dev-piyasa-config", "-n", ns, "--type=merge", "-p", `{"data":{"FAIL_REVISION":"0003"}}`).RunOK()
	r := release("v1.1.0").ExpectCode(1)
	t.Logf("release.sh (failing migration) stdout:\n%s", r.Stdout)
	if !strings.Contains(r.Stdout, "release: STOPPED: the migration failed") || !strings.Contains(r.Stdout, "the images were not changed") ||
		!strings.Contains(r.Stdout, "next: kubectl logs job/") {
		t.Fatalf("failed migration:\n%s\n%s", r.Stdout, r.Stderr)
	}
	if a, w := apiImage(t, ns); a != api0 || w != worker0 {
		t.Fatalf("images changed after a failed migration: %s %s", a, w)
	}
	if rev := dbRevision(t, pg); rev != "0002" {
		t.Fatalf("database at %q, want 0002", rev)
	}
	if files, _ := filepath.Glob(filepath.Join(backups, "*.json")); len(files) != 1 {
		t.Fatalf("want the one pre-release backup's metadata, got %v", files)
	}

	// 2. The migration works, the rollout crashes: images rolled back, schema ahead.
	harness.Kubectl(t, "patch", "configmap", "dev-piyasa-config", "-n", ns, "--type=json", "-p", `[{"op":"remove","path":"/data/FAIL_REVISION"}]`).RunOK()
	harness.CrashLoopStage(t, "piyasa-e2e-release-crash-"+ns, harness.Match{Key: ".spec.containers.[0].image", Values: []string{app.APIImage + ":v1.2.0"}})
	r = release("v1.2.0").ExpectCode(1)
	t.Logf("release.sh (failing rollout) stdout:\n%s", r.Stdout)
	if !strings.Contains(r.Stdout, "the rollout of v1.2.0 failed after the migration") || !strings.Contains(r.Stdout, "ahead of the old image") ||
		!strings.Contains(r.Stdout, "next: kubectl piyasa migrate down --to 0002") {
		t.Fatalf("failed rollout:\n%s\n%s", r.Stdout, r.Stderr)
	}
	if a, w := apiImage(t, ns); a != api0 || w != worker0 {
		t.Fatalf("images not rolled back: %s %s", a, w)
	}
	if rev := dbRevision(t, pg); rev != "0003" {
		t.Fatalf("database at %q, want 0003", rev)
	}

	// 3. A release with nothing left to migrate goes through.
	r = release("v1.3.0").RunOK()
	t.Logf("release.sh stdout:\n%s", r.Stdout)
	if !strings.Contains(r.Stdout, "release: OK v1.3.0") {
		t.Fatalf("release:\n%s", r.Stdout)
	}
	if a, w := apiImage(t, ns); a != app.APIImage+":v1.3.0" || w != a {
		t.Fatalf("images after the release: %s %s", a, w)
	}
	list := harness.Piyasa(t, "backup", "list", "--dir", backups, "-o", "json").RunOK()
	var doc struct {
		Items []struct {
			Status string `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(list.Stdout), &doc); err != nil || len(doc.Items) != 3 {
		t.Fatalf("want 3 pre-release backups: %v\n%s", err, list.Stdout)
	}
	for _, it := range doc.Items {
		if it.Status != "ok" {
			t.Fatalf("a pre-release backup is %s", it.Status)
		}
	}
}
