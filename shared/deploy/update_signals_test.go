package deploy

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clienttesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// unschedulablePod is a pod of a component that no node can take.
func unschedulablePod(name string, c app.Component) *corev1.Pod {
	p := crashingPod(name, c)
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: kube.ReasonUnschedulable, Message: "0/2 nodes are available: 2 Insufficient ephemeral-storage."}}}
	return p
}

// onRevert calls f once the update's images are being put back (the n-th
// patch of the api Deployment).
func onRevert(tt *clitest.T, n int32, f func()) {
	var patches atomic.Int32
	tt.Fake.PrependReactor("patch", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		if patches.Add(1) == n {
			f()
		}
		return false, nil, nil
	})
}

// onWatch calls f (once, a moment later) when the n-th wait starts watching
// Deployments: the signal comes while that wait waits.
func onWatch(tt *clitest.T, n int32, f func()) {
	var watches atomic.Int32
	tt.Fake.PrependWatchReactor("deployments", func(clienttesting.Action) (bool, watch.Interface, error) {
		if watches.Add(1) == n {
			time.AfterFunc(100*time.Millisecond, f)
		}
		return false, nil, nil
	})
}

// TestRollbackWaitFailsFast (issue 13 #1): the automatic rollback's wait
// fails fast on the Unschedulable pods the update's wait failed fast on,
// instead of waiting out --rollback-timeout.
func TestRollbackWaitFailsFast(t *testing.T) {
	tt := clitest.New(devNS, liveApp(imgV1)...)
	setDeployStatus(t, tt, "dev-api", func(s *appsv1.DeploymentStatus) { s.UpdatedReplicas, s.AvailableReplicas, s.ReadyReplicas = 0, 0, 0 })
	if err := tt.Fake.Tracker().Add(unschedulablePod("dev-api-x", component(app.API))); err != nil {
		t.Fatal(err)
	}
	err := run(tt, "update", "--image", "v2.0.0", "--timeout", "1m", "--rollback-timeout", "1m")
	e := cli_error(err)
	if e == nil || e.Code != 1 || !strings.Contains(e.Msg, "rolled back, but the rollback is not ready either") ||
		!strings.Contains(e.Msg, "Unschedulable") || strings.Contains(e.Msg, "timed out") {
		t.Fatalf("%#v", err)
	}
	if img := getDeploy(t, tt, "dev-api").Spec.Template.Spec.Containers[0].Image; img != imgV1 {
		t.Fatalf("api image %s after the rollback", img)
	}
}

// TestRollbackWaitInterrupted (issue 13 #2): Ctrl-C or SIGTERM during the
// automatic rollback's wait ends it at once with exit 130, saying that the
// old images are set back and how to follow the rollback.
func TestRollbackWaitInterrupted(t *testing.T) {
	tt := clitest.New(devNS, liveApp(imgV1)...)
	setDeployStatus(t, tt, "dev-api", func(s *appsv1.DeploymentStatus) { s.UpdatedReplicas, s.AvailableReplicas, s.ReadyReplicas = 0, 0, 0 })
	if err := tt.Fake.Tracker().Add(crashingPod("dev-api-x", component(app.API))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The crashing pod fails the update; once the images are being put back
	// it is gone, and the rollback's wait goes on until the signal.
	onRevert(tt, 2, func() {
		_ = tt.Fake.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), devNS, "dev-api-x")
	})
	onWatch(tt, 2, cancel)
	root := NewCmd(tt.Global)
	root.SetArgs([]string{"update", "--image", "v2.0.0", "--rollback-timeout", "1m"})
	err := root.ExecuteContext(ctx)
	e := cli_error(err)
	if e == nil || e.Code != 130 || !strings.Contains(e.Msg, "interrupted while waiting for the rollback") ||
		!strings.Contains(e.Msg, "api "+imgV1) || !strings.Contains(e.Hint, "kubectl piyasa deploy status -n "+devNS) {
		t.Fatalf("%#v", err)
	}
	api := getDeploy(t, tt, "dev-api").Spec.Template.Spec.Containers[0].Image
	worker := getSTS(t, tt, "dev-worker").Spec.Template.Spec.Containers[0].Image
	if api != imgV1 || worker != imgV1 {
		t.Fatalf("api %s, worker %s: the rollback is not whole", api, worker)
	}
}

// TestUpdateWaitInterrupted: a signal during the update's wait leaves the new
// images set (no rollback), exit 130, and says how to follow or go back.
func TestUpdateWaitInterrupted(t *testing.T) {
	tt := clitest.New(devNS, liveApp(imgV1)...)
	setDeployStatus(t, tt, "dev-api", func(s *appsv1.DeploymentStatus) { s.UpdatedReplicas, s.AvailableReplicas, s.ReadyReplicas = 0, 0, 0 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	onWatch(tt, 1, cancel)
	root := NewCmd(tt.Global)
	root.SetArgs([]string{"update", "--image", "v2.0.0"})
	err := root.ExecuteContext(ctx)
	e := cli_error(err)
	if e == nil || e.Code != 130 || !strings.Contains(e.Msg, "stay set") || !strings.Contains(e.Hint, "kubectl piyasa deploy rollback -n "+devNS) {
		t.Fatalf("%#v", err)
	}
	if img := getSTS(t, tt, "dev-worker").Spec.Template.Spec.Containers[0].Image; img != imgV2 {
		t.Fatalf("worker %s: the update was rolled back", img)
	}
}
