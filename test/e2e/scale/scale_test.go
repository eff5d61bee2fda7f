package scale_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func replicas(t *testing.T, ns, kind, name string) (spec, ready int32) {
	t.Helper()
	cs := harness.Client(t)
	ctx := context.Background()
	switch kind {
	case app.KindDeployment:
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas, d.Status.ReadyReplicas
	default:
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *s.Spec.Replicas, s.Status.ReadyReplicas
	}
}

func totalWorkers(t *testing.T, ns string) string {
	t.Helper()
	cm, err := harness.Client(t).CoreV1().ConfigMaps(ns).Get(context.Background(), dev.ConfigMap(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data[app.KeyTotalWorkers]
}

func hpaRange(t *testing.T, ns, name string) (int32, int32) {
	t.Helper()
	h, err := harness.Client(t).AutoscalingV2().HorizontalPodAutoscalers(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *h.Spec.MinReplicas, h.Spec.MaxReplicas
}

// Bad input: exit 2, one clear line, nothing changed.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, nil)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"api", "-1"}, "invalid replica count -1"},
		{[]string{"api", "abc"}, `invalid replica count "abc"`},
		{[]string{"api", "2.5"}, `invalid replica count "2.5"`},
		{[]string{"chatbot", "3"}, `unknown component "chatbot"`},
		{[]string{"postgres", "2"}, "postgres cannot be scaled"},
		{[]string{"worker", "0"}, "run at least 1 worker"},
		{[]string{"api"}, "expected COMPONENT REPLICAS"},
		{[]string{"api", "11", "--force"}, "outside the range 1-10 of HPA dev-api-hpa"},
		{[]string{"api", "3", "--dry-run=maybe"}, `invalid --dry-run value "maybe"`},
		{[]string{"worker", "99999999999"}, "99999999999: too big"},
		{[]string{"hpa", "api", "--min", "5", "--max", "2"}, "--min 5 is above --max 2"},
		{[]string{"hpa", "api", "--min", "11"}, "min 11 would be above max 10"},
		{[]string{"hpa", "api", "--min", "0"}, "invalid --min 0"},
		{[]string{"hpa", "api", "--cpu", "0"}, "invalid --cpu 0"},
		{[]string{"hpa", "api", "--memory", "101"}, "invalid --memory 101"},
		{[]string{"hpa", "api"}, "nothing to change"},
		{[]string{"hpa", "worker", "--max", "4"}, "kubectl piyasa scale worker N"},
		{[]string{"hpa", "redis", "--max", "4"}, "redis cannot be scaled"},
		{[]string{"status", "-o", "xml"}, `unknown output format "xml"`},
	}
	for _, c := range cases {
		args := append([]string{"scale", "-n", ns, "--env", "dev"}, c.args...)
		r := harness.Piyasa(t, args...).ExpectCode(2)
		if !strings.Contains(r.Stderr, c.want) {
			t.Errorf("scale %s: stderr %q does not contain %q", strings.Join(c.args, " "), r.Stderr, c.want)
		}
		if strings.Contains(r.Stderr, "goroutine") || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1 {
			t.Errorf("scale %s: want one error line (and a hint), got:\n%s", strings.Join(c.args, " "), r.Stderr)
		}
	}
	if spec, _ := replicas(t, ns, app.KindDeployment, "dev-api"); spec != 1 {
		t.Errorf("api replicas changed to %d by bad input", spec)
	}
	if min, max := hpaRange(t, ns, "dev-api-hpa"); min != 1 || max != 10 {
		t.Errorf("api HPA changed to %d-%d by bad input", min, max)
	}
	if tw := totalWorkers(t, ns); tw != "2" {
		t.Errorf("TOTAL_WORKERS changed to %s by bad input", tw)
	}
}

// An HPA targets api: a manual scale is refused unless --force; without the
// HPA, api scales up and down and waits for readiness.
func TestScaleAPI(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, nil)
	base := []string{"scale", "-n", ns, "--env", "dev"}

	r := harness.Piyasa(t, append(base, "api", "3")...).ExpectCode(2)
	if !strings.Contains(r.Stderr, "autoscaled by HPA dev-api-hpa") || !strings.Contains(r.Stderr, "kubectl piyasa scale hpa api") {
		t.Errorf("refusal does not explain the HPA and offer scale hpa:\n%s", r.Stderr)
	}
	if spec, _ := replicas(t, ns, app.KindDeployment, "dev-api"); spec != 1 {
		t.Fatalf("refused scale changed replicas to %d", spec)
	}

	for _, dr := range []string{"--dry-run=client", "--dry-run=server"} {
		r = harness.Piyasa(t, append(base, "api", "3", "--force", dr)...).RunOK()
		if !strings.Contains(r.Stdout, "1 -> 3") {
			t.Errorf("%s: stdout %q lacks 1 -> 3", dr, r.Stdout)
		}
		if spec, _ := replicas(t, ns, app.KindDeployment, "dev-api"); spec != 1 {
			t.Fatalf("%s changed replicas to %d", dr, spec)
		}
	}
	// A bare --dry-run is client, as in kubectl (with its deprecation
	// warning), and leaves the next argument alone: -n is still the namespace.
	r = harness.Piyasa(t, "scale", "api", "3", "--force", "--dry-run", "-n", ns, "--env", "dev").RunOK()
	if !strings.Contains(r.Stdout, "deployment/dev-api scaled: 1 -> 3 replicas (dry run)") ||
		!strings.Contains(r.Stderr, "--dry-run is deprecated and can be replaced with --dry-run=client") {
		t.Errorf("bare --dry-run:\nstdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}
	if spec, _ := replicas(t, ns, app.KindDeployment, "dev-api"); spec != 1 {
		t.Fatalf("bare --dry-run changed replicas to %d", spec)
	}

	r = harness.Piyasa(t, append(base, "api", "3", "--force")...).RunOK()
	if !strings.Contains(r.Stderr, "warning: HPA dev-api-hpa") || !strings.Contains(r.Stdout, "deployment/dev-api scaled: 1 -> 3") {
		t.Errorf("--force output:\nstdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}
	if spec, ready := replicas(t, ns, app.KindDeployment, "dev-api"); spec != 3 || ready != 3 {
		t.Fatalf("after scale api 3 --force: %d desired, %d ready", spec, ready)
	}

	harness.Kubectl(t, "delete", "hpa", "dev-api-hpa", "-n", ns).RunOK()
	harness.Piyasa(t, append(base, "api", "5")...).RunOK()
	if spec, ready := replicas(t, ns, app.KindDeployment, "dev-api"); spec != 5 || ready != 5 {
		t.Fatalf("after scale api 5: %d desired, %d ready", spec, ready)
	}
	r = harness.Piyasa(t, append(base, "api", "1")...).RunOK()
	if !strings.Contains(r.Stdout, "5 -> 1") || !strings.Contains(r.Stdout, "1/1 ready") {
		t.Errorf("scale api 1 stdout:\n%s", r.Stdout)
	}
	if spec, ready := replicas(t, ns, app.KindDeployment, "dev-api"); spec != 1 || ready != 1 {
		t.Fatalf("after scale api 1: %d desired, %d ready", spec, ready)
	}
}

// worker 2 -> 4 leaves TOTAL_WORKERS=4 and 4 ready workers, each restarted
// after the change; 4 -> 3 removes the highest ordinal.
func TestScaleWorker(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, nil)
	cs := harness.Client(t)
	ctx := context.Background()
	before := map[string]string{}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=piyasa-worker"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		before[p.Name] = string(p.UID)
	}
	if len(before) != 2 {
		t.Fatalf("want 2 workers before, got %v", before)
	}

	r := harness.Piyasa(t, "scale", "worker", "4", "-n", ns, "--env", "dev", "--dry-run=server").RunOK()
	if tw := totalWorkers(t, ns); tw != "2" || !strings.Contains(r.Stdout, "server dry run") {
		t.Fatalf("server dry run: TOTAL_WORKERS=%s, stdout %q", tw, r.Stdout)
	}

	r = harness.Piyasa(t, "scale", "worker", "4", "-n", ns, "--env", "dev").RunOK()
	if !strings.Contains(r.Stdout, "2 -> 4 replicas, TOTAL_WORKERS 2 -> 4") {
		t.Errorf("stdout:\n%s", r.Stdout)
	}
	if tw := totalWorkers(t, ns); tw != "4" {
		t.Fatalf("TOTAL_WORKERS=%s, want 4", tw)
	}
	sts, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "dev-worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *sts.Spec.Replicas != 4 || sts.Status.ReadyReplicas != 4 || sts.Status.UpdatedReplicas != 4 {
		t.Fatalf("statefulset: %d desired, %d ready, %d updated", *sts.Spec.Replicas, sts.Status.ReadyReplicas, sts.Status.UpdatedReplicas)
	}
	restartedAt := sts.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
	if restartedAt == "" {
		t.Fatal("pod template has no restartedAt annotation")
	}
	pods, err = cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=piyasa-worker"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 4 {
		t.Fatalf("want 4 worker pods, got %d", len(pods.Items))
	}
	for _, p := range pods.Items {
		if uid, ok := before[p.Name]; ok && uid == string(p.UID) {
			t.Errorf("worker %s was not restarted after the change", p.Name)
		}
		if p.Labels["controller-revision-hash"] != sts.Status.UpdateRevision || p.Annotations["kubectl.kubernetes.io/restartedAt"] != restartedAt {
			t.Errorf("worker %s runs revision %s (want %s), restartedAt %q (want %q)", p.Name,
				p.Labels["controller-revision-hash"], sts.Status.UpdateRevision, p.Annotations["kubectl.kubernetes.io/restartedAt"], restartedAt)
		}
	}
	doc := statusDoc(t, ns, 0)
	w := component(t, doc, "worker")
	if w["totalWorkers"] != float64(4) || w["desired"] != float64(4) {
		t.Errorf("status worker: totalWorkers %v desired %v", w["totalWorkers"], w["desired"])
	}
	if ls, _ := w["lastScale"].(map[string]any); ls == nil || ls["reason"] != "PiyasaScaled" || !strings.Contains(fmtAny(ls["message"]), "TOTAL_WORKERS 2 -> 4") {
		t.Errorf("status worker lastScale %v, want the PiyasaScaled event", w["lastScale"])
	}

	harness.Piyasa(t, "scale", "worker", "3", "-n", ns, "--env", "dev").RunOK()
	if tw := totalWorkers(t, ns); tw != "3" {
		t.Fatalf("TOTAL_WORKERS=%s, want 3", tw)
	}
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, "dev-worker-3", metav1.GetOptions{}); err == nil {
		t.Error("dev-worker-3 still exists after scaling to 3")
	}
	if spec, ready := replicas(t, ns, app.KindStatefulSet, "dev-worker"); spec != 3 || ready != 3 {
		t.Fatalf("after scale worker 3: %d desired, %d ready", spec, ready)
	}
}

// A worker scale whose second step fails for real puts TOTAL_WORKERS back: a
// user with the operator's rights (so the rights check passes) whose
// StatefulSet patch an admission policy refuses (403 Forbidden, as RBAC's).
func TestWorkerRollbackForbidden(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, nil)
	cs := harness.Client(t)
	ctx := context.Background()
	y := harness.Piyasa(t, "deploy", "render", "--rbac", "--role", "operator", "--bind-user", "half-scaler", "-n", ns).RunOK().Stdout
	harness.Kubectl(t, "apply", "-f", "-").WithStdin(strings.NewReader(y)).RunOK()
	policy := "no-sts-patch-" + ns
	harness.ApplyYAML(t, "", fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: %[1]s}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules: [{apiGroups: [apps], apiVersions: [v1], operations: [UPDATE], resources: [statefulsets]}]
  validations: [{expression: "request.userInfo.username != 'half-scaler'", message: "half-scaler may not change StatefulSets", reason: Forbidden}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: %[1]s}
spec:
  policyName: %[1]s
  validationActions: [Deny]
  matchResources:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: %[2]s}}
`, policy, ns))
	t.Cleanup(func() {
		harness.Kubectl(t, "delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", policy, "--ignore-not-found").Run()
	})
	// the policy and the binding reach the API server's admission through a watch
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := harness.Kubectl(t, "patch", "statefulset", "dev-worker", "-n", ns, "--as", "half-scaler", "--dry-run=server",
			"--type", "merge", "-p", `{"metadata":{"annotations":{"probe":"x"}}}`).Run()
		if r.Code != 0 && strings.Contains(r.Stderr, "half-scaler may not change StatefulSets") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policy never applied: %s", r.Stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	gen := func() int64 {
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "dev-worker", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Generation
	}
	g0 := gen()
	// Exit 3: the cause is a missing right.
	r := harness.Piyasa(t, "scale", "worker", "4", "-n", ns, "--env", "dev", "--as", "half-scaler").ExpectCode(3)
	if !strings.Contains(r.Stderr, "rolled back: TOTAL_WORKERS is 2 again") || !strings.Contains(r.Stderr, "forbidden") {
		t.Errorf("stderr does not report the failure and the rollback:\n%s", r.Stderr)
	}
	if tw := totalWorkers(t, ns); tw != "2" {
		t.Errorf("TOTAL_WORKERS=%s after the rollback, want 2", tw)
	}
	if spec, _ := replicas(t, ns, app.KindStatefulSet, "dev-worker"); spec != 2 || gen() != g0 {
		t.Errorf("statefulset changed: %d replicas, generation %d -> %d", spec, g0, gen())
	}
}

// A worker scale whose wait fails (here: --timeout too short for the new
// workers) puts both TOTAL_WORKERS and the replicas back.
func TestWorkerRollbackTimeout(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, nil)
	r := harness.Piyasa(t, "scale", "worker", "5", "-n", ns, "--env", "dev", "--timeout", "1ms").ExpectCode(1)
	if !strings.Contains(r.Stderr, "timed out") || !strings.Contains(r.Stderr, "rolled back: TOTAL_WORKERS is 2 again and statefulset/dev-worker is back to 2 replicas") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
	assertWorkersRolledBack(t, ns)
	statusDoc(t, ns, 0) // TOTAL_WORKERS == replicas again: no problem reported
}

func TestScaleHPA(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, nil)
	base := []string{"scale", "hpa", "-n", ns, "--env", "dev"}
	harness.Piyasa(t, append(base, "api", "--min", "2", "--max", "5", "--dry-run=server")...).RunOK()
	if min, max := hpaRange(t, ns, "dev-api-hpa"); min != 1 || max != 10 {
		t.Fatalf("server dry run changed the HPA to %d-%d", min, max)
	}
	r := harness.Piyasa(t, append(base, "api", "--min", "2", "--max", "5", "--cpu", "60", "--memory", "75")...).RunOK()
	for _, want := range []string{"min 1 -> 2", "max 10 -> 5", "cpu target 70% -> 60%", "memory target 80% -> 75%"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("stdout %q lacks %q", r.Stdout, want)
		}
	}
	h, err := harness.Client(t).AutoscalingV2().HorizontalPodAutoscalers(ns).Get(context.Background(), "dev-api-hpa", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *h.Spec.MinReplicas != 2 || h.Spec.MaxReplicas != 5 {
		t.Errorf("HPA range %d-%d, want 2-5", *h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	got := map[string]int32{}
	for _, m := range h.Spec.Metrics {
		got[string(m.Resource.Name)] = *m.Resource.Target.AverageUtilization
	}
	if got["cpu"] != 60 || got["memory"] != 75 || len(h.Spec.Metrics) != 2 {
		t.Errorf("HPA targets %v, want cpu 60 memory 75", got)
	}
	if h.Spec.Behavior == nil || h.Spec.Behavior.ScaleDown == nil {
		t.Error("scale hpa dropped the HPA's behavior")
	}
	// api now must run 2-5: a manual 6 is refused even with --force.
	harness.Piyasa(t, "scale", "api", "6", "--force", "-n", ns, "--env", "dev").ExpectCode(2)
	// max x requests above what the kwok nodes hold: a warning, not a refusal.
	r = harness.Piyasa(t, append(base, "frontend", "--max", "100000")...).RunOK()
	if !strings.Contains(r.Stderr, "warning: --max 100000") || !strings.Contains(r.Stderr, "exceeds") {
		t.Errorf("no capacity warning:\n%s", r.Stderr)
	}
}

// status shows real CPU figures from metrics-server (fed by kwok's usage
// emulation) and explains <unknown> when requests are missing.
func TestStatusMetrics(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, map[string]string{
		"deployment/dev-api": usagePatch,
		// The frontend without resource requests: its utilization is <unknown>.
		"deployment/dev-frontend": `{"spec":{"template":{"metadata":{"annotations":{"kwok.x-k8s.io/usage-cpu":"50m"}},` +
			`"spec":{"containers":[{"name":"frontend","resources":{"requests":null,"limits":null}}]}}}}`,
	})
	waitForPodMetrics(t, ns, "dev-api-", "dev-frontend-")
	doc := statusDoc(t, ns, 0)
	if ma := doc["metricsAPI"].(map[string]any); ma["available"] != true {
		t.Fatalf("metricsAPI %v", ma)
	}
	api := component(t, doc, "api")
	cpu := api["cpu"].(map[string]any)
	// kwok turns the usage annotation into a cumulative CPU counter, and
	// metrics-server's rate over it wobbles by a millicore or two.
	u, _ := cpu["utilization"].(float64)
	if cpu["request"] != "250m" || u < 36 || u > 44 || cpu["target"] != float64(70) {
		t.Errorf("api cpu %v, want usage about %s of 250m = 40%% against 70%%", cpu, apiCPU)
	}
	mem := api["memory"].(map[string]any)
	if mem["utilization"] != float64(50) || mem["usage"] != "128Mi" {
		t.Errorf("api memory %v, want 128Mi of 256Mi = 50%%", mem)
	}
	fcpu := component(t, doc, "frontend")["cpu"].(map[string]any)
	if _, ok := fcpu["utilization"]; ok || !strings.Contains(fmtAny(fcpu["unknown"]), "has no cpu request") {
		t.Errorf("frontend cpu %v: want <unknown> explained by the missing request", fcpu)
	}
	// The HPA controller finds the same fault: once it says so, status quotes it.
	waitForHPACondition(t, ns, "dev-frontend-hpa", "ScalingActive", "False")
	fcpu = component(t, statusDoc(t, ns, 0), "frontend")["cpu"].(map[string]any)
	if !strings.Contains(fmtAny(fcpu["unknown"]), "HPA dev-frontend-hpa: ScalingActive=False") {
		t.Errorf("frontend cpu %v: want the HPA's ScalingActive=False message", fcpu)
	}
	r := harness.Piyasa(t, "scale", "status", "-n", ns, "--env", "dev").RunOK()
	if !strings.Contains(r.Stdout, "%/70%") || !strings.Contains(r.Stdout, "<unknown>/70%") || !strings.Contains(r.Stdout, "<unknown> frontend cpu") {
		t.Errorf("table:\n%s", r.Stdout)
	}
	y := harness.Piyasa(t, "scale", "status", "-n", ns, "--env", "dev", "-o", "yaml").RunOK()
	if !strings.Contains(y.Stdout, "apiVersion: piyasa.io/v1alpha1") || !strings.Contains(y.Stdout, "kind: ScaleStatus") {
		t.Errorf("yaml:\n%s", y.Stdout)
	}
}

func fmtAny(v any) string {
	s, _ := v.(string)
	return s
}

// status -w redraws from watches when something changes, and Ctrl-C stops it.
func TestStatusWatch(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, nil)
	harness.Kubectl(t, "delete", "hpa", "dev-frontend-hpa", "-n", ns).RunOK()
	var out, errb harness.SyncBuffer
	cmd := harness.Piyasa(t, "scale", "status", "-w", "-n", ns, "--env", "dev").Start(&out, &errb)
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !ok(out.String()) {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatalf("status -w never showed %s:\n%s\nstderr:\n%s", what, out.String(), errb.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("the first table", func(s string) bool { return strings.Contains(s, "deployment/dev-frontend") })
	harness.Kubectl(t, "scale", "deployment/dev-frontend", "--replicas=3", "-n", ns).RunOK()
	waitFor("frontend 3/3", func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "frontend") && strings.Contains(l, "3/3") {
				return true
			}
		}
		return false
	})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("status -w did not stop on SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 || strings.Contains(errb.String(), "error") {
		t.Errorf("exit code %d after SIGINT, want 130 and no error; stderr:\n%s", code, errb.String())
	}
}

// waitForHPACondition waits (bounded) until the HPA controller sets a condition.
func waitForHPACondition(t *testing.T, ns, name, typ, status string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		h, err := harness.Client(t).AutoscalingV2().HorizontalPodAutoscalers(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range h.Status.Conditions {
			if string(c.Type) == typ && string(c.Status) == status {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("HPA %s never had %s=%s: %v", name, typ, status, h.Status.Conditions)
		}
		time.Sleep(2 * time.Second)
	}
}
