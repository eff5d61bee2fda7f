package scale_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/scale"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestSignalDuringWorkerWait (issue 13 #2): Ctrl-C (SIGINT) or SIGTERM while
// scale worker waits for restarted workers that never get ready ends it at
// once (the bound tells "ignored" from "stopped"; it is no timing
// assertion): exit 130, both halves stay set (TOTAL_WORKERS and replicas
// agree), the lock is released, and the message says how to follow and how
// to go back.
func TestSignalDuringWorkerWait(t *testing.T) {
	t.Parallel()
	for _, sig := range harness.Signals {
		t.Run(harness.SigName(sig), func(t *testing.T) {
			ns := deployDev(t, nil)
			// The workers restarted from now on run but never get ready.
			harness.NotReadyStage(t, "piyasa-e2e-notready-"+ns, harness.Match{Key: ".metadata.namespace", Values: []string{ns}},
				harness.Match{Key: ".metadata.labels.app", Values: []string{"piyasa-worker"}})
			run := harness.Piyasa(t, "scale", "worker", "3", "-n", ns, "--env", "dev", "--timeout", "10m").Background()
			run.WaitFor("restarting every worker", time.Minute)
			run.WaitFor("worker: ", time.Minute) // a progress line: the wait is on
			run.Signal(sig)
			r := run.ExitWithin(10 * time.Second)
			if r.Code != 130 {
				t.Fatalf("exit %d, want 130:\n%s", r.Code, r.Stderr)
			}
			for _, want := range []string{"error: interrupted while waiting: statefulset/dev-worker has 3 replicas and TOTAL_WORKERS=3; the workers are still restarting",
				"hint: watch them: kubectl piyasa scale status -w -n " + ns, "kubectl piyasa scale worker 2 -n " + ns} {
				if !strings.Contains(r.Stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
				}
			}
			if strings.Contains(r.Stderr, "rolled back") {
				t.Errorf("a signal rolled the scale back:\n%s", r.Stderr)
			}
			if tw := totalWorkers(t, ns); tw != "3" {
				t.Errorf("TOTAL_WORKERS=%s, want 3", tw)
			}
			if spec, _ := replicas(t, ns, app.KindStatefulSet, "dev-worker"); spec != 3 {
				t.Errorf("statefulset has %d replicas, want 3", spec)
			}
			cm, err := harness.Client(t).CoreV1().ConfigMaps(ns).Get(context.Background(), dev.ConfigMap(), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if l, ok := cm.Annotations[scale.LockAnnotation]; ok {
				t.Errorf("the lock is left on configmap/%s: %s", cm.Name, l)
			}
		})
	}
}
