// Package scale implements `kubectl piyasa scale`: manual scaling of the
// app's components that keeps the workers' sharding (TOTAL_WORKERS) equal to
// their replica count, tuning of the HorizontalPodAutoscalers, and a live view
// of replicas, HPA ranges, CPU and memory against targets and the last scale
// event.
package scale

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// RestartedAtAnnotation is the pod template annotation `kubectl rollout
// restart` sets; scale worker sets it too so that every worker restarts and
// reads the new TOTAL_WORKERS.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// scalableComponent resolves a component name given by the user and checks
// that it may be scaled. Errors are exit-2 usage errors.
func scalableComponent(name string) (app.Component, error) {
	c, err := app.LookupComponent(name)
	if err != nil {
		return c, cli.Usagef("%v", err).WithHint("scalable components: %s", strings.Join(scalableNames(), ", "))
	}
	if !c.Scalable {
		return c, cli.Usagef("%s cannot be scaled: it holds data and runs one replica", name).
			WithHint("scalable components: %s", strings.Join(scalableNames(), ", "))
	}
	return c, nil
}

func scalableNames() []string {
	var names []string
	for _, c := range app.Components {
		if c.Scalable {
			names = append(names, c.Name)
		}
	}
	return names
}

// parseReplicas parses a replica count typed by the user.
func parseReplicas(s string) (int32, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, cli.Usagef("invalid replica count %q: use a whole number >= 0", s)
	}
	if n < 0 {
		return 0, cli.Usagef("invalid replica count %d: use a whole number >= 0", n)
	}
	return int32(n), nil
}

// workloadRef names a component's workload in kubectl's kind/name form.
func workloadRef(env app.Environment, c app.Component) string {
	return strings.ToLower(c.Kind) + "/" + env.WorkloadName(c)
}

// findHPA returns the HorizontalPodAutoscaler whose scaleTargetRef is the
// component's workload (nil when none), from one LIST of the namespace's HPAs.
func findHPA(ctx context.Context, cs kubernetes.Interface, ns string, env app.Environment, c app.Component) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	list, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return hpaFor(list.Items, env.WorkloadName(c), c.Kind), nil
}

func hpaFor(hpas []autoscalingv2.HorizontalPodAutoscaler, name, kind string) *autoscalingv2.HorizontalPodAutoscaler {
	for i := range hpas {
		ref := hpas[i].Spec.ScaleTargetRef
		if ref.Name == name && ref.Kind == kind {
			return &hpas[i]
		}
	}
	return nil
}

func hpaMin(h *autoscalingv2.HorizontalPodAutoscaler) int32 {
	if h.Spec.MinReplicas == nil {
		return 1
	}
	return *h.Spec.MinReplicas
}

// notFound turns a NotFound error for a component's workload into a clear exit-1 error.
func notFound(err error, what, ns string) error {
	if apierrors.IsNotFound(err) {
		return cli.Failedf("%s not found in namespace %s", what, ns).
			WithHint("deploy the app first (kubectl piyasa deploy), or select its namespace and environment with -n and --env")
	}
	return err
}

// workersHPAError explains why the workers are never autoscaled.
func workersHPAError(reason string) *cli.Error {
	return cli.Usagef("%s: each worker owns shard WORKER_ID of TOTAL_WORKERS, and an HPA changes the replica count without changing TOTAL_WORKERS, so shards would get no owner or two", reason).
		WithHint("scale the workers with: kubectl piyasa scale worker N (sets TOTAL_WORKERS and the replicas together)")
}

func plural(n int32, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
