package deploy_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

type monitoringDoc struct {
	Monitoring *struct {
		CRD            bool   `json:"crd"`
		ServiceMonitor string `json:"serviceMonitor"`
		Message        string `json:"message"`
	} `json:"monitoring"`
}

func monitoringStatus(t *testing.T, ns string) monitoringDoc {
	t.Helper()
	r := harness.Piyasa(t, "deploy", "status", "--env", "dev", "-n", ns, "-o", "json").RunOK()
	var d monitoringDoc
	if err := json.Unmarshal([]byte(r.Stdout), &d); err != nil || d.Monitoring == nil {
		t.Fatalf("status -o json (%v):\n%s", err, r.Stdout)
	}
	return d
}

// TestMonitoring: deploy applies the api's ServiceMonitor only once the
// cluster serves its CRD (--monitoring auto), refuses --monitoring on
// without it, and deploy status and diagnose say where monitoring stands.
func TestMonitoring(t *testing.T) {
	ns := harness.Namespace(t, "deploy-mon")
	env := newEnvFile(t, ".env")

	// No CRD: auto deploys without it, and says so.
	r := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--timeout", "3m").RunOK()
	if !strings.Contains(r.Stderr, "monitoring: no ServiceMonitor applied: the cluster serves no monitoring.coreos.com/v1 ServiceMonitor") ||
		strings.Contains(r.Stdout, "servicemonitor/") {
		t.Errorf("deploy without the CRD:\nstdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}
	if d := monitoringStatus(t, ns); d.Monitoring.CRD || d.Monitoring.ServiceMonitor != "" {
		t.Errorf("status without the CRD: %+v", d.Monitoring)
	}
	r = harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--monitoring", "on").ExpectCode(1)
	if !strings.Contains(r.Stderr, "error: --monitoring on: the cluster serves no monitoring.coreos.com/v1 ServiceMonitor") || strings.Contains(r.Stdout, "serverside-applied") {
		t.Errorf("--monitoring on without the CRD:\nstdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}

	// The CRD installed: the next deploy applies the guide's ServiceMonitor.
	installCRD(t, "monitoring.coreos.com", "ServiceMonitor", "servicemonitors")
	r = harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--timeout", "3m").RunOK()
	if !strings.Contains(r.Stdout, "servicemonitor/dev-piyasa-api-metrics serverside-applied") ||
		!strings.Contains(r.Stdout, "networkpolicy/dev-allow-prometheus serverside-applied") {
		t.Errorf("deploy with the CRD:\n%s\n%s", r.Stdout, r.Stderr)
	}
	if strings.Contains(r.Stdout, "prometheusrule/") || !strings.Contains(r.Stderr, "no backup alerts: the cluster serves no monitoring.coreos.com/v1 PrometheusRule") {
		t.Errorf("deploy with the ServiceMonitor CRD only:\n%s\n%s", r.Stdout, r.Stderr)
	}
	got := harness.Kubectl(t, "get", "servicemonitor", "dev-piyasa-api-metrics", "-n", ns,
		"-o", `jsonpath={.spec.endpoints[0].port} {.spec.endpoints[0].path} {.spec.selector.matchLabels.app} {.metadata.labels.release}`).RunOK().Stdout
	if got != "http /metrics piyasa-api prometheus" {
		t.Errorf("ServiceMonitor: %q", got)
	}
	if d := monitoringStatus(t, ns); !d.Monitoring.CRD || d.Monitoring.ServiceMonitor != "dev-piyasa-api-metrics" {
		t.Errorf("status with the ServiceMonitor: %+v", d.Monitoring)
	}
	r = harness.Piyasa(t, "deploy", "status", "--env", "dev", "-n", ns).RunOK()
	if !strings.Contains(r.Stderr, "monitoring: servicemonitor/dev-piyasa-api-metrics") {
		t.Errorf("status table:\n%s", r.Stderr)
	}

	// The PrometheusRule CRD installed too: the next deploy applies the backup
	// alerts, their expressions scoped to the namespace.
	installCRD(t, "monitoring.coreos.com", "PrometheusRule", "prometheusrules")
	r = harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--timeout", "3m").RunOK()
	if !strings.Contains(r.Stdout, "prometheusrule/dev-piyasa-backup-alerts serverside-applied") || !strings.Contains(r.Stderr, "and the backup alerts (PrometheusRule)") {
		t.Errorf("deploy with the PrometheusRule CRD:\n%s\n%s", r.Stdout, r.Stderr)
	}
	got = harness.Kubectl(t, "get", "prometheusrule", "dev-piyasa-backup-alerts", "-n", ns, "-o", `jsonpath={range .spec.groups[*].rules[*]}{.alert}={.expr}{"\n"}{end}`).RunOK().Stdout
	for _, alert := range []string{"PiyasaWALArchivingStalled", "PiyasaWALSyncStalled", "PiyasaNoBaseBackup", "PiyasaNoVerifiedRestore"} {
		if !strings.Contains(got, alert+"=") {
			t.Errorf("PrometheusRule lacks %s:\n%s", alert, got)
		}
	}
	if strings.Contains(got, "NAMESPACE") || !strings.Contains(got, `namespace="`+ns+`"`) {
		t.Errorf("PrometheusRule expressions not scoped to %s:\n%s", ns, got)
	}

	// diagnose: the api Service names the metrics port and PROMETHEUS_ENABLED is on ...
	harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "--only", "monitoring", "--fail-on", "warning").RunOK()
	// ... until PROMETHEUS_ENABLED goes off.
	harness.Kubectl(t, "patch", "configmap", "dev-piyasa-config", "-n", ns, "--type=merge", "-p", `{"data":{"PROMETHEUS_ENABLED":"false"}}`).RunOK()
	r = harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "--only", "monitoring", "--fail-on", "warning").ExpectCode(1)
	if !strings.Contains(r.Stdout, "PIY852") || strings.Contains(r.Stdout, "PIY851") {
		t.Errorf("diagnose with metrics off:\n%s", r.Stdout)
	}
}
