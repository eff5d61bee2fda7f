package deploy

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// withMonitoringCRDs makes the fake discovery serve both
// monitoring.coreos.com/v1 kinds: ServiceMonitor and PrometheusRule.
func withMonitoringCRDs(tt *clitest.T) {
	tt.Fake.Resources = append(tt.Fake.Resources, &metav1.APIResourceList{GroupVersion: monitoringGroupVersion,
		APIResources: []metav1.APIResource{{Name: "servicemonitors", Kind: serviceMonitorKind, Namespaced: true},
			{Name: prometheusRuleResource, Kind: prometheusRuleKind, Namespaced: true}}})
}

// TestRenderAlerts: the add-on renders the PrometheusRule with the
// environment's prefix, and deploy puts the namespace into every expression.
func TestRenderAlerts(t *testing.T) {
	objs, err := render.Monitoring(render.Options{Env: app.Environments["prod"], Namespace: "team-a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := scopeAlerts(objs, "team-a"); err != nil {
		t.Fatal(err)
	}
	var rule *unstructured.Unstructured
	for _, u := range objs {
		if isPrometheusRule(u) {
			rule = u
		}
	}
	if rule == nil || rule.GetName() != "prod-"+PrometheusRuleName || rule.GetNamespace() != "team-a" || rule.GetLabels()["release"] != "prometheus" {
		t.Fatalf("no PrometheusRule prod-%s in team-a: %v", PrometheusRuleName, rule)
	}
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	n := 0
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			expr := r.(map[string]any)["expr"].(string)
			n++
			if strings.Contains(expr, "NAMESPACE") || !strings.Contains(expr, `namespace="team-a"`) {
				t.Errorf("%v: expression not scoped to team-a: %s", r.(map[string]any)["alert"], expr)
			}
		}
	}
	if n < 5 {
		t.Errorf("%d alerts", n)
	}
}

// TestDeployAlertsOnlyWithTheirCRD: the PrometheusRule goes with the
// ServiceMonitor only where the cluster serves the PrometheusRule kind.
func TestDeployAlertsOnlyWithTheirCRD(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	rule := "prometheusrules/dev-" + PrometheusRuleName
	cases := []struct {
		name    string
		crds    func(*clitest.T)
		applied bool
		note    string
	}{
		{"ServiceMonitor only", withServiceMonitorCRD, false, "no backup alerts: the cluster serves no monitoring.coreos.com/v1 PrometheusRule"},
		{"both kinds", withMonitoringCRDs, true, "applying the api's ServiceMonitor and the backup alerts (PrometheusRule)"},
		{"neither", func(*clitest.T) {}, false, "monitoring: no ServiceMonitor applied"},
	}
	for _, c := range cases {
		tt := clitest.New(devNS, liveApp(imgV1)...)
		c.crds(tt)
		fakeApply(tt, nil)
		if err := run(tt, "--env-file", env, "--wait=false"); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		stdout, stderr := tt.Output()
		if got := contains(appliedNames(tt), rule); got != c.applied || !strings.Contains(stderr, c.note) {
			t.Errorf("%s: applied %v (want %v)\nstdout:\n%s\nstderr:\n%s", c.name, got, c.applied, stdout, stderr)
		}
		if c.applied && !strings.Contains(stdout, "prometheusrule/dev-"+PrometheusRuleName+" serverside-applied") {
			t.Errorf("%s: stdout:\n%s", c.name, stdout)
		}
	}
}
