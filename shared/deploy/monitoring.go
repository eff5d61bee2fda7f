package deploy

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// The monitoring add-on (manifests/monitoring): the guide's ServiceMonitor
// of the api's /metrics, applied only where Prometheus' operator serves it.
const (
	monitoringGroupVersion = "monitoring.coreos.com/v1"
	serviceMonitorKind     = "ServiceMonitor"
	// ServiceMonitorName is the ServiceMonitor's name before the environment prefix (the guide's).
	ServiceMonitorName = "piyasa-api-metrics"
)

var gvrServiceMonitors = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}

// Monitoring modes of --monitoring.
const (
	MonitoringAuto = "auto"
	MonitoringOn   = "on"
	MonitoringOff  = "off"
)

// monitoringFlag is --monitoring and the add-on's rendered objects.
type monitoringFlag struct {
	Monitoring string
	monObjs    []*unstructured.Unstructured
}

func (m *monitoringFlag) add(cmd *cobra.Command) {
	m.Monitoring = MonitoringAuto
	cmd.Flags().StringVar(&m.Monitoring, "monitoring", m.Monitoring,
		"The api's ServiceMonitor (Prometheus): auto applies it when the cluster has the monitoring.coreos.com CRD, on requires the CRD, off never applies it")
}

// complete renders the add-on (no I/O: it is embedded).
func (m *monitoringFlag) complete(g *cli.Global) error {
	if m.Monitoring == MonitoringOff {
		return nil
	}
	objs, err := render.Monitoring(render.Options{Env: g.Env, Namespace: g.Namespace})
	if err != nil {
		return cli.Usagef("cannot render the monitoring add-on: %v", err)
	}
	if err := scopeAlerts(objs, g.Namespace); err != nil {
		return cli.Usagef("cannot render the monitoring add-on: %v", err)
	}
	m.monObjs = objs
	return nil
}

func (m *monitoringFlag) validate() error {
	switch m.Monitoring {
	case MonitoringAuto, MonitoringOn, MonitoringOff:
		return nil
	}
	return cli.Usagef("--monitoring %q: use auto, on or off", m.Monitoring)
}

// decide tells whether to apply the add-on, with a line that says why;
// --monitoring on without the CRD is an error (before anything is applied).
func (m *monitoringFlag) decide(ctx context.Context, g *cli.Global, c *clients) (bool, string, error) {
	if m.Monitoring == MonitoringOff {
		note := "monitoring: off (--monitoring off): no ServiceMonitor applied"
		if has, _ := kube.ServesResource(c.cs.Discovery(), monitoringGroupVersion, gvrServiceMonitors.Resource); has {
			name := g.Env.ObjectName(ServiceMonitorName)
			if _, err := c.dyn.Resource(gvrServiceMonitors).Namespace(g.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
				note += fmt.Sprintf("; the live servicemonitor/%s stays (kubectl delete servicemonitor %s -n %s)", name, name, g.Namespace)
			}
		}
		return false, note, nil
	}
	has, err := kube.ServesResource(c.cs.Discovery(), monitoringGroupVersion, gvrServiceMonitors.Resource)
	if err != nil {
		return false, "", err
	}
	switch {
	case has:
		objs, note, err := withoutAlertsUnlessServed(c.cs.Discovery(), m.monObjs)
		if err != nil {
			return false, "", err
		}
		m.monObjs = objs
		if note == "" {
			note = " and the backup alerts (PrometheusRule)"
		}
		return true, fmt.Sprintf("monitoring: the cluster serves %s %s: applying the api's ServiceMonitor%s", monitoringGroupVersion, serviceMonitorKind, note), nil
	case m.Monitoring == MonitoringOn:
		return false, "", cli.Failedf("--monitoring on: the cluster serves no %s %s (the Prometheus operator's CRD): nothing applied", monitoringGroupVersion, serviceMonitorKind).
			WithHint("install kube-prometheus-stack (guide: Prometheus & Grafana Integration), or deploy with --monitoring auto")
	}
	return false, fmt.Sprintf("monitoring: no ServiceMonitor applied: the cluster serves no %s %s (install the Prometheus operator, then deploy again)", monitoringGroupVersion, serviceMonitorKind), nil
}

// MonitoringStatus is the `monitoring` part of `deploy status`: whether the
// cluster has the ServiceMonitor CRD and whether the api's ServiceMonitor is applied.
type MonitoringStatus struct {
	// CRD is true when the cluster serves monitoring.coreos.com/v1 ServiceMonitor.
	CRD bool `json:"crd"`
	// ServiceMonitor names the live ServiceMonitor of the api ("" when there is none).
	ServiceMonitor string `json:"serviceMonitor,omitempty"`
	// Message says which, in one line.
	Message string `json:"message"`
}

// monitoringStatus reads whether the api's ServiceMonitor is applied.
func monitoringStatus(ctx context.Context, d discovery.DiscoveryInterface, dyn dynamic.Interface, env app.Environment, ns string) (*MonitoringStatus, error) {
	has, err := kube.ServesResource(d, monitoringGroupVersion, gvrServiceMonitors.Resource)
	if err != nil {
		return nil, err
	}
	st := &MonitoringStatus{CRD: has}
	name := env.ObjectName(ServiceMonitorName)
	if !has {
		st.Message = fmt.Sprintf("off: the cluster serves no %s %s", monitoringGroupVersion, serviceMonitorKind)
		return st, nil
	}
	_, err = dyn.Resource(gvrServiceMonitors).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		st.Message = fmt.Sprintf("not applied: the CRD exists but servicemonitor/%s does not (deploy applies it)", name)
	case err != nil:
		return nil, err
	default:
		st.ServiceMonitor = name
		st.Message = fmt.Sprintf("servicemonitor/%s: Prometheus scrapes the api's /metrics", name)
	}
	return st, nil
}

// isMonitoringObject tells whether u belongs to the monitoring add-on's kinds
// that a cluster may not serve.
func isMonitoringObject(u *unstructured.Unstructured) bool {
	return u.GroupVersionKind().Group == gvrServiceMonitors.Group
}
