package pitr_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// pitrTarget writes rows around a base backup and returns a time between
// two rows written after it, and the ids of the rows up to it.
func pitrTarget(t *testing.T, e *e2ebackup.Env) (ts, want string) {
	t.Helper()
	w := startWriter(t, e.PG)
	time.Sleep(time.Second)
	info := baseBackup(t, e)
	time.Sleep(3 * time.Second)
	ticks := w.Stop()
	switchAndArchive(t, e.PG)
	ts = between(t, ticks, info.EndTime).Format(time.RFC3339Nano)
	want = idsText(t, e.PG, fmt.Sprintf("WHERE at <= '%s'", ts))
	if want == idsText(t, e.PG, "") || want == "" {
		t.Fatalf("the target %s does not split the rows", ts)
	}
	return ts, want
}

// restoreJobs lists the restore Jobs left in ns.
func restoreJobs(t *testing.T, ns string) []string {
	t.Helper()
	jobs, err := harness.Client(t).BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{LabelSelector: app.RestoreJobLabel + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs.Items {
		if j.DeletionTimestamp == nil {
			names = append(names, j.Name)
		}
	}
	return names
}

// noPodsQuota admits no new pod in the namespace: the restore Job's pod
// cannot be created, so the restore waits for it, holding the lock.
const noPodsQuota = `apiVersion: v1
kind: ResourceQuota
metadata: {name: no-new-pods}
spec: {hard: {pods: "0"}}
`

// TestPITRHoldsTheLock: while a point-in-time restore waits for its Job's
// pod (held back by a quota), `kubectl piyasa migrate up` is refused naming
// the restore; once the pod can be created the restore finishes.
func TestPITRHoldsTheLock(t *testing.T) {
	e := setupPITR(t)
	ts, want := pitrTarget(t, e)
	harness.ApplyYAML(t, e.NS, noPodsQuota)
	run := e.Backup(t, "restore", "--to-time", ts, "--from", e.Dir, "--yes").Background()
	run.WaitFor("stopping PostgreSQL", 3*time.Minute)
	for deadline := time.Now().Add(time.Minute); len(restoreJobs(t, e.NS)) == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the restore Job was not created")
		}
	}
	// The api is stopped: migrate is given the image the api runs.
	api, _ := e2ebackup.AppWorkloads(t, e.NS)
	image := api.Spec.Template.Spec.Containers[0].Image
	m := harness.Piyasa(t, "migrate", "up", "--image", image, "--env", "dev", "-n", e.NS).WithTimeout(2 * time.Minute).ExpectCode(1)
	if !strings.Contains(m.Stderr, "another operation holds the database lock dev-piyasa-migrate: restore --to-time "+ts+" --from "+e.Dir+" by ") {
		t.Errorf("migrate up:\n%s", m.Stderr)
	}
	if pods, _ := harness.Client(t).CoreV1().Pods(e.NS).List(context.Background(), metav1.ListOptions{LabelSelector: app.RestoreJobLabel + "=true"}); len(pods.Items) != 0 {
		t.Fatalf("the restore Job's pod exists (%s): the restore was not held back while migrate ran", pods.Items[0].Name)
	}
	harness.Kubectl(t, "delete", "resourcequota", "no-new-pods", "-n", e.NS).RunOK()
	r := run.ExitWithin(4 * time.Minute)
	if r.Code != 0 {
		t.Fatalf("restore exit %d:\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if got := idsText(t, e.PG, ""); got != want {
		t.Errorf("rows after the restore to %s:\n%s\nwant:\n%s", ts, got, want)
	}
	e2ebackup.WaitApp(t, e.NS, 1, 2)
	if e2ebackup.LeaseExists(t, e.NS) {
		t.Error("the database lock was not released")
	}
}

// TestPITRRerunAfterInterruption: a restore interrupted (Ctrl-C) once the
// data directory was set aside leaves postgres at 0 and says to run it
// again; the rerun reads the WAL archive volume through its Job's pod (no
// postgres pod answers), removes what the first run laid down, keeps the
// first run's safety copy as the one, and restores exactly the rows up to T.
func TestPITRRerunAfterInterruption(t *testing.T) {
	// The first chown in a pod (the data directory set aside, its marker
	// written) waits: the interruption lands there.
	flag := filepath.Join(t.TempDir(), "slowed")
	chown := "#!/bin/sh\nif [ ! -e " + flag + " ]; then : > " + flag + "; sleep 8; fi\nexec /bin/chown \"$@\"\n"
	e := setupPITR(t, e2ebackup.FakeTool(t, "chown", chown))
	ts, want := pitrTarget(t, e)
	args := []string{"restore", "--to-time", ts, "--from", e.Dir, "--yes"}

	run := e.Backup(t, args...).Background()
	marker := filepath.Join(e.PG.Data, app.RestoreMarker)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			stdout, stderr := run.Output()
			t.Fatalf("the data directory was never set aside:\n%s\n%s", stdout, stderr)
		}
	}
	run.Signal(syscall.SIGINT)
	r := run.ExitWithin(time.Minute)
	if r.Code != 130 || !strings.Contains(r.Stderr, "to finish the restore, run it again: kubectl piyasa backup restore --to-time "+ts) {
		t.Fatalf("interrupted restore: exit %d:\n%s", r.Code, r.Stderr)
	}
	safety, _ := filepath.Glob(e.PG.Data + app.SafetyCopySuffix + "*")
	if len(safety) != 1 {
		t.Fatalf("safety copies after the interruption: %v, want one", safety)
	}
	if e2ebackup.LeaseExists(t, e.NS) {
		t.Error("the interrupted restore left the database lock")
	}

	r = e.Backup(t, args...).Run()
	if r.Code != 0 {
		t.Fatalf("rerun exit %d:\n%s\n%s\nserver log:\n%s", r.Code, r.Stdout, r.Stderr, tail(e.PG.ServerLog(), 30))
	}
	t.Logf("rerun:\n%s%s", r.Stderr, r.Stdout)
	for _, s := range []string{"postgres is at 0 replicas: reading the WAL archive volume through a restore Job's pod",
		"stopped:          api=1 worker=2 postgres (at 0 already)", "an unfinished restore's work: removed",
		"removed what an unfinished restore had laid down; the safety copy stays " + safety[0]} {
		if !strings.Contains(r.Stderr, s) {
			t.Errorf("rerun stderr lacks %q", s)
		}
	}
	if got := idsText(t, e.PG, ""); got != want {
		t.Errorf("rows after the rerun to %s:\n%s\nwant:\n%s", ts, got, want)
	}
	if s, _ := filepath.Glob(e.PG.Data + app.SafetyCopySuffix + "*"); len(s) != 1 || s[0] != safety[0] {
		t.Errorf("safety copies after the rerun: %v, want the first run's %s", s, safety[0])
	}
	if _, err := os.Stat(filepath.Join(safety[0], "PG_VERSION")); err != nil {
		t.Errorf("the safety copy is not the data directory that was: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the restore's marker is left in the restored data directory")
	}
	if jobs := restoreJobs(t, e.NS); len(jobs) != 0 {
		t.Errorf("restore Jobs left: %v", jobs)
	}
	e2ebackup.WaitApp(t, e.NS, 1, 2)
	if e2ebackup.LeaseExists(t, e.NS) {
		t.Error("the database lock was not released")
	}
}
