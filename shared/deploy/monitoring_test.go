package deploy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clienttesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// withServiceMonitorCRD makes the fake discovery serve monitoring.coreos.com/v1 servicemonitors.
func withServiceMonitorCRD(tt *clitest.T) {
	tt.Fake.Resources = append(tt.Fake.Resources, &metav1.APIResourceList{GroupVersion: monitoringGroupVersion,
		APIResources: []metav1.APIResource{{Name: "servicemonitors", Kind: serviceMonitorKind, Namespaced: true}}})
}

// appliedKinds returns the kind/name of every server-side apply sent.
func appliedNames(tt *clitest.T) []string {
	var out []string
	for _, a := range tt.FakeDynamic.Actions() {
		if p, ok := a.(clienttesting.PatchAction); ok {
			out = append(out, p.GetResource().Resource+"/"+p.GetName())
		}
	}
	return out
}

func TestRenderMonitoring(t *testing.T) {
	objs, err := render.Monitoring(render.Options{Env: app.Environments["dev"], Namespace: "my-test"})
	if err != nil {
		t.Fatal(err)
	}
	var sm *unstructured.Unstructured
	for _, u := range objs {
		if u.GetNamespace() != "my-test" || u.GetLabels()[app.PartOfLabel] != app.PartOfValue || u.GetLabels()["environment"] != "dev" {
			t.Errorf("%s/%s: namespace %q labels %v", u.GetKind(), u.GetName(), u.GetNamespace(), u.GetLabels())
		}
		if u.GetKind() == serviceMonitorKind {
			sm = u
		}
	}
	if sm == nil || sm.GetName() != "dev-"+ServiceMonitorName {
		t.Fatalf("no ServiceMonitor dev-%s in %d objects", ServiceMonitorName, len(objs))
	}
	// The guide's ServiceMonitor: the api Service's port http, path /metrics.
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	api, _ := app.LookupComponent(app.API)
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != api.PortName || eps[0].(map[string]any)["path"] != "/metrics" || app.ComponentNameForLabels(sel) != app.API {
		t.Errorf("endpoints %v selector %v", eps, sel)
	}
}

func TestDeployMonitoring(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	sm := "servicemonitors/dev-" + ServiceMonitorName

	// auto, no CRD: deploy goes on without the ServiceMonitor and says so.
	tt := clitest.New(devNS, liveApp(imgV1)...)
	fakeApply(tt, nil)
	if err := run(tt, "--env-file", env, "--wait=false"); err != nil {
		t.Fatal(err)
	}
	if _, stderr := tt.Output(); !strings.Contains(stderr, "monitoring: no ServiceMonitor applied: the cluster serves no monitoring.coreos.com/v1") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if contains(appliedNames(tt), sm) {
		t.Errorf("ServiceMonitor applied without its CRD")
	}

	// auto, with the CRD: applied, with the NetworkPolicy that lets Prometheus in.
	tt = clitest.New(devNS, liveApp(imgV1)...)
	withServiceMonitorCRD(tt)
	fakeApply(tt, nil)
	if err := run(tt, "--env-file", env, "--wait=false"); err != nil {
		t.Fatal(err)
	}
	if got := appliedNames(tt); !contains(got, sm) || !contains(got, "networkpolicies/dev-allow-prometheus") {
		t.Errorf("applied %v", got)
	}
	if stdout, _ := tt.Output(); !strings.Contains(stdout, "servicemonitor/dev-piyasa-api-metrics serverside-applied") {
		t.Errorf("stdout:\n%s", stdout)
	}

	// off, with the CRD: not applied.
	tt = clitest.New(devNS, liveApp(imgV1)...)
	withServiceMonitorCRD(tt)
	fakeApply(tt, nil)
	if err := run(tt, "--env-file", env, "--wait=false", "--monitoring", "off"); err != nil {
		t.Fatal(err)
	}
	if contains(appliedNames(tt), sm) {
		t.Errorf("--monitoring off applied the ServiceMonitor")
	}

	// on, no CRD: exit 1 before anything is applied.
	tt = clitest.New(devNS, liveApp(imgV1)...)
	fakeApply(tt, nil)
	err := run(tt, "--env-file", env, "--monitoring", "on")
	if e := cli_error(err); e == nil || e.Code != 1 || !strings.Contains(e.Msg, "--monitoring on: the cluster serves no monitoring.coreos.com/v1 ServiceMonitor") {
		t.Errorf("--monitoring on without the CRD: %v", err)
	}
	if got := appliedNames(tt); len(got) != 0 {
		t.Errorf("applied %v after refusing", got)
	}
	// A value that is not a mode is bad input.
	tt = clitest.New(devNS)
	if err := run(tt, "--env-file", env, "--monitoring", "yes"); code(err) != 2 {
		t.Errorf("--monitoring yes: %v", err)
	}
}

func TestStatusSaysMonitoring(t *testing.T) {
	doc := func(tt *clitest.T) *MonitoringStatus {
		t.Helper()
		_ = run(tt, "status", "-o", "json")
		stdout, _ := tt.Output()
		var st Status
		if err := json.Unmarshal([]byte(stdout), &st); err != nil {
			t.Fatalf("%v\n%s", err, stdout)
		}
		return st.Monitoring
	}
	tt := clitest.New(devNS, liveApp(imgV1)...)
	if m := doc(tt); m == nil || m.CRD || m.ServiceMonitor != "" {
		t.Errorf("no CRD: %+v", m)
	}
	tt = clitest.New(devNS, liveApp(imgV1)...)
	withServiceMonitorCRD(tt)
	if m := doc(tt); m == nil || !m.CRD || m.ServiceMonitor != "" || !strings.Contains(m.Message, "not applied") {
		t.Errorf("CRD, no ServiceMonitor: %+v", m)
	}
	tt = clitest.New(devNS, liveApp(imgV1)...)
	withServiceMonitorCRD(tt)
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(monitoringGroupVersion)
	u.SetKind(serviceMonitorKind)
	u.SetName("dev-" + ServiceMonitorName)
	u.SetNamespace(devNS)
	gvr := schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
	if _, err := tt.FakeDynamic.Resource(gvr).Namespace(devNS).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if m := doc(tt); m == nil || m.ServiceMonitor != "dev-"+ServiceMonitorName {
		t.Errorf("applied: %+v", m)
	}
	// The table says it on stderr, one line.
	tt2 := clitest.New(devNS, liveApp(imgV1)...)
	_ = run(tt2, "status")
	if _, stderr := tt2.Output(); !strings.Contains(stderr, "monitoring: off: the cluster serves no monitoring.coreos.com/v1 ServiceMonitor") {
		t.Errorf("stderr:\n%s", stderr)
	}
}
