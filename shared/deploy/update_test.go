package deploy

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// settleAfterRevert marks dev-api rolled out again once the update's images
// were put back (the patch count reaches n), as the controller would.
func settleAfterRevert(t *testing.T, tt *clitest.T, n int32) {
	var patches atomic.Int32
	tt.Fake.PrependReactor("patch", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		if patches.Add(1) == n {
			go func() {
				time.Sleep(50 * time.Millisecond)
				setDeployStatus(t, tt, "dev-api", func(s *appsv1.DeploymentStatus) { s.UpdatedReplicas, s.AvailableReplicas, s.ReadyReplicas = 1, 1, 1 })
			}()
		}
		return false, nil, nil
	})
}

// TestUpdate runs `deploy update` on the fake seam through each path that
// puts state back.
func TestUpdate(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		setup func(t *testing.T, tt *clitest.T)
		code  int
		// image of api and worker afterwards
		image string
		out   []string // in stdout+stderr
	}{
		{name: "rolls out", args: []string{"update", "--image", "v2.0.0"}, image: imgV2,
			out: []string{"deployment/dev-api image " + imgV1 + " -> " + imgV2, "update complete: api " + imgV2}},
		{name: "crashing pod: rolled back", args: []string{"update", "--image", "v2.0.0"}, code: 1, image: imgV1,
			setup: func(t *testing.T, tt *clitest.T) {
				// The new revision does not become ready and one of its pods crashes.
				setDeployStatus(t, tt, "dev-api", func(s *appsv1.DeploymentStatus) { s.UpdatedReplicas, s.AvailableReplicas, s.ReadyReplicas = 0, 0, 0 })
				if err := tt.Fake.Tracker().Add(crashingPod("dev-api-x", component(app.API))); err != nil {
					t.Fatal(err)
				}
				// The rollback replaces the crashing pod (its revision's pods go):
				// gone with the revert patch, before the rollback's wait can see it.
				var patches atomic.Int32
				tt.Fake.PrependReactor("patch", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
					if patches.Add(1) == 2 {
						_ = tt.Fake.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), devNS, "dev-api-x")
					}
					return false, nil, nil
				})
				settleAfterRevert(t, tt, 2)
			},
			out: []string{"CrashLoopBackOff", "(rolled back)", "update failed and was rolled back to api " + imgV1}},
		{name: "timeout: the rollback has its own", args: []string{"update", "--image", "v2.0.0", "--timeout", "1ms", "--rollback-timeout", "5s"}, code: 1, image: imgV1,
			setup: func(t *testing.T, tt *clitest.T) {
				setDeployStatus(t, tt, "dev-api", func(s *appsv1.DeploymentStatus) { s.UpdatedReplicas, s.AvailableReplicas, s.ReadyReplicas = 0, 0, 0 })
				settleAfterRevert(t, tt, 2)
			},
			out: []string{"timed out after 1ms waiting for api deployment/dev-api", "update failed and was rolled back"}},
		{name: "no rollback", args: []string{"update", "--image", "v2.0.0", "--timeout", "50ms", "--no-rollback"}, code: 1, image: imgV2,
			setup: func(t *testing.T, tt *clitest.T) {
				setDeployStatus(t, tt, "dev-api", func(s *appsv1.DeploymentStatus) { s.UpdatedReplicas = 0 })
			},
			out: []string{"timed out after 50ms"}},
		{name: "worker patch conflict: api put back", args: []string{"update", "--image", "v2.0.0"}, code: 1, image: imgV1,
			setup: func(t *testing.T, tt *clitest.T) { failOn(tt, "patch", "statefulsets", 1, conflict("statefulsets")) },
			out:   []string{"deployment/dev-api image " + imgV1 + " -> " + imgV2, "deployment/dev-api image " + imgV2 + " -> " + imgV1 + " (rolled back)", "update failed and was rolled back to api " + imgV1}},
		{name: "forbidden: nothing changed", args: []string{"update", "--image", "v2.0.0"}, code: 3, image: imgV1,
			setup: func(t *testing.T, tt *clitest.T) { failOn(tt, "patch", "deployments", 0, forbidden("deployments")) }},
		{name: "client dry run", args: []string{"update", "--image", "v2.0.0", "--dry-run=client"}, image: imgV1,
			out: []string{"image " + imgV1 + " -> " + imgV2 + " (dry run)"}},
		{name: "bad image", args: []string{"update", "--image", "latest"}, code: 2, image: imgV1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := clitest.New(devNS, liveApp(imgV1)...)
			if c.setup != nil {
				c.setup(t, tt)
			}
			err := run(tt, c.args...)
			stdout, stderr := tt.Output()
			if got := code(err); got != c.code {
				t.Fatalf("exit %d, want %d: %v\n%s%s", got, c.code, err, stdout, stderr)
			}
			all := stdout + stderr
			if err != nil {
				all += err.Error()
			}
			for _, want := range c.out {
				if !strings.Contains(all, want) {
					t.Errorf("output lacks %q:\n%s", want, all)
				}
			}
			api := getDeploy(t, tt, "dev-api").Spec.Template.Spec.Containers[0].Image
			worker := getSTS(t, tt, "dev-worker").Spec.Template.Spec.Containers[0].Image
			if api != c.image || worker != c.image {
				t.Fatalf("api %s, worker %s, want both %s", api, worker, c.image)
			}
			if c.image == imgV2 && getDeploy(t, tt, "dev-api").Annotations[kube.ChangeCauseAnnotation] == "" {
				t.Error("no change-cause recorded")
			}
		})
	}
}

// TestConfigSetFailsFastOnQuota: a restart whose pods a ResourceQuota
// refuses ends at once with the quota's message (issue 16 #9).
func TestConfigSetFailsFastOnQuota(t *testing.T) {
	tt := clitest.New(devNS, liveApp(imgV1)...)
	setDeployStatus(t, tt, "dev-api", func(s *appsv1.DeploymentStatus) { s.UpdatedReplicas, s.AvailableReplicas = 0, 0 })
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "dev-api-abc.1", Namespace: devNS},
		InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", Name: "dev-api-abc", Namespace: devNS},
		Reason:         "FailedCreate", Type: "Warning", LastTimestamp: metav1.Now(),
		Message: `Error creating: pods "dev-api-abc-x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`}
	if err := tt.Fake.Tracker().Add(ev); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	err := run(tt, "config", "set", "LOG_LEVEL=DEBUG", "--timeout", "30s")
	_, stderr := tt.Output()
	if code(err) != 1 || !strings.Contains(err.Error(), "exceeded quota: q") || time.Since(begin) > 15*time.Second {
		t.Fatalf("after %s: %v", time.Since(begin), err)
	}
	if e := cli_error(err); e == nil || !strings.Contains(e.Hint, "ResourceQuota") || !strings.Contains(stderr, "the API server refuses its pods") {
		t.Fatalf("hint %#v\n%s", e, stderr)
	}
}
