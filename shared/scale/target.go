// Package scale implements `kubectl piyasa scale`: manual scaling of the
// app's components that keeps the workers' sharding (TOTAL_WORKERS) equal to
// their replica count, tuning of the HorizontalPodAutoscalers, and a live view
// of replicas, HPA ranges, CPU and memory against targets and the last scale
// event.
package scale

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// scalableComponent resolves a component name given by the user and checks
// that it may be scaled. Errors are exit-2 usage errors. env and ns name the
// workload in the hint for a component that runs exactly one replica.
func scalableComponent(name string, env app.Environment, ns string) (app.Component, error) {
	c, err := app.LookupComponent(name)
	if err != nil {
		return c, cli.Usagef("%v", err).WithHint("scalable components: %s", strings.Join(scalableNames(), ", "))
	}
	if !c.Scalable {
		// The suite does not scale a component that holds data; if it was
		// scaled to 0 by hand, kubectl brings it back to its one replica.
		return c, cli.Usagef("%s cannot be scaled: it holds data and runs exactly one replica (scalable: %s)", name, strings.Join(scalableNames(), ", ")).
			WithHint("if %s is at 0 replicas, bring it back with: kubectl scale %s --replicas=1 -n %s", name, workloadRef(env, c), ns)
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

// parseReplicas parses a replica count typed by the user (a whole number
// from 0 to 2147483647, the range of spec.replicas).
func parseReplicas(s string) (int32, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if errors.Is(err, strconv.ErrRange) {
		if strings.HasPrefix(s, "-") {
			return 0, cli.Usagef("invalid replica count %s: use a whole number >= 0", s)
		}
		return 0, cli.Usagef("invalid replica count %s: too big, the most a workload can have is %d", s, math.MaxInt32)
	}
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

// workersHPAError explains why the workers are never autoscaled. The caller
// adds the hint: the command that is accepted in its state.
func workersHPAError(reason string) *cli.Error {
	return cli.Usagef("%s: each worker owns shard WORKER_ID of TOTAL_WORKERS, and an HPA changes the replica count without changing TOTAL_WORKERS, so shards would get no owner or two", reason)
}

func plural(n int32, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
