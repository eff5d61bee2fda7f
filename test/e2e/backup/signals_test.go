package backup_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestSignalDuringScaleBack (issue 13 #2): Ctrl-C (SIGINT) or SIGTERM while
// restore waits for the app to start again (its api pods never get ready
// here) ends it at once (the bound tells "ignored" from "stopped"; it is no
// timing assertion): exit 130, the database is restored, api and worker are
// scaled back to their replicas, the record of them is removed, and the
// message says so and how to follow.
func TestSignalDuringScaleBack(t *testing.T) {
	for _, sig := range harness.Signals {
		t.Run(harness.SigName(sig), func(t *testing.T) {
			e := e2ebackup.Setup(t)
			source := e2ebackup.Digest(t, e.PG, app.DatabaseName)
			r := e.Backup(t, "create", "--dir", e.Dir, "-o", "json").RunOK()
			file := filepath.Join(e.Dir, e2ebackup.ParseInfo(t, r.Stdout).Name)
			e.PG.MustPsql(t, app.DatabaseName, `DELETE FROM messages WHERE id % 2 = 0`)
			// The api pods started from now on run but never get ready.
			harness.NotReadyStage(t, "piyasa-e2e-notready-"+e.NS, harness.Match{Key: ".metadata.namespace", Values: []string{e.NS}},
				harness.Match{Key: ".metadata.labels.app", Values: []string{"piyasa-api"}})
			run := e.Backup(t, "restore", file, "--yes", "--timeout", "10m").Background()
			run.WaitFor("starting the app", 3*time.Minute)
			run.Signal(sig)
			res := run.ExitWithin(10 * time.Second)
			e2ebackup.NoSecret(t, e, res)
			if res.Code != 130 {
				t.Fatalf("exit %d, want 130:\n%s", res.Code, res.Stderr)
			}
			for _, want := range []string{"error: interrupted while starting the app again: piyasa_db was restored and checked, and api and worker are scaled back (api=1 worker=2)",
				"hint: follow them with: kubectl piyasa deploy status -n " + e.NS} {
				if !strings.Contains(res.Stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, res.Stderr)
				}
			}
			e2ebackup.SameDigest(t, "after the interrupted restore", source, e2ebackup.Digest(t, e.PG, app.DatabaseName))
			if api, worker := e2ebackup.Replicas(t, e.NS); api != 1 || worker != 2 {
				t.Errorf("replicas api=%d worker=%d, want 1 and 2", api, worker)
			}
			d, err := harness.Client(t).AppsV1().Deployments(e.NS).Get(context.Background(), "dev-api", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := d.Annotations[backup.ReplicasAnnotation]; ok {
				t.Errorf("the record of the replicas is left: %s=%s", backup.ReplicasAnnotation, v)
			}
		})
	}
}
