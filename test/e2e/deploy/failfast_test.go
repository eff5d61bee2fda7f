package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// crashTag is an image tag whose pods the test cluster makes crash.
const crashTag = "v0.0.0-oomkilled"

// crashingImage installs a kwok Stage that plays the kubelet for pods of
// the api image tagged crashTag: the container was OOMKilled (exit 137),
// restarted 4 times and now waits in CrashLoopBackOff, with the kubelet's
// BackOff event. Its weight (1) wins over kwok's pod-ready stage (0).
func crashingImage(t testing.TB) {
	t.Helper()
	image := app.APIImage + ":" + crashTag
	name := "piyasa-e2e-oomkilled"
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
    - key: '.spec.containers.[0].image'
      operator: In
      values: [%q]
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
      {{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      {{ with $podIPs }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
`, name, image)
	harness.ApplyYAML(t, "", stage)
	t.Cleanup(func() { harness.Kubectl(t, "delete", "stage", name, "--ignore-not-found").Run() })
}

// logsFor serves a crash log for the component's containers in ns, as the
// previous (crashed) and the current container's log.
func logsFor(t testing.TB, ns, container string) {
	t.Helper()
	dir := t.TempDir()
	prev := filepath.Join(dir, "previous.log")
	cur := filepath.Join(dir, "current.log")
	os.WriteFile(prev, []byte("2026-01-01T00:00:00.000000000Z stdout F starting piyasa api\n2026-01-01T00:00:01.000000000Z stderr F MemoryError: cache warm-up exceeded the limit\n"), 0o644)
	os.WriteFile(cur, []byte("2026-01-01T00:00:02.000000000Z stdout F starting piyasa api\n"), 0o644)
	name := "piyasa-e2e-logs-" + ns
	harness.ApplyYAML(t, "", fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: %s
spec:
  selector:
    matchNamespaces: [%s]
  logs:
  - containers: [%s]
    logsFile: %s
    previousLogsFile: %s
`, name, ns, container, cur, prev))
	t.Cleanup(func() { harness.Kubectl(t, "delete", "clusterlogs", name, "--ignore-not-found").Run() })
}

// TestDeployFailsFast: a first deploy whose api pods are OOMKilled and in
// CrashLoopBackOff stops at once, exit 1, with the pod's events and last
// log lines.
func TestDeployFailsFast(t *testing.T) {
	prepareNodes(t)
	crashingImage(t)
	ns := harness.Namespace(t, "deploy-crash")
	logsFor(t, ns, app.API)
	env := newEnvFile(t, ".env")
	r := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--image", crashTag, "--timeout", "3m").ExpectCode(1)
	noLeak(t, r, env)
	for _, want := range []string{
		"api is failing: pod dev-api-", "CrashLoopBackOff (last: OOMKilled, exit 137, 4 restarts)",
		"Events of pod dev-api-", "BackOff", "MemoryError: cache warm-up exceeded the limit",
		"error: api deployment/dev-api is failing", "hint: ",
	} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if strings.Contains(r.Stderr, "timed out") {
		t.Errorf("deploy waited for the timeout instead of failing fast")
	}
}
