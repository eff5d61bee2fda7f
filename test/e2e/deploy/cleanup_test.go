package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// seedJob applies a Job as the suite makes them: kind migration (label
// piyasa.io/migration=true), backup (the CronJob's pod label), or other.
func seedJob(t *testing.T, ns, name, kind string, suspend bool) {
	t.Helper()
	labels, podLabels := "", ""
	switch kind {
	case "migration":
		labels = `{app.kubernetes.io/part-of: piyasa, piyasa.io/migration: "true"}`
		podLabels = `{app.kubernetes.io/part-of: piyasa, piyasa.io/migration: "true"}`
	case "backup":
		labels = `{app.kubernetes.io/part-of: piyasa}`
		podLabels = `{app: piyasa-backup, app.kubernetes.io/part-of: piyasa}`
	default:
		labels, podLabels = `{team: other}`, `{team: other}`
	}
	harness.ApplyYAML(t, ns, fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: %s, labels: %s}
spec:
  suspend: %v
  backoffLimit: 0
  template:
    metadata: {labels: %s}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox:1.36}]
`, name, labels, suspend, podLabels))
}

// seedFailedPod makes a pod of the app that failed at failedAt (a pod no node
// takes, then set Failed through its status, as an eviction leaves it).
func seedFailedPod(t *testing.T, ns, name string, failedAt time.Time) {
	t.Helper()
	harness.ApplyYAML(t, ns, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, labels: {app: piyasa-api, app.kubernetes.io/part-of: piyasa}}
spec:
  nodeSelector: {piyasa-test/no-such-node: "true"}
  containers: [{name: api, image: busybox:1.36}]
`, name))
	harness.Kubectl(t, "patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge", "-p", fmt.Sprintf(
		`{"status":{"phase":"Failed","reason":"Evicted","message":"The node was low on resource: memory.","conditions":[{"type":"Ready","status":"False","lastTransitionTime":%q}]}}`,
		failedAt.UTC().Format(time.RFC3339))).RunOK()
}

func exists(t *testing.T, ns, kind, name string) bool {
	t.Helper()
	cs := harness.Client(t)
	var err error
	var deleting bool
	switch kind {
	case "job":
		var j *batchv1.Job
		j, err = cs.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		deleting = err == nil && j.DeletionTimestamp != nil
	default:
		var p *corev1.Pod
		p, err = cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		deleting = err == nil && p.DeletionTimestamp != nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil && !deleting
}

// TestCleanup: `deploy cleanup` deletes the suite's finished Jobs and the
// app's failed pods older than --older-than, never a running Job nor the
// newest 3 finished migration Jobs nor the newest backup Job, nor anything not the suite's;
// in prod it asks for the namespace name.
func TestCleanup(t *testing.T) {
	ns := harness.Namespace(t, "deploy-clean")
	for _, j := range []struct {
		name, kind string
		suspend    bool
	}{
		{"dev-db-migrate-1", "migration", false},
		{"dev-db-migrate-2", "migration", false},
		{"dev-db-backup-1", "backup", false},
		{"dev-db-backup-2", "backup", false},
		{"batch-report", "other", false},
		{"dev-db-migrate-3", "migration", false},
		{"dev-db-migrate-5", "migration", false},
		{"dev-db-migrate-6", "migration", false},
	} {
		seedJob(t, ns, j.name, j.kind, j.suspend)
		// One after the other, so that "newest" is well defined.
		harness.Kubectl(t, "wait", "--for=condition=complete", "job/"+j.name, "-n", ns, "--timeout", "60s").RunOK()
		time.Sleep(1100 * time.Millisecond) // completion times have whole seconds
	}
	seedJob(t, ns, "dev-db-migrate-4", "migration", true) // not finished: never deleted
	seedFailedPod(t, ns, "dev-api-evicted-old", time.Now().Add(-10*24*time.Hour))
	seedFailedPod(t, ns, "dev-api-evicted-new", time.Now())

	// The guide's 7 days: only the old failed pod goes.
	r := harness.Piyasa(t, "deploy", "cleanup", "--env", "dev", "-n", ns).RunOK()
	if exists(t, ns, "pod", "dev-api-evicted-old") || !exists(t, ns, "pod", "dev-api-evicted-new") || !exists(t, ns, "job", "dev-db-migrate-1") {
		t.Fatalf("cleanup --older-than 7d:\n%s\n%s", r.Stdout, r.Stderr)
	}
	t.Logf("cleanup listed:\n%s", r.Stdout)
	if !strings.Contains(r.Stdout, "one of the newest 3 finished migration Jobs") || !strings.Contains(r.Stdout, "running") {
		t.Errorf("the list does not say why Jobs are kept:\n%s", r.Stdout)
	}

	// In prod a wrong confirmation deletes nothing (exit 2).
	r = harness.Piyasa(t, "deploy", "cleanup", "--env", "prod", "-n", ns, "--older-than", "1s").WithStdin(strings.NewReader("piyasa-chatbot\n")).ExpectCode(2)
	if !exists(t, ns, "job", "dev-db-migrate-1") || !strings.Contains(r.Stderr, "Type the namespace name to confirm") {
		t.Fatalf("deleted without confirmation:\n%s", r.Stderr)
	}
	// --dry-run asks nothing and deletes nothing.
	r = harness.Piyasa(t, "deploy", "cleanup", "--env", "prod", "-n", ns, "--older-than", "1s", "--dry-run=server").RunOK()
	if !exists(t, ns, "job", "dev-db-migrate-1") || !strings.Contains(r.Stdout, "would delete") || strings.Contains(r.Stderr, "job.batch/") ||
		!strings.Contains(r.Stderr, "in namespace "+ns+" (server dry run): nothing was deleted") {
		t.Fatalf("--dry-run:\n%s\n%s", r.Stdout, r.Stderr)
	}
	// Confirmed: the older Jobs go, the newest of each kind, the running one,
	// another team's Job and the recent failed pod stay.
	r = harness.Piyasa(t, "deploy", "cleanup", "--env", "prod", "-n", ns, "--older-than", "1s", "-o", "json").WithStdin(strings.NewReader(ns + "\n")).RunOK()
	var doc struct {
		Kind    string `json:"kind"`
		Deleted int    `json:"deleted"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || doc.Kind != "DeployCleanup" {
		t.Fatalf("-o json (%v):\n%s", err, r.Stdout)
	}
	for _, gone := range []string{"dev-db-migrate-1", "dev-db-migrate-2", "dev-db-backup-1"} {
		if exists(t, ns, "job", gone) {
			t.Errorf("job %s not deleted:\n%s", gone, r.Stderr)
		}
	}
	for _, kept := range []string{"dev-db-migrate-3", "dev-db-migrate-5", "dev-db-migrate-6", "dev-db-migrate-4", "dev-db-backup-2", "batch-report"} {
		if !exists(t, ns, "job", kept) {
			t.Errorf("job %s deleted:\n%s", kept, r.Stderr)
		}
	}
	if doc.Deleted != 4 { // three Jobs and the new failed pod (older than 1s by now)
		t.Errorf("deleted %d, want 4:\n%s", doc.Deleted, r.Stderr)
	}
}
