package scale_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// crashNewWorkers installs a kwok Stage that plays the kubelet for the pods
// dev-worker-2 and dev-worker-3 of namespace ns: OOMKilled, restarted 4 times,
// now in CrashLoopBackOff. Its weight (1) wins over kwok's pod-ready stage.
func crashNewWorkers(t *testing.T, ns string) {
	t.Helper()
	name := "piyasa-e2e-crash-" + ns
	stage := fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: %s
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.status.phase'
      operator: In
      values: [Pending]
    - key: '.metadata.namespace'
      operator: In
      values: [%q]
    - key: '.metadata.name'
      operator: In
      values: [dev-worker-2, dev-worker-3]
  weight: 1
  next:
    event:
      type: Warning
      reason: BackOff
      message: Back-off restarting failed container in pod
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: Ready
        reason: ContainersNotReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: ContainersReady
        reason: ContainersNotReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        started: false
        restartCount: 4
        state:
          waiting:
            reason: CrashLoopBackOff
            message: back-off 1m20s restarting failed container
        lastState:
          terminated:
            exitCode: 137
            reason: OOMKilled
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
`, name, ns)
	harness.ApplyYAML(t, "", stage)
	t.Cleanup(func() { harness.Kubectl(t, "delete", "stage", name, "--ignore-not-found").Run() })
}

// A worker scale whose new workers crash stops at once (fail fast) and puts
// TOTAL_WORKERS, the replicas and the pod template back.
func TestWorkerRollbackCrash(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, nil)
	crashNewWorkers(t, ns)
	r := harness.Piyasa(t, "scale", "worker", "4", "-n", ns, "--env", "dev", "--timeout", "3m").ExpectCode(1)
	for _, want := range []string{"is failing", "CrashLoopBackOff", "rolled back: TOTAL_WORKERS is 2 again and statefulset/dev-worker is back to 2 replicas"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if tw := totalWorkers(t, ns); tw != "2" {
		t.Errorf("TOTAL_WORKERS=%s after the rollback, want 2", tw)
	}
	sts, err := harness.Client(t).AppsV1().StatefulSets(ns).Get(context.Background(), "dev-worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *sts.Spec.Replicas != 2 || sts.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != "" {
		t.Errorf("statefulset not rolled back: %d replicas, template annotations %v", *sts.Spec.Replicas, sts.Spec.Template.Annotations)
	}
	waitReady(t, ns)
}
