package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/migrate/migraterun"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

const fakeMigratePath = "/opt/piyasa/kubectl-piyasa-migrate"

// fakeChild replaces the child process: what kubectl-piyasa-migrate would
// print and exit with, and the arguments it was given.
type fakeChild struct {
	stdout string
	code   int
	err    error
	// args of each run
	runs [][]string
}

// use installs c as the child (nil: kubectl-piyasa-migrate is not installed).
func (c *fakeChild) use(t *testing.T) {
	find, run := findMigrate, runMigrate
	t.Cleanup(func() { findMigrate, runMigrate = find, run })
	findMigrate = func() (string, bool) { return fakeMigratePath, c != nil }
	runMigrate = func(_ context.Context, path string, args []string, errOut io.Writer) ([]byte, int, error) {
		if path != fakeMigratePath {
			t.Errorf("ran %s", path)
		}
		c.runs = append(c.runs, args)
		fmt.Fprintf(errOut, "child: INFO  [alembic.runtime.migration] Running upgrade 0002 -> 0003\n")
		return []byte(c.stdout), c.code, c.err
	}
}

// runDoc is the document `migrate up -o json` prints, made by shared/output
// as the child makes it.
func runDoc(t *testing.T, r migraterun.Result) string {
	var b strings.Builder
	if err := output.PrintDocument(&b, output.JSON, migraterun.Kind, &r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func apiImage(t *testing.T, tt *clitest.T) string {
	return getDeploy(t, tt, "dev-api").Spec.Template.Spec.Containers[0].Image
}

// TestUpdateMigrateFlags: the --migrate flags are checked before anything
// runs (exit 2, no image changed); a dry run runs no migration, but needs
// kubectl-piyasa-migrate installed.
func TestUpdateMigrateFlags(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		installed bool
		code      int
		out       string
	}{
		{"migrate needs --image", []string{"update", "--frontend-image", "v2.0.0", "--migrate"}, true, 2, "--migrate needs --image"},
		{"backup flags need --migrate", []string{"update", "--image", "v2.0.0", "--backup-first"}, true, 2, "go with --migrate"},
		{"backup-first and no-backup", []string{"update", "--image", "v2.0.0", "--migrate", "--backup-first", "--no-backup"}, true, 2, "contradict"},
		{"dir and s3", []string{"update", "--image", "v2.0.0", "--migrate", "--backup-dir", "d", "--backup-to", "s3://b/p"}, true, 2, "one of --backup-dir and --backup-to"},
		{"backup-to not s3", []string{"update", "--image", "v2.0.0", "--migrate", "--backup-to", "/tmp/x"}, true, 2, "s3://BUCKET/PREFIX"},
		{"client dry run migrates nothing", []string{"update", "--image", "v2.0.0", "--migrate", "--dry-run=client"}, true, 0, "the backup and the migration are not run"},
		{"migrate not installed", []string{"update", "--image", "v2.0.0", "--migrate"}, false, 2, "--migrate runs kubectl-piyasa-migrate, which is not installed"},
		{"not installed, dry run", []string{"update", "--image", "v2.0.0", "--migrate", "--dry-run=server"}, false, 2, "which is not installed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			child := &fakeChild{}
			if !c.installed {
				child = nil
			}
			child.use(t)
			tt := clitest.New(devNS, liveApp(imgV1)...)
			all := runCase(t, tt, c.args, c.code, c.out)
			if child != nil && len(child.runs) != 0 {
				t.Errorf("the migration ran: %q", child.runs)
			}
			if !c.installed && (!strings.Contains(cli_error(run(tt, c.args...)).Hint, "krew install") || strings.Contains(all, "image "+imgV1+" ->")) {
				t.Errorf("no install hint, or an image was touched:\n%s", all)
			}
			if api := apiImage(t, tt); api != imgV1 {
				t.Errorf("api image changed to %s", api)
			}
		})
	}
}

// TestUpdateMigrateArgs: the child is `migrate up` to head in the new api
// image with -o json, this command's namespace and environment, and the
// shared and backup flags that were given (no --profile: the child would
// overwrite the profile); its standard error reaches ours.
func TestUpdateMigrateArgs(t *testing.T) {
	child := &fakeChild{stdout: runDoc(t, migraterun.Result{Namespace: devNS, Job: "dev-db-migrate-1", From: "0002", State: "Complete"})}
	child.use(t)
	tt := clitest.New(devNS, liveApp(imgV1)...)
	runCase(t, tt, []string{"update", "--image", "v2.0.0", "--migrate", "--backup-first", "--backup-to", "s3://bkt/piyasa",
		"--s3-endpoint", "http://127.0.0.1:9000", "--as", "admin", "--as-group", "g1", "--as-group", "g2",
		"--request-timeout", "5s", "--insecure-skip-tls-verify", "--profile-output", "deploy.pprof", "--timeout", "3m"}, 0, "update complete")
	want := []string{"up", "--to=head", "--image=" + imgV2, "--output=json", "--namespace=" + devNS, "--env=dev",
		"--as=admin", "--as-group=g1", "--as-group=g2", "--insecure-skip-tls-verify=true", "--request-timeout=5s",
		"--backup-first=true", "--backup-to=s3://bkt/piyasa", "--s3-endpoint=http://127.0.0.1:9000"}
	if len(child.runs) != 1 || !reflect.DeepEqual(child.runs[0], want) {
		t.Fatalf("ran migrate with\n%q\nwant\n%q", child.runs, want)
	}
	if _, stderr := tt.Output(); !strings.Contains(stderr, "child: INFO  [alembic.runtime.migration] Running upgrade 0002 -> 0003") {
		t.Errorf("the child's stderr is not passed on:\n%s", stderr)
	}
	if api := apiImage(t, tt); api != imgV2 {
		t.Errorf("api image %s after the migration, want %s", api, imgV2)
	}
}

// TestUpdateMigrateExitCodes: each way the child ends maps to deploy's exit
// code and message, and no image is changed unless it succeeded.
func TestUpdateMigrateExitCodes(t *testing.T) {
	failedDoc := runDoc(t, migraterun.Result{Namespace: devNS, Job: "dev-db-migrate-7", State: "Failed"})
	cases := []struct {
		name   string
		child  fakeChild
		code   int
		msg    string
		hint   string
		silent bool
	}{
		{name: "migration failed", child: fakeChild{stdout: failedDoc, code: 1}, code: 1,
			msg: "migration failed, so no image was changed: Job dev-db-migrate-7", hint: "read its log: kubectl logs job/dev-db-migrate-7 -n " + devNS + "; fix the migration and run the update again"},
		{name: "no Job (lock held, backup failed)", child: fakeChild{code: 1}, code: 1, msg: "the migration did not run (see the error above), so no image was changed"},
		{name: "usage error", child: fakeChild{code: 2}, code: 2, msg: "refused the arguments of --migrate", hint: "kubectl piyasa version"},
		{name: "cluster unreachable", child: fakeChild{code: 3}, code: 3, msg: "the migration did not run"},
		{name: "interrupted", child: fakeChild{stdout: runDoc(t, migraterun.Result{Job: "dev-db-migrate-7", State: "Interrupted"}), code: 130}, code: 130, silent: true},
		{name: "killed", child: fakeChild{code: killed}, code: 1, msg: "was killed by a signal, so no image was changed", hint: "kubectl piyasa migrate status -n " + devNS},
		{name: "other code", child: fakeChild{code: 4}, code: 1, msg: "exited with code 4"},
		{name: "success, output unreadable", child: fakeChild{stdout: "migrated", code: 0}, code: 1, msg: "succeeded, but its output cannot be read"},
		{name: "success, another document", child: fakeChild{stdout: `{"kind":"MigrationStatus","job":"x"}`, code: 0}, code: 1, msg: "not a MigrationRun document"},
		{name: "cannot start", child: fakeChild{err: errors.New("exec format error")}, code: 1, msg: "cannot run " + fakeMigratePath + ": exec format error; no image was changed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.child.use(t)
			tt := clitest.New(devNS, liveApp(imgV1)...)
			err := run(tt, "update", "--image", "v2.0.0", "--migrate")
			e := cli_error(err)
			if code(err) != c.code || e == nil || e.Silent != c.silent || !strings.Contains(e.Msg, c.msg) || !strings.Contains(e.Hint, c.hint) {
				t.Fatalf("exit %d (want %d): %#v", code(err), c.code, e)
			}
			if api := apiImage(t, tt); api != imgV1 {
				t.Errorf("api image changed to %s", api)
			}
		})
	}
}

// TestUpdateMigrateThenRolloutFails: the revision before and the backup that
// the child reported are what the rollback says to undo the migration with.
func TestUpdateMigrateThenRolloutFails(t *testing.T) {
	child := &fakeChild{stdout: runDoc(t, migraterun.Result{Namespace: devNS, Job: "dev-db-migrate-1", From: "0002",
		Backup: "s3://bkt/piyasa/piyasa_db-x.sql.zst", State: "Complete"})}
	child.use(t)
	tt := clitest.New(devNS, liveApp(imgV1)...)
	setDeployStatus(t, tt, "dev-api", func(s *appsv1.DeploymentStatus) { s.UpdatedReplicas, s.AvailableReplicas, s.ReadyReplicas = 0, 0, 0 })
	if err := tt.Fake.Tracker().Add(crashingPod("dev-api-x", component(app.API))); err != nil {
		t.Fatal(err)
	}
	settleAfterRevert(t, tt, 2)
	err := run(tt, "update", "--image", "v2.0.0", "--migrate")
	_, stderr := tt.Output()
	e := cli_error(err)
	if code(err) != 1 || e == nil || !strings.Contains(e.Hint, "migrate down --to 0002 -n "+devNS+", or restore s3://bkt/piyasa/piyasa_db-x.sql.zst") {
		t.Fatalf("exit %d: %#v\n%s", code(err), e, stderr)
	}
	for _, want := range []string{"AHEAD of the old image: migration Job dev-db-migrate-1", "kubectl piyasa backup restore s3://bkt/piyasa/piyasa_db-x.sql.zst -n " + devNS} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if api := apiImage(t, tt); api != imgV1 {
		t.Errorf("api image %s, want it rolled back to %s", api, imgV1)
	}
}

// TestUpdateMigrateUpToDate: a child that found the database at head already
// (no Job, state UpToDate) lets the update go on.
func TestUpdateMigrateUpToDate(t *testing.T) {
	child := &fakeChild{stdout: runDoc(t, migraterun.Result{Namespace: devNS, From: "0003", State: migraterun.StateUpToDate})}
	child.use(t)
	tt := clitest.New(devNS, liveApp(imgV1)...)
	runCase(t, tt, []string{"update", "--image", "v2.0.0", "--migrate"}, 0, "update complete")
	if api := apiImage(t, tt); api != imgV2 {
		t.Errorf("api image %s after an up-to-date migration, want %s", api, imgV2)
	}
}

// TestParseRunReadsMigrateResult: every field deploy needs comes from the
// document, the JSON that shared/migrate's Result gives.
func TestParseRunReadsMigrateResult(t *testing.T) {
	in := migraterun.Result{Namespace: devNS, Job: "dev-db-migrate-1", Direction: "up", Target: "head", From: "0001,0002",
		Image: imgV2, Backup: "backups/b.sql.zst", State: "Complete", Tail: []string{"done"}}
	in.SetDuration(1500000000)
	got, err := parseRun([]byte(runDoc(t, in)))
	if err != nil {
		t.Fatal(err)
	}
	in.Duration = 0 // not in the document
	if !reflect.DeepEqual(got, in) {
		t.Errorf("parsed %+v\nwant %+v", got, in)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(runDoc(t, in)), &doc); err != nil || doc["durationSeconds"] != 1.5 || doc["apiVersion"] != "piyasa.io/v1alpha1" {
		t.Errorf("document %v %v", doc, err)
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
