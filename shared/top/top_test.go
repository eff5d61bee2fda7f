package top

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

const testNS = "piyasa-chatbot-dev"

// exitOf is the exit code of a command's result, its message printed to stderr as the binary would.
func exitOf(tt *clitest.T, err error) int {
	if err == nil {
		return 0
	}
	return cli.PrintError(tt.Stderr, cli.Classify(err, ""))
}

func rl(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

// topPod is a pod of comp on node n1 with the given requests and limits.
func topPod(comp, name string, phase corev1.PodPhase, req, lim corev1.ResourceList) *corev1.Pod {
	c, _ := app.LookupComponent(comp)
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: c.Labels},
		Spec:   corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: comp, Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}}},
		Status: corev1.PodStatus{Phase: phase}}
}

func podUsage(name, cpu, mem string) metricsv1beta1.PodMetrics {
	return metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Containers: []metricsv1beta1.ContainerMetrics{{Name: "c", Usage: rl(cpu, mem)}}}
}

// metricsFake serves the given pod and node metrics (or err for both).
func metricsFake(pods []metricsv1beta1.PodMetrics, nodes []metricsv1beta1.NodeMetrics, err error) *metricsfake.Clientset {
	mc := metricsfake.NewSimpleClientset()
	mc.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &metricsv1beta1.PodMetricsList{Items: pods}, err
	})
	mc.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &metricsv1beta1.NodeMetricsList{Items: nodes}, err
	})
	return mc
}

func topRun(t *testing.T, tt *clitest.T, mc *metricsfake.Clientset, args ...string) (int, string, string) {
	t.Helper()
	o := &Options{Global: tt.Global, Print: output.NewFlags()}
	o.Print.Output = "table"
	o.metrics = mc
	cmd := newCmd(o)
	var err error
	if err = cmd.ParseFlags(args); err == nil {
		if err = o.Complete(cmd, nil); err == nil {
			if err = o.Validate(); err == nil {
				err = o.Run(context.Background())
			}
		}
	}
	code := exitOf(tt, err)
	out, errOut := tt.Output()
	return code, out, errOut
}

func TestTop(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Allocatable: rl("4", "8Gi")}}
	tt := clitest.New(testNS, node,
		topPod(app.API, "dev-api-a", corev1.PodRunning, rl("250m", "256Mi"), rl("500m", "512Mi")),
		topPod(app.API, "dev-api-b", corev1.PodRunning, rl("250m", "256Mi"), rl("500m", "512Mi")),
		topPod(app.Worker, "dev-worker-0", corev1.PodRunning, rl("500m", "512Mi"), rl("1", "1Gi")),
		topPod(app.Frontend, "dev-frontend-a", corev1.PodRunning, nil, nil),
		topPod(app.Postgres, "dev-postgres-a", corev1.PodPending, rl("250m", "256Mi"), rl("1", "1Gi")),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "not-the-app", Namespace: testNS}, Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	mc := metricsFake([]metricsv1beta1.PodMetrics{podUsage("dev-api-a", "100m", "128Mi"), podUsage("dev-api-b", "150m", "384Mi"),
		podUsage("dev-frontend-a", "20m", "64Mi"), podUsage("not-the-app", "3", "3Gi")},
		[]metricsv1beta1.NodeMetrics{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Usage: rl("1", "2Gi")}}, nil)

	code, out, errOut := topRun(t, tt, mc, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var top Report
	if err := json.Unmarshal([]byte(out), &top); err != nil {
		t.Fatal(err)
	}
	comp := map[string]Component{}
	for _, c := range top.Components {
		comp[c.Component] = c
	}
	if len(top.Components) != len(app.Components) {
		t.Errorf("components %+v", top.Components)
	}
	api := comp[app.API]
	if api.Pods != 2 || api.CPU.Usage != "250m" || api.CPU.Request != "500m" || api.CPU.Limit != "1000m" || *api.CPU.PercentOfLimit != 25 ||
		api.Memory.Usage != "512Mi" || api.Memory.Limit != "1024Mi" || *api.Memory.PercentOfLimit != 50 || api.CPU.Unknown != "" {
		t.Errorf("api %+v", api)
	}
	if w := comp[app.Worker]; w.CPU.Usage != "" || w.CPU.PercentOfLimit != nil || w.CPU.Limit != "1000m" || !strings.Contains(w.CPU.Unknown, "no metrics yet (metrics-server reports a pod about a minute after it starts)") {
		t.Errorf("worker %+v", w)
	}
	if f := comp[app.Frontend]; f.CPU.Usage != "20m" || f.CPU.PercentOfLimit != nil ||
		f.CPU.Unknown != "container dev-frontend-a/frontend has no cpu request or limit, so there is no percentage of the limit" {
		t.Errorf("frontend %+v", f)
	}
	if p := comp[app.Postgres]; p.CPU.Usage != "" || p.CPU.Unknown != "pod is Pending, not running" {
		t.Errorf("postgres %+v", p)
	}
	if r := comp[app.Redis]; r.Pods != 0 || r.CPU.Unknown != "no running pods" {
		t.Errorf("redis %+v", r)
	}
	if len(top.Pods) != 5 || top.Pods[0].Pod != "dev-api-a" || *top.Pods[1].Memory.PercentOfLimit != 75 || top.Pods[1].Node != "n1" {
		t.Errorf("pods %+v", top.Pods)
	}
	if len(top.Nodes) != 1 {
		t.Fatalf("nodes %+v", top.Nodes)
	}
	n := top.Nodes[0]
	if n.Node != "n1" || n.AppPods != 5 || n.CPU.Usage != "1000m" || n.CPU.Allocatable != "4000m" || *n.CPU.Percent != 25 || n.CPU.App != "270m" ||
		*n.Memory.Percent != 25 || n.Memory.App != "576Mi" {
		t.Errorf("node %+v", n)
	}

	tt = clitest.New(testNS, node, topPod(app.API, "dev-api-a", corev1.PodRunning, rl("250m", "256Mi"), rl("500m", "512Mi")),
		topPod(app.Frontend, "dev-frontend-a", corev1.PodRunning, nil, nil))
	_, out, _ = topRun(t, tt, mc)
	for _, want := range []string{
		"COMPONENT   PODS   CPU         CPU REQ/LIM   CPU %LIM   MEMORY      MEM REQ/LIM   MEM %LIM\n",
		"api         1      100m        250m/500m     20%        128Mi       256Mi/512Mi   25%\n",
		"frontend    1      20m         -/-           -          64Mi        -/-           -\n",
		"redis       0      <unknown>   -/-           -          <unknown>   -/-           -\n",
		"dev-frontend-a   frontend    20m    -/-           -          64Mi     -/-           -\n",
		"NODE   CPU     CPU%   MEMORY   MEMORY%   APP PODS   APP CPU   APP MEMORY",
		"n1     1000m   25%    2048Mi   25%       2          120m      192Mi",
		"<unknown> worker cpu, worker memory, postgres cpu, postgres memory, redis cpu, redis memory: no running pods\n",
		"<unknown> frontend cpu, dev-frontend-a cpu: container dev-frontend-a/frontend has no cpu request or limit, so there is no percentage of the limit\n",
		"<unknown> frontend memory, dev-frontend-a memory: container dev-frontend-a/frontend has no memory request or limit",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// Without the metrics API every usage is <unknown> with the reason, and
// the exit status is 1; without the right to list nodes, the node figures say so.
func TestTopWithoutMetrics(t *testing.T) {
	tt := clitest.New(testNS, topPod(app.API, "dev-api-a", corev1.PodRunning, rl("250m", "256Mi"), rl("500m", "512Mi")))
	tt.Fake.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no"))
	})
	mc := metricsFake(nil, nil, apierrors.NewNotFound(schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}, ""))
	code, out, _ := topRun(t, tt, mc)
	if code != cli.ExitFailed {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"api         1      <unknown>   250m/500m     <unknown>",
		"<unknown> api cpu, api memory, dev-api-a cpu, dev-api-a memory, node n1 cpu, node n1 memory: the metrics API is not installed (no APIService v1beta1.metrics.k8s.io): install metrics-server\n",
		"<unknown> worker cpu, worker memory, frontend cpu, frontend memory, postgres cpu, postgres memory and 2 more: no running pods\n",
		"not allowed to list nodes (RBAC): allocatable unknown",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// pods that may not be listed: exit 3
	tt = clitest.New(testNS)
	tt.Fake.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no"))
	})
	if code, _, errOut := topRun(t, tt, metricsFake(nil, nil, nil)); code != cli.ExitCluster {
		t.Errorf("forbidden pods: exit %d\n%s", code, errOut)
	}
	if code, _, _ := topRun(t, clitest.New(testNS), metricsFake(nil, nil, nil), "-o", "xml"); code != cli.ExitUsage {
		t.Errorf("-o xml: exit %d", code)
	}
}
