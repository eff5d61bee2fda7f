package harness

import (
	"fmt"
	"strings"
	"testing"
)

// Match selects the pods of a kwok Stage: a field path of the pod and the
// values it may have, e.g. {".metadata.namespace", []string{ns}}.
type Match struct {
	Key    string
	Values []string
}

// CrashLoopStage installs a cluster-wide kwok Stage named name that plays the
// kubelet for new pods matching every Match: each container was OOMKilled
// (exit 137), restarted 4 times and now waits in CrashLoopBackOff, with the
// kubelet's BackOff event. Its weight (1) wins over kwok's pod-ready stage.
// The Stage is deleted when the test ends.
func CrashLoopStage(t testing.TB, name string, matches ...Match) {
	t.Helper()
	var sel strings.Builder
	for _, m := range matches {
		quoted := make([]string, len(m.Values))
		for i, v := range m.Values {
			quoted[i] = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&sel, "    - key: '%s'\n      operator: In\n      values: [%s]\n", m.Key, strings.Join(quoted, ", "))
	}
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
%s  weight: 1
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
`, name, sel.String())
	ApplyYAML(t, "", stage)
	t.Cleanup(func() { Kubectl(t, "delete", "stage", name, "--ignore-not-found").Run() })
}

// NotReadyStage installs a cluster-wide kwok Stage named name that plays the
// kubelet for new pods matching every Match: they run, but their containers
// never pass their readiness probe (Running, Ready False, no restart, no
// error state). A wait for them neither ends nor fails fast: it runs until
// its timeout or a signal. Its weight (1) wins over kwok's pod-ready stage.
// The Stage is deleted when the test ends.
func NotReadyStage(t testing.TB, name string, matches ...Match) {
	t.Helper()
	ApplyYAML(t, "", fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
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
    - key: '.spec.nodeName'
      operator: Exists
%s  weight: 1
  next:
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
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
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
`, name, stageSelector(matches)))
	t.Cleanup(func() { Kubectl(t, "delete", "stage", name, "--ignore-not-found").Run() })
}

// stageSelector is the matchExpressions lines of matches.
func stageSelector(matches []Match) string {
	var sel strings.Builder
	for _, m := range matches {
		quoted := make([]string, len(m.Values))
		for i, v := range m.Values {
			quoted[i] = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&sel, "    - key: '%s'\n      operator: In\n      values: [%s]\n", m.Key, strings.Join(quoted, ", "))
	}
	return sel.String()
}
