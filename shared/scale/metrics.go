package scale

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// MetricsAPIService is the APIService that serves metrics.k8s.io (metrics-server).
const MetricsAPIService = "v1beta1.metrics.k8s.io"

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// podMetrics lists the namespace's pod metrics (one LIST). When the metrics
// API does not answer, it returns no metrics and a one-line reason that
// explains the <unknown> figures.
func podMetrics(ctx context.Context, cfg *rest.Config, dyn dynamic.Interface, ns string) (map[string]*metricsv1beta1.PodMetrics, string) {
	mc, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return nil, "metrics.k8s.io: " + err.Error()
	}
	list, err := mc.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, explainMetricsError(ctx, dyn, err)
	}
	out := make(map[string]*metricsv1beta1.PodMetrics, len(list.Items))
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out, ""
}

// explainMetricsError says why metrics.k8s.io failed, from the APIService's
// Available condition when it can be read.
func explainMetricsError(ctx context.Context, dyn dynamic.Interface, err error) string {
	if apierrors.IsForbidden(err) {
		return "not allowed to list pods.metrics.k8s.io in this namespace (RBAC)"
	}
	if ctx.Err() != nil {
		return "metrics.k8s.io: " + ctx.Err().Error()
	}
	svc, gerr := dyn.Resource(apiServiceGVR).Get(ctx, MetricsAPIService, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(gerr) || (gerr != nil && apierrors.IsNotFound(err)):
		return fmt.Sprintf("the metrics API is not installed (no APIService %s): install metrics-server", MetricsAPIService)
	case gerr == nil:
		conds, _, _ := unstructured.NestedSlice(svc.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Available" && m["status"] != "True" {
				return fmt.Sprintf("APIService %s is not available (%v): %v", MetricsAPIService, m["reason"], m["message"])
			}
		}
	}
	return "metrics.k8s.io: " + firstLine(err.Error())
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

// kubeFatal is true for errors a watch cannot recover from by retrying.
func kubeFatal(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}
