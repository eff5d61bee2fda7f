package deploy

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"

	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// The monitoring add-on's PrometheusRule (manifests/monitoring/prometheusrule.yaml):
// alerts on WAL archiving and backups, on the metrics of `backup status -o
// prometheus`. It is applied with the ServiceMonitor, and only where the
// cluster serves the PrometheusRule kind too.
const (
	prometheusRuleKind     = "PrometheusRule"
	prometheusRuleResource = "prometheusrules"
	// PrometheusRuleName is the rule's name before the environment prefix.
	PrometheusRuleName = "piyasa-backup-alerts"
	// alertNamespaceToken stands in the rule's expressions for the namespace
	// the rule is deployed into.
	alertNamespaceToken = `namespace="NAMESPACE"`
)

// isPrometheusRule tells the add-on's PrometheusRule.
func isPrometheusRule(u *unstructured.Unstructured) bool {
	return u.GroupVersionKind().Group == gvrServiceMonitors.Group && u.GetKind() == prometheusRuleKind
}

// scopeAlerts puts ns into the expressions of the PrometheusRules in objs, so
// that each environment's rule alerts only on its own namespace.
func scopeAlerts(objs []*unstructured.Unstructured, ns string) error {
	for _, u := range objs {
		if !isPrometheusRule(u) {
			continue
		}
		groups, _, err := unstructured.NestedSlice(u.Object, "spec", "groups")
		if err != nil {
			return fmt.Errorf("%s/%s: %v", prometheusRuleKind, u.GetName(), err)
		}
		for _, g := range groups {
			rules, _ := g.(map[string]any)["rules"].([]any)
			for _, r := range rules {
				rule, _ := r.(map[string]any)
				if expr, ok := rule["expr"].(string); ok {
					rule["expr"] = strings.ReplaceAll(expr, alertNamespaceToken, fmt.Sprintf("namespace=%q", ns))
				}
			}
		}
		if err := unstructured.SetNestedSlice(u.Object, groups, "spec", "groups"); err != nil {
			return err
		}
	}
	return nil
}

// withoutAlertsUnlessServed drops the PrometheusRule from objs when the
// cluster does not serve its kind, and says so in a note ("" when kept).
func withoutAlertsUnlessServed(d discovery.DiscoveryInterface, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, string, error) {
	has, err := kube.ServesResource(d, monitoringGroupVersion, prometheusRuleResource)
	if err != nil || has {
		return objs, "", err
	}
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, u := range objs {
		if !isPrometheusRule(u) {
			out = append(out, u)
		}
	}
	return out, fmt.Sprintf("; no backup alerts: the cluster serves no %s %s", monitoringGroupVersion, prometheusRuleKind), nil
}
