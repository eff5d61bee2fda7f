package diagnose

import (
	"context"
	"fmt"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func hpaComponent(h autoscalingv2.HorizontalPodAutoscaler, r *runner) string {
	for _, w := range r.workloads() {
		if w.Kind == h.Spec.ScaleTargetRef.Kind && w.Name == h.Spec.ScaleTargetRef.Name {
			return w.Component
		}
	}
	return "app"
}

func (r *runner) checkHPAs(context.Context) {
	r410 := r.begin("PIY410", KindHPAs, KindAPIServices)
	r411 := r.begin("PIY411", KindHPAs, KindDeployments, KindStatefulSets)
	r412 := r.begin("PIY412", KindHPAs)
	r413 := r.begin("PIY413", KindHPAs)
	r414 := r.begin("PIY414", KindHPAs, KindDeployments, KindStatefulSets)
	r415 := r.begin("PIY415", KindHPAs)
	for _, h := range r.s.HPAs {
		obj := Object{Kind: "HorizontalPodAutoscaler", Name: h.Name}
		comp := hpaComponent(h, r)
		ref := h.Spec.ScaleTargetRef
		var target *workload
		for _, w := range r.workloads() {
			if w.Kind == ref.Kind && w.Name == ref.Name {
				wc := w
				target = &wc
			}
		}
		resMetrics := map[corev1.ResourceName]bool{}
		for _, m := range h.Spec.Metrics {
			if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
				resMetrics[m.Resource.Name] = true
			}
			if m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil && m.ContainerResource.Target.Type == autoscalingv2.UtilizationMetricType {
				resMetrics[m.ContainerResource.Name] = true
			}
		}
		if r410 && len(resMetrics) > 0 && (!r.s.Metrics.Present || !r.s.Metrics.Available) {
			msg := "metrics.k8s.io APIService v1beta1.metrics.k8s.io is not registered: metrics-server is not installed"
			if r.s.Metrics.Present {
				msg = "metrics.k8s.io APIService is not Available: " + r.s.Metrics.Message
			}
			r.add("PIY410", comp, obj, fmt.Sprintf("HPA %s shows <unknown>: %s", h.Name, msg), nil, "")
		}
		if r414 && target == nil {
			r.add("PIY414", comp, obj, fmt.Sprintf("HPA %s targets %s/%s, which does not exist", h.Name, ref.Kind, ref.Name), nil,
				fmt.Sprintf("kubectl delete hpa %s -n %s, or fix spec.scaleTargetRef", h.Name, r.s.Namespace))
		}
		if r411 && target != nil {
			for res := range resMetrics {
				var without []string
				for _, c := range target.Template.Spec.Containers {
					if _, ok := c.Resources.Requests[res]; !ok {
						without = append(without, c.Name)
					}
				}
				if len(without) > 0 {
					r.add("PIY411", comp, obj, fmt.Sprintf("HPA %s scales on %s utilization but container(s) %s of %s/%s request no %s", h.Name, res, strings.Join(without, ","), ref.Kind, ref.Name, res),
						[]string{fmt.Sprintf("metric: Resource %s Utilization", res)}, "")
				}
			}
		}
		min := replicas(h.Spec.MinReplicas)
		if r413 && min > h.Spec.MaxReplicas {
			r.add("PIY413", comp, obj, fmt.Sprintf("HPA %s: minReplicas %d > maxReplicas %d", h.Name, min, h.Spec.MaxReplicas), nil, hpaFix(comp, h.Name, r.s.Namespace, fmt.Sprintf("--min %d --max %d", h.Spec.MaxReplicas, h.Spec.MaxReplicas)))
		}
		for _, c := range h.Status.Conditions {
			if r412 && (c.Type == autoscalingv2.AbleToScale || c.Type == autoscalingv2.ScalingActive) && c.Status == corev1.ConditionFalse {
				r.add("PIY412", comp, obj, fmt.Sprintf("HPA %s: %s=False (%s): %s", h.Name, c.Type, c.Reason, truncate(c.Message, 200)),
					[]string{fmt.Sprintf("condition %s=False since %s", c.Type, c.LastTransitionTime.UTC().Format(time.RFC3339))},
					fmt.Sprintf("kubectl describe hpa %s -n %s", h.Name, r.s.Namespace))
			}
			if r415 && c.Type == autoscalingv2.ScalingLimited && c.Status == corev1.ConditionTrue && h.Status.CurrentReplicas >= h.Spec.MaxReplicas &&
				r.s.Now.Sub(c.LastTransitionTime.Time) > 30*time.Minute {
				r.add("PIY415", comp, obj, fmt.Sprintf("HPA %s at maxReplicas %d for %s", h.Name, h.Spec.MaxReplicas, r.s.Now.Sub(c.LastTransitionTime.Time).Round(time.Minute)),
					[]string{fmt.Sprintf("ScalingLimited=True (%s)", c.Reason)}, hpaFix(comp, h.Name, r.s.Namespace, fmt.Sprintf("--max %d", 2*h.Spec.MaxReplicas)))
			}
		}
	}
}

// hpaFix names `kubectl piyasa scale hpa` for the app's scalable components, else kubectl patch.
func hpaFix(comp, hpa, ns, args string) string {
	if comp == app.API || comp == app.Frontend {
		return fmt.Sprintf("kubectl piyasa scale hpa %s %s -n %s", comp, args, ns)
	}
	return fmt.Sprintf("kubectl edit hpa %s -n %s (set %s)", hpa, ns, args)
}
