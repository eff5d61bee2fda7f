package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

const podsWhat = "pods.metrics.k8s.io in this namespace"

func TestExplainMetricsError(t *testing.T) {
	scheme := runtime.NewScheme()
	gvrs := map[schema.GroupVersionResource]string{APIServiceGVR: "APIServiceList"}
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}, "")
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, gvrs)
	if got := ExplainMetricsError(context.Background(), dyn, notFound, podsWhat); !strings.Contains(got, "not installed") {
		t.Errorf("missing APIService: %q", got)
	}
	svc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": map[string]any{"name": MetricsAPIService},
		"status": map[string]any{"conditions": []any{map[string]any{"type": "Available", "status": "False", "reason": "MissingEndpoints", "message": "endpoints for service/metrics-server in kube-system have no addresses"}}},
	}}
	dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, gvrs, svc)
	got := ExplainMetricsError(context.Background(), dyn, apierrors.NewServiceUnavailable("the server is currently unable to handle the request"), podsWhat)
	if !strings.Contains(got, "not available (MissingEndpoints)") {
		t.Errorf("unavailable APIService: %q", got)
	}
	if got := ExplainMetricsError(context.Background(), dyn, apierrors.NewForbidden(schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}, "", errors.New("x")), podsWhat); !strings.Contains(got, "not allowed") {
		t.Errorf("forbidden: %q", got)
	}
}
