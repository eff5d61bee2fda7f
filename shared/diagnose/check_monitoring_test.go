package diagnose

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func TestCheckMonitoring(t *testing.T) {
	apiSvc := func(s *Snapshot) *corev1.Service { return s.Services["dev-api-service"] }
	runAreaCases(t, AreaMonitoring, []areaCase{
		{name: "unnamed api port", code: "PIY851", msg: "no named port that reaches the metrics port 8000",
			break_: func(s *Snapshot) { apiSvc(s).Spec.Ports[0].Name = "" }},
		{name: "named port reaching another container port", code: "PIY851", msg: "dev-api-service",
			break_: func(s *Snapshot) { apiSvc(s).Spec.Ports[0].TargetPort = intstr.FromInt32(9000) }},
		{name: "named targetPort resolving elsewhere", code: "PIY851", msg: "metrics port 8000",
			break_: func(s *Snapshot) {
				apiSvc(s).Spec.Ports[0].TargetPort = intstr.FromString("web")
				s.Deployments[0].Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "web", ContainerPort: 8080}}
			}},
		{name: "metrics on PROMETHEUS_PORT without a Service port", code: "PIY851", msg: "metrics port 9100",
			break_: func(s *Snapshot) { s.ConfigMaps["dev-piyasa-config"][app.KeyPrometheusPort] = "9100" }},
		{name: "PROMETHEUS_ENABLED false", code: "PIY852", msg: `PROMETHEUS_ENABLED is "false" in ConfigMap dev-piyasa-config`,
			fix:    "deploy config set PROMETHEUS_ENABLED=true -n piyasa-chatbot-dev",
			break_: func(s *Snapshot) { s.ConfigMaps["dev-piyasa-config"][app.KeyPrometheusEnabled] = "false" }},
		{name: "PROMETHEUS_ENABLED missing", code: "PIY852", msg: "PROMETHEUS_ENABLED is not set",
			break_: func(s *Snapshot) { delete(s.ConfigMaps["dev-piyasa-config"], app.KeyPrometheusEnabled) }},
	})
	// A named targetPort that resolves to the metrics port passes.
	s := healthySnapshot()
	s.Services["dev-api-service"].Spec.Ports[0].TargetPort = intstr.FromString("http")
	s.Deployments[0].Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}}
	if rep := Analyze(context.Background(), s, Config{Only: CodeSet(areaCodes(AreaMonitoring))}, nil, nil); len(rep.Findings) != 0 {
		t.Errorf("named targetPort http -> 8000: %s", findingList(rep))
	}
}

// metricsProber answers GET /metrics with body or err.
type metricsProber struct {
	fakeProber
	body string
	err  error
	got  []string
}

func (m *metricsProber) ProxyGet(_ context.Context, pod, port, path string) (string, error) {
	m.got = append(m.got, pod+":"+port+path)
	return m.body, m.err
}

func TestCheckMonitoringProbe(t *testing.T) {
	run := func(s *Snapshot, p *metricsProber) map[string][]Finding {
		t.Helper()
		only := CodeSet(areaCodes(AreaMonitoring))
		only["PIY979"] = true
		rep := Analyze(context.Background(), s, Config{Probe: true, Only: only}, nil, p)
		got := map[string][]Finding{}
		for _, f := range rep.Findings {
			got[f.Code] = append(got[f.Code], f)
		}
		return got
	}
	prom := "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 3\n"
	p := &metricsProber{body: prom}
	if got := run(healthySnapshot(), p); len(got) != 0 {
		t.Errorf("healthy /metrics: %+v", got)
	}
	if len(p.got) != 1 || p.got[0] != "dev-api-a:8000/metrics" {
		t.Errorf("probed %v, want dev-api-a:8000/metrics", p.got)
	}
	// PROMETHEUS_PORT moves the probe.
	s := healthySnapshot()
	s.ConfigMaps["dev-piyasa-config"][app.KeyPrometheusPort] = "9100"
	p = &metricsProber{body: prom}
	run(s, p)
	if len(p.got) != 1 || p.got[0] != "dev-api-a:9100/metrics" {
		t.Errorf("probed %v, want port 9100", p.got)
	}
	// Not the Prometheus format: an HTML page.
	if got := run(healthySnapshot(), &metricsProber{body: "<html>Not here</html>"}); len(got["PIY853"]) != 1 || !strings.Contains(got["PIY853"][0].Message, "not in the Prometheus text format") {
		t.Errorf("HTML body: %+v", got)
	}
	// The pod answered 404 itself.
	notFound := apierrors.NewGenericServerResponse(http.StatusNotFound, "GET", schema.GroupResource{Resource: "pods"}, "dev-api-a", "Not Found", 0, true)
	if got := run(healthySnapshot(), &metricsProber{err: notFound}); len(got["PIY853"]) != 1 || !strings.Contains(got["PIY853"][0].Message, "answered 404") || len(got["PIY979"]) != 0 {
		t.Errorf("pod answered 404: %+v", got)
	}
	// The pod proxy could not reach the pod: the probe could not run.
	if got := run(healthySnapshot(), &metricsProber{err: errors.New("dial tcp 127.0.0.1:6443: i/o timeout")}); len(got["PIY853"]) != 0 || len(got["PIY979"]) != 1 || !strings.Contains(got["PIY979"][0].Message, "GET /metrics") {
		t.Errorf("unreachable: %+v", got)
	}
	// Metrics off: no probe, PIY852 says why.
	s = healthySnapshot()
	s.ConfigMaps["dev-piyasa-config"][app.KeyPrometheusEnabled] = "0"
	p = &metricsProber{body: prom}
	if got := run(s, p); len(got["PIY852"]) != 1 || len(p.got) != 0 {
		t.Errorf("metrics off: probed %v, findings %+v", p.got, got)
	}
	// Without --probe nothing is probed.
	p = &metricsProber{body: prom}
	Analyze(context.Background(), healthySnapshot(), Config{}, nil, p)
	if len(p.got) != 0 {
		t.Errorf("probed without --probe: %v", p.got)
	}
}
