package kube

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// MetricsAPIService is the APIService that serves metrics.k8s.io (metrics-server).
const MetricsAPIService = "v1beta1.metrics.k8s.io"

// MetricsAPI says whether metrics.k8s.io answered, and why not (the
// metricsAPI field of the documents of scale status and diagnose top).
type MetricsAPI struct {
	Available bool   `json:"available"`
	Message   string `json:"message,omitempty"`
}

// NoMetricsYet explains a running pod that metrics.k8s.io does not report.
const NoMetricsYet = "metrics-server reports a pod about a minute after it starts"

// APIServiceGVR is the resource of APIServices (apiregistration.k8s.io).
var APIServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// ExplainMetricsError says why a metrics.k8s.io request failed, from the
// APIService's Available condition when it can be read; what names the
// resource for a refused right ("pods.metrics.k8s.io in this namespace").
func ExplainMetricsError(ctx context.Context, dyn dynamic.Interface, err error, what string) string {
	if apierrors.IsForbidden(err) {
		return "not allowed to list " + what + " (RBAC)"
	}
	if ctx.Err() != nil {
		return "metrics.k8s.io: " + ctx.Err().Error()
	}
	svc, gerr := dyn.Resource(APIServiceGVR).Get(ctx, MetricsAPIService, metav1.GetOptions{})
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
	msg := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return "metrics.k8s.io: " + msg
}

// FormatQuantity prints CPU in millicores and memory in Mi, as kubectl top does.
func FormatQuantity(res corev1.ResourceName, q resource.Quantity) string {
	if res == corev1.ResourceCPU {
		return fmt.Sprintf("%dm", q.MilliValue())
	}
	return fmt.Sprintf("%dMi", q.Value()/(1024*1024))
}
