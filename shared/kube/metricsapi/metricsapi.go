// Package metricsapi reads metrics.k8s.io (metrics-server) for the commands
// that print CPU and memory (diagnose top, scale status). It is apart from
// package kube so that the binaries that print no metrics do not link the
// metrics clientset (scripts/bench-size.sh).
package metricsapi

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// MetricsClient returns a metrics.k8s.io client for cfg.
func MetricsClient(cfg *rest.Config) (metricsclient.Interface, error) {
	return metricsclient.NewForConfig(cfg)
}

// PodMetrics lists the namespace's pod metrics (one LIST) by pod name. When
// the metrics API does not answer, it returns no metrics and a one-line
// reason that explains the missing figures.
func PodMetrics(ctx context.Context, mc metricsclient.Interface, dyn dynamic.Interface, ns string) (map[string]*metricsv1beta1.PodMetrics, string) {
	list, err := mc.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, kube.ExplainMetricsError(ctx, dyn, err, "pods.metrics.k8s.io in this namespace")
	}
	out := make(map[string]*metricsv1beta1.PodMetrics, len(list.Items))
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out, ""
}

// NodeMetrics lists the nodes' metrics (one LIST) by node name, or says why
// there are none, as PodMetrics does.
func NodeMetrics(ctx context.Context, mc metricsclient.Interface, dyn dynamic.Interface) (map[string]*metricsv1beta1.NodeMetrics, string) {
	list, err := mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, kube.ExplainMetricsError(ctx, dyn, err, "nodes.metrics.k8s.io")
	}
	out := make(map[string]*metricsv1beta1.NodeMetrics, len(list.Items))
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out, ""
}
