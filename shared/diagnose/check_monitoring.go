package diagnose

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// checkMonitoring looks at what Prometheus needs to scrape the api (guide:
// Prometheus & Grafana Integration): a named api Service port that reaches
// the metrics port (the ServiceMonitor selects it by name), PROMETHEUS_ENABLED
// on, and, with --probe, GET /metrics answering in the Prometheus text format.
func (r *runner) checkMonitoring(ctx context.Context) {
	api, _ := app.LookupComponent(app.API)
	cfg := r.appConfig()
	metricsPort := api.Port
	if p, err := strconv.Atoi(strings.TrimSpace(cfg[app.KeyPrometheusPort])); err == nil && p > 0 && p < 65536 {
		metricsPort = int32(p)
	}

	if r.begin("PIY851", KindServices, KindDeployments, KindConfigMaps) {
		name := r.s.Env.ServiceName(api)
		if svc, ok := r.s.Services[name]; ok && !svcNamesPort(svc, r.apiTemplate(), metricsPort) {
			var ports []string
			for _, p := range svc.Spec.Ports {
				ports = append(ports, fmt.Sprintf("%s %d->%s", or(p.Name, "<unnamed>"), p.Port, targetText(p)))
			}
			r.add("PIY851", app.API, Object{Kind: "Service", Name: name},
				fmt.Sprintf("Service %s has no named port that reaches the metrics port %d: the ServiceMonitor (port %s) finds nothing to scrape", name, metricsPort, api.PortName),
				[]string{"ports: " + or(strings.Join(ports, ", "), "none"), fmt.Sprintf("%s: %d", app.KeyPrometheusPort, metricsPort)}, "")
		}
	}

	enabled := true
	if r.begin("PIY852", KindConfigMaps, KindSecrets) && cfg != nil {
		v, set := cfg[app.KeyPrometheusEnabled]
		if !set || !truthy(v) {
			enabled = false
			what := fmt.Sprintf("%s is %q", app.KeyPrometheusEnabled, v)
			if !set {
				what = app.KeyPrometheusEnabled + " is not set"
			}
			var ev []string
			if r.s.Secrets[r.appSecret()].Keys[app.KeyPrometheusEnabled] {
				ev = append(ev, fmt.Sprintf("Secret %s also sets %s, which wins in the pods (its value is not read)", r.appSecret(), app.KeyPrometheusEnabled))
			}
			r.add("PIY852", app.API, Object{Kind: "ConfigMap", Name: r.appConfigName()},
				fmt.Sprintf("%s in ConfigMap %s: the api serves no /metrics", what, r.appConfigName()), ev, "")
		}
	}

	if r.prober == nil || !r.selected("PIY853") {
		return
	}
	if !enabled {
		r.skipped("PIY853", "PROMETHEUS_ENABLED is off (PIY852)")
		return
	}
	if !r.begin("PIY853", KindPods) {
		return
	}
	couldNot := func(pod string, msg string) {
		if r.begin("PIY979", KindPods) {
			r.add("PIY979", app.API, podObj(pod), msg, nil,
				fmt.Sprintf("kubectl piyasa deploy access -n %s, then: curl http://localhost:%d/metrics", r.s.Namespace, api.Port))
		}
	}
	pods := r.runningPods(app.API)
	if len(pods) == 0 {
		couldNot("", "GET /metrics: no running api pod; could not run")
		return
	}
	for _, p := range pods {
		pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
		body, err := r.prober.ProxyGet(pctx, p.Name, strconv.Itoa(int(metricsPort)), "/metrics")
		cancel()
		switch code, answered := podAnswered(err); {
		case err == nil && promTextRE.MatchString(body):
		case err == nil:
			r.add("PIY853", app.API, podObj(p.Name), "GET /metrics answered, but not in the Prometheus text format",
				[]string{"body: " + truncate(r.mask(body), 160)}, "")
		case answered:
			r.add("PIY853", app.API, podObj(p.Name), fmt.Sprintf("GET /metrics answered %d: %s", code, truncate(r.mask(err.Error()), 200)),
				[]string{"body: " + truncate(r.mask(body), 160)}, "")
		default:
			couldNot(p.Name, "GET /metrics through the API server's pod proxy could not run in pod "+p.Name+": "+truncate(r.mask(err.Error()), 160))
		}
	}
}

// promTextRE matches a line of the Prometheus text format: a HELP or TYPE
// comment, or a sample (name, optional labels, value).
var promTextRE = regexp.MustCompile(`(?m)^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* |[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eE]+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? ([-+]Inf|NaN))`)

// apiTemplate is the api workload's pod template (nil when not found).
func (r *runner) apiTemplate() *corev1.PodTemplateSpec {
	if w, ok := r.component(app.API); ok {
		return w.Template
	}
	return nil
}

// svcNamesPort tells whether a named port of svc reaches port of the pods
// (a numeric targetPort, a named one resolved in tmpl, or the port itself).
// A name that cannot be resolved (no template) is given the benefit of the doubt.
func svcNamesPort(svc *corev1.Service, tmpl *corev1.PodTemplateSpec, port int32) bool {
	for _, p := range svc.Spec.Ports {
		if p.Name == "" {
			continue
		}
		switch {
		case p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "":
			if tmpl == nil {
				return true
			}
			for _, c := range tmpl.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == p.TargetPort.StrVal && cp.ContainerPort == port {
						return true
					}
				}
			}
		case p.TargetPort.IntValue() != 0:
			if int32(p.TargetPort.IntValue()) == port {
				return true
			}
		case p.Port == port:
			return true
		}
	}
	return false
}

func targetText(p corev1.ServicePort) string {
	if p.TargetPort.String() == "0" || p.TargetPort.String() == "" {
		return strconv.Itoa(int(p.Port))
	}
	return p.TargetPort.String()
}

// truthy reads a boolean setting as the app does (true, 1, yes, on).
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		return true
	}
	return false
}
