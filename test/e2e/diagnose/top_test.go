package diagnose_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	dtop "github.com/piyasa/kubectl-piyasa/shared/top"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// topDoc runs `diagnose top -o json` and decodes it; it checks the exit code.
func topDoc(t *testing.T, code int, args ...string) dtop.Report {
	t.Helper()
	top, got := topDocAny(t, args...)
	if got != code {
		t.Fatalf("diagnose top %v: exit %d, want %d", args, got, code)
	}
	return top
}

// topDocAny runs `diagnose top -o json` and returns the document and the exit code (0 or 1).
func topDocAny(t *testing.T, args ...string) (dtop.Report, int) {
	t.Helper()
	r := harness.Piyasa(t, append([]string{"diagnose", "top", "-o", "json"}, args...)...).Run()
	if r.Code != 0 && r.Code != 1 {
		t.Fatalf("diagnose top: exit %d\n%s", r.Code, r.Stderr)
	}
	var top dtop.Report
	if err := json.Unmarshal([]byte(r.Stdout), &top); err != nil {
		t.Fatalf("diagnose top -o json: %v\n%s", err, r.Stdout)
	}
	if !strings.Contains(r.Stdout, `"kind": "DiagnoseTop"`) || !strings.Contains(r.Stdout, `"apiVersion": "piyasa.io/v1alpha1"`) {
		t.Errorf("document kind:\n%s", r.Stdout)
	}
	return top, r.Code
}

func topComponent(t *testing.T, top dtop.Report, name string) dtop.Component {
	t.Helper()
	for _, c := range top.Components {
		if c.Component == name {
			return c
		}
	}
	t.Fatalf("no component %s in %+v", name, top.Components)
	return dtop.Component{}
}

// TestTop: usage from kwok's metrics emulation through metrics-server, per
// component, pod and node, against requests and limits; every missing
// figure explained, also for a user who may not read nodes or metrics.
func TestTop(t *testing.T) {
	t.Parallel()
	ns := harness.Namespace(t, "top")
	harness.ApplyYAML(t, ns, `apiVersion: apps/v1
kind: Deployment
metadata: {name: dev-api}
spec:
  replicas: 2
  selector: {matchLabels: {app: piyasa-api, component: backend}}
  template:
    metadata:
      labels: {app: piyasa-api, component: backend}
      annotations: {kwok.x-k8s.io/usage-cpu: 100m, kwok.x-k8s.io/usage-memory: 128Mi}
    spec:
      containers:
      - name: api
        image: ghcr.io/example/api:v1
        resources:
          requests: {cpu: 250m, memory: 256Mi}
          limits: {cpu: 500m, memory: 512Mi}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: dev-frontend}
spec:
  replicas: 1
  selector: {matchLabels: {app: piyasa-frontend, component: frontend}}
  template:
    metadata:
      labels: {app: piyasa-frontend, component: frontend}
      annotations: {kwok.x-k8s.io/usage-cpu: 50m, kwok.x-k8s.io/usage-memory: 64Mi}
    spec:
      containers: [{name: frontend, image: ghcr.io/example/frontend:v1}]
---
apiVersion: v1
kind: Pod
metadata: {name: dev-postgres-pending, labels: {app: postgres}}
spec:
  nodeSelector: {piyasa-e2e/no-such-node: "true"}
  containers:
  - name: postgres
    image: postgres:16-alpine
    resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: "1", memory: 1Gi}}
`)
	harness.Kubectl(t, "rollout", "status", "deployment/dev-api", "deployment/dev-frontend", "-n", ns, "--timeout=120s").WithTimeout(3 * time.Minute).RunOK()
	args := []string{"--env", "dev", "-n", ns}

	// metrics-server reports a pod about a minute after it starts: until
	// then top says so (and exits 0: the metrics API answers).
	var top dtop.Report
	deadline := time.Now().Add(4 * time.Minute)
	for {
		var code int
		top, code = topDocAny(t, args...)
		api, fe := topComponent(t, top, "api"), topComponent(t, top, "frontend")
		if code == 0 && api.CPU.Usage != "" && api.CPU.Unknown == "" && fe.CPU.Usage != "" {
			break
		}
		switch {
		case code == 1 && (top.MetricsAPI.Available || top.MetricsAPI.Message == "" || api.CPU.Unknown != top.MetricsAPI.Message):
			t.Fatalf("exit 1 without the metrics API's reason: %+v %+v", top.MetricsAPI, api.CPU)
		case code == 0 && api.CPU.Usage == "" && !strings.Contains(api.CPU.Unknown, "no metrics yet (metrics-server reports a pod about a minute after it starts)"):
			t.Fatalf("api cpu without usage, unexplained: %+v", api.CPU)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no metrics for the api and frontend pods: %+v", top.Components)
		}
		time.Sleep(3 * time.Second)
	}
	if !top.MetricsAPI.Available {
		t.Errorf("metricsAPI %+v", top.MetricsAPI)
	}
	api := topComponent(t, top, "api")
	// kwok turns the usage annotation into a cumulative CPU counter and
	// metrics-server's rate over it wobbles by a millicore or two: 2 x 100m of 2 x 500m.
	if p := api.CPU.PercentOfLimit; api.Pods != 2 || api.CPU.Request != "500m" || api.CPU.Limit != "1000m" || p == nil || *p < 17 || *p > 23 {
		t.Errorf("api cpu %+v, want about 200m of a 1000m limit = 20%%", api.CPU)
	}
	if p := api.Memory.PercentOfLimit; api.Memory.Usage != "256Mi" || api.Memory.Limit != "1024Mi" || p == nil || *p != 25 {
		t.Errorf("api memory %+v, want 256Mi of 1024Mi = 25%%", api.Memory)
	}
	fe := topComponent(t, top, "frontend")
	if fe.CPU.PercentOfLimit != nil || !strings.Contains(fe.CPU.Unknown, "/frontend has no cpu request or limit, so there is no percentage of the limit") {
		t.Errorf("frontend cpu %+v: want the missing limit explained", fe.CPU)
	}
	if pg := topComponent(t, top, "postgres"); pg.Pods != 1 || pg.CPU.Usage != "" || pg.CPU.Limit != "1000m" || pg.CPU.Unknown != "pod is Pending, not running" {
		t.Errorf("postgres %+v", pg)
	}
	if r := topComponent(t, top, "redis"); r.Pods != 0 || r.CPU.Unknown != "no running pods" {
		t.Errorf("redis %+v", r)
	}
	pods := 0
	for _, p := range top.Pods {
		if p.Component == "api" {
			pods++
			if p.Node == "" || p.Memory.Usage != "128Mi" || p.Memory.PercentOfLimit == nil || *p.Memory.PercentOfLimit != 25 {
				t.Errorf("api pod %+v", p)
			}
		}
	}
	if pods != 2 || len(top.Nodes) == 0 {
		t.Fatalf("pods %+v nodes %+v", top.Pods, top.Nodes)
	}
	appPods := 0
	for _, n := range top.Nodes {
		appPods += n.AppPods
		if n.CPU.Usage == "" || n.CPU.Allocatable == "" || n.CPU.Percent == nil || n.Memory.Percent == nil || n.CPU.Unknown != "" {
			t.Errorf("node %+v", n)
		}
	}
	if appPods != 3 {
		t.Errorf("the nodes run %d of the app's pods, want 3 (the pending one has no node): %+v", appPods, top.Nodes)
	}

	r := harness.Piyasa(t, append([]string{"diagnose", "top"}, args...)...).RunOK()
	t.Logf("diagnose top:\n%s", r.Stdout)
	t.Logf("diagnose top -o yaml:\n%s", harness.Piyasa(t, append([]string{"diagnose", "top", "-o", "yaml"}, args...)...).RunOK().Stdout)
	for _, want := range []string{"COMPONENT   PODS   CPU", "\napi         2      ", "NODE ", "<unknown> postgres cpu, ", ": pod is Pending, not running\n",
		"has no cpu request or limit, so there is no percentage of the limit\n"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.Stdout)
		}
	}

	// A user who may read the namespace's pods and their metrics but not the
	// nodes, and one who may not read metrics at all.
	harness.ApplyYAML(t, ns, `apiVersion: v1
kind: ServiceAccount
metadata: {name: top-reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: top-reader}
rules:
- {apiGroups: [""], resources: [pods], verbs: [list]}
- {apiGroups: [metrics.k8s.io], resources: [pods], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: top-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: top-reader}
subjects: [{kind: ServiceAccount, name: top-reader}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: pod-reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader}
rules:
- {apiGroups: [""], resources: [pods], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pod-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects: [{kind: ServiceAccount, name: pod-reader}]
`)
	top = topDoc(t, 0, append(args, "--as", "system:serviceaccount:"+ns+":top-reader")...)
	if a := topComponent(t, top, "api"); a.CPU.Usage == "" {
		t.Errorf("top-reader: api %+v", a)
	}
	for _, n := range top.Nodes {
		if !strings.Contains(n.CPU.Unknown, "not allowed to list nodes.metrics.k8s.io (RBAC)") || !strings.Contains(n.CPU.Unknown, "not allowed to list nodes (RBAC)") {
			t.Errorf("top-reader: node %+v", n)
		}
	}
	top = topDoc(t, 1, append(args, "--as", "system:serviceaccount:"+ns+":pod-reader")...)
	if a := topComponent(t, top, "api"); top.MetricsAPI.Available || a.CPU.Usage != "" || a.CPU.Unknown != "not allowed to list pods.metrics.k8s.io in this namespace (RBAC)" ||
		a.CPU.Limit != "1000m" {
		t.Errorf("pod-reader: metricsAPI %+v api %+v", top.MetricsAPI, a)
	}
	harness.Piyasa(t, "diagnose", "top", "-n", ns, "--as", "system:serviceaccount:"+ns+":nobody").ExpectCode(3)
}
