package scale

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/kube/metricsapi"
)

// MetricsAPIService is the APIService that serves metrics.k8s.io (metrics-server).
const MetricsAPIService = kube.MetricsAPIService

// podMetrics lists the namespace's pod metrics (one LIST). When the metrics
// API does not answer, it returns no metrics and a one-line reason that
// explains the <unknown> figures.
func podMetrics(ctx context.Context, cfg *rest.Config, dyn dynamic.Interface, ns string) (map[string]*metricsv1beta1.PodMetrics, string) {
	mc, err := metricsapi.MetricsClient(cfg)
	if err != nil {
		return nil, "metrics.k8s.io: " + err.Error()
	}
	return metricsapi.PodMetrics(ctx, mc, dyn, ns)
}

// kubeFatal is true for errors a watch cannot recover from by retrying.
func kubeFatal(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}
