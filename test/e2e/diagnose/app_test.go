package diagnose_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/diagnose"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// Planted secret values: none may appear in any output or bundle. Each
// holds the harness's canary, which the harness looks for in everything.
var planted = map[string]string{
	"OPENAI_API_KEY":           "sk-plantedOpenAIKey0123456789-" + harness.Canary,
	"API_KEY":                  "planted-master-api-key-7f3a-" + harness.Canary,
	"TOKEN_ENCRYPTION_KEY":     harness.CanaryFernetKey(),
	"DATABASE_PASSWORD":        "planted-db-password-9c1e-" + harness.Canary,
	"DEFAULT_ADMIN_USERNAME":   "planted-admin-user-" + harness.Canary,
	"DEFAULT_ADMIN_PASSWORD":   "planted-admin-password-44d0-" + harness.Canary,
	"DEFAULT_ADMIN_API_KEY":    "planted-admin-api-key-b2b2-" + harness.Canary,
	"DEFAULT_ADMIN_MFA_SECRET": harness.CanaryBase32Secret(),
}

// writeEnvFile writes a .env with the planted values.
func writeEnvFile(t *testing.T) string {
	var b strings.Builder
	for k, v := range planted {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	f := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// deployHealthy deploys the dev environment into ns with `kubectl piyasa
// deploy`, then waits for every pod to be Ready.
func deployHealthy(t *testing.T, ns string) string {
	t.Helper()
	envFile := writeEnvFile(t)
	harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", envFile).WithTimeout(4 * time.Minute).RunOK()
	waitReady(t, ns)
	return envFile
}

func waitReady(t *testing.T, ns string) {
	t.Helper()
	harness.Kubectl(t, "wait", "--for=condition=Ready", "pods", "--all", "-n", ns, "--timeout=120s").WithTimeout(3 * time.Minute).RunOK()
}

// report runs diagnose -o json and decodes it; it checks the exit code.
func report(t *testing.T, wantCode int, args ...string) diagnose.Report {
	t.Helper()
	res := harness.Piyasa(t, append([]string{"diagnose", "-o", "json"}, args...)...).ExpectCode(wantCode)
	for _, v := range planted {
		if strings.Contains(res.Stdout, v) || strings.Contains(res.Stderr, v) {
			t.Fatalf("diagnose printed a secret value")
		}
	}
	var rep diagnose.Report
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("decode: %v\n%s", err, res.Stdout)
	}
	return rep
}

func codes(rep diagnose.Report) map[string][]diagnose.Finding {
	m := map[string][]diagnose.Finding{}
	for _, f := range rep.Findings {
		m[f.Code] = append(m[f.Code], f)
	}
	return m
}

func errorsOf(rep diagnose.Report) []string {
	var out []string
	for _, f := range rep.Findings {
		if f.Severity == diagnose.SeverityError {
			out = append(out, f.Code+" "+f.Object.String()+": "+f.Message)
		}
	}
	return out
}

func checkStatus(rep diagnose.Report, code string) diagnose.CheckResult {
	for _, c := range rep.Checks {
		if c.Code == code {
			return c
		}
	}
	return diagnose.CheckResult{}
}

func podName(t *testing.T, ns, selector string) string {
	t.Helper()
	pods, err := harness.Client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("no pod %s in %s: %v", selector, ns, err)
	}
	return pods.Items[0].Name
}

// crashPod creates a pod on a kwok node, waits for it to run, then writes
// the status a kubelet reports for a failing container.
func crashPod(t *testing.T, ns, name string, labels map[string]string, memLimit string, status corev1.ContainerStatus) {
	t.Helper()
	cs := harness.Client(t)
	ctx := context.Background()
	no, uid := false, int64(10001)
	c := corev1.Container{Name: status.Name, Image: "ghcr.io/example/app:v1", SecurityContext: &corev1.SecurityContext{
		AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}
	if memLimit != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memLimit)}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{c},
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &[]bool{true}[0], RunAsUser: &uid, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Tolerations:     []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	harness.Kubectl(t, "wait", "--for=condition=Ready", "pod/"+name, "-n", ns, "--timeout=60s").RunOK()
	p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady || p.Status.Conditions[i].Type == corev1.ContainersReady {
			p.Status.Conditions[i].Status = corev1.ConditionFalse
			p.Status.Conditions[i].LastTransitionTime = metav1.NewTime(time.Now().Add(-5 * time.Minute))
		}
	}
	status.Image = c.Image
	p.Status.ContainerStatuses = []corev1.ContainerStatus{status}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func crashLoop(container, lastReason string, exit int32, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: container, RestartCount: restarts,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: lastReason, ExitCode: exit}}}
}

func waiting(container, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: container, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
}

// criLog writes lines in the CRI log format kwok serves.
func criLog(t *testing.T, dir, name string, lines ...string) string {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "2026-01-01T00:00:00.000000000Z stdout F %s\n", l)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
