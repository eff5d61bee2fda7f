package faults_test

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

// TestScaleWorkerWaitRidesOutAnOutage: the API server killed while
// `scale worker` waits for the restarted workers, back after 5 s: the wait
// re-lists, reports the outage once, and ends with exit 0 at 3/3 ready;
// TOTAL_WORKERS is 3 and the scale lock is gone.
func TestScaleWorkerWaitRidesOutAnOutage(t *testing.T) {
	ns, _ := deployDev(t)
	waitComponents(t, ns, app.API, app.Worker)
	holdPods(t, ns) // the restarted workers wait for releasePods
	s := start(t, harness.Piyasa(t, "scale", "worker", "3", "--env", "dev", "-n", ns, "--timeout", "4m"))
	s.waitFor(s.stdout, "scaled: 2 -> 3 replicas", 2*time.Minute)
	harness.APIServerOutage(t, 5*time.Second)
	releasePods(t, ns)
	r := s.wait(5 * time.Minute)
	expectCode(t, r, 0)
	outageReported(t, r.Stderr)
	if !strings.Contains(r.Stdout, "statefulset/dev-worker: 3/3 ready") {
		t.Errorf("stdout:\n%s", r.Stdout)
	}
	cm, err := harness.Client(t).CoreV1().ConfigMaps(ns).Get(context.Background(), dev.ConfigMap(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data[app.KeyTotalWorkers] != "3" || cm.Annotations[scale.LockAnnotation] != "" {
		t.Errorf("configmap after the scale: TOTAL_WORKERS=%q, lock %q", cm.Data[app.KeyTotalWorkers], cm.Annotations[scale.LockAnnotation])
	}
}
