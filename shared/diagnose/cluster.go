package diagnose

import (
	"fmt"
	"sort"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

const ingressNginxController = "k8s.io/ingress-nginx"

func hpaComponent(h autoscalingv2.HorizontalPodAutoscaler, r *runner) string {
	for _, w := range r.workloads() {
		if w.Kind == h.Spec.ScaleTargetRef.Kind && w.Name == h.Spec.ScaleTargetRef.Name {
			return w.Component
		}
	}
	return "app"
}

func (r *runner) checkHPAs() {
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

func ingressClassName(ing networkingv1.Ingress) string {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName
	}
	return ing.Annotations["kubernetes.io/ingress.class"]
}

func (r *runner) checkIngresses() {
	r501 := r.begin("PIY501", KindIngresses, KindIngressClasses)
	r502 := r.begin("PIY502", KindIngresses, KindIngressClasses)
	r503 := r.begin("PIY503", KindIngresses, KindServices)
	r504 := r.begin("PIY504", KindIngresses, KindSecrets)
	r505 := r.begin("PIY505", KindIngresses, KindSecrets)
	r506 := r.begin("PIY506", KindIngresses, KindSecrets)
	r904 := r.begin("PIY904", KindIngresses)
	for _, ing := range r.s.Ingresses {
		obj := Object{Kind: "Ingress", Name: ing.Name}
		class := ingressClassName(ing)
		if len(r.s.IngressClasses) == 0 {
			if r501 {
				r.add("PIY501", "app", obj, fmt.Sprintf("Ingress %s (class %q): the cluster has no IngressClass, so no controller serves it", ing.Name, class), nil, "")
			}
		} else if r502 {
			found, def := false, false
			var names []string
			for _, ic := range r.s.IngressClasses {
				names = append(names, ic.Name)
				if ic.Name == class {
					found = true
				}
				if ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
					def = true
				}
			}
			if (class != "" && !found) || (class == "" && !def) {
				r.add("PIY502", "app", obj, fmt.Sprintf("Ingress %s: class %q matches no IngressClass (have: %s)", ing.Name, class, strings.Join(names, ", ")), nil, "")
			}
		}
		if r503 {
			var backends []networkingv1.IngressBackend
			if ing.Spec.DefaultBackend != nil {
				backends = append(backends, *ing.Spec.DefaultBackend)
			}
			for _, rule := range ing.Spec.Rules {
				if rule.HTTP == nil {
					continue
				}
				for _, p := range rule.HTTP.Paths {
					backends = append(backends, p.Backend)
				}
			}
			for _, b := range backends {
				if b.Service == nil {
					continue
				}
				svc, ok := r.s.Services[b.Service.Name]
				if !ok {
					r.add("PIY503", "app", obj, fmt.Sprintf("Ingress %s: backend Service %s not found", ing.Name, b.Service.Name), nil, "")
					continue
				}
				portOK := false
				for _, sp := range svc.Spec.Ports {
					if (b.Service.Port.Name != "" && sp.Name == b.Service.Port.Name) || (b.Service.Port.Name == "" && sp.Port == b.Service.Port.Number) {
						portOK = true
					}
				}
				if !portOK {
					port := b.Service.Port.Name
					if port == "" {
						port = fmt.Sprint(b.Service.Port.Number)
					}
					r.add("PIY503", "app", obj, fmt.Sprintf("Ingress %s: Service %s has no port %s", ing.Name, b.Service.Name, port), nil, "")
				}
			}
		}
		for _, tls := range ing.Spec.TLS {
			if tls.SecretName == "" {
				continue
			}
			sec, ok := r.s.Secrets[tls.SecretName]
			tobj := Object{Kind: "Secret", Name: tls.SecretName}
			switch {
			case !ok:
				if r504 {
					r.add("PIY504", "app", tobj, fmt.Sprintf("Ingress %s: TLS secret %s not found", ing.Name, tls.SecretName), nil,
						fmt.Sprintf("kubectl describe certificate -n %s (cert-manager issues %s)", r.s.Namespace, tls.SecretName))
				}
			case sec.CertErr != "":
				if r505 {
					r.add("PIY505", "app", tobj, fmt.Sprintf("TLS secret %s: %s", tls.SecretName, sec.CertErr), nil, "")
				}
			case !sec.CertNotAfter.IsZero() && sec.CertNotAfter.Before(r.s.Now):
				if r505 {
					r.add("PIY505", "app", tobj, fmt.Sprintf("TLS certificate in %s expired on %s", tls.SecretName, sec.CertNotAfter.UTC().Format(time.RFC3339)),
						[]string{"notAfter: " + sec.CertNotAfter.UTC().Format(time.RFC3339)},
						fmt.Sprintf("kubectl delete secret %s -n %s (cert-manager reissues it; guide: Certificate Renewal)", tls.SecretName, r.s.Namespace))
				}
			case !sec.CertNotAfter.IsZero() && sec.CertNotAfter.Sub(r.s.Now) < 14*24*time.Hour:
				if r506 {
					days := int(sec.CertNotAfter.Sub(r.s.Now).Hours() / 24)
					r.add("PIY506", "app", tobj, fmt.Sprintf("TLS certificate in %s expires in %d days", tls.SecretName, days),
						[]string{"notAfter: " + sec.CertNotAfter.UTC().Format(time.RFC3339)}, "")
				}
			}
		}
		if r904 {
			origin := strings.TrimSpace(ing.Annotations["nginx.ingress.kubernetes.io/cors-allow-origin"])
			if ing.Annotations["nginx.ingress.kubernetes.io/enable-cors"] == "true" && (origin == "" || origin == "*" || strings.Contains(origin, "*")) {
				shown := origin
				if shown == "" {
					shown = "(unset: * by default)"
				}
				r.add("PIY904", "app", obj, fmt.Sprintf("Ingress %s allows CORS from any origin", ing.Name),
					[]string{"cors-allow-origin: " + shown}, "")
			}
		}
	}
	if r.begin("PIY507", KindCertificates) {
		for _, c := range r.s.Certificates {
			ready, msg := certReady(c)
			if !ready {
				r.add("PIY507", "app", Object{Kind: "Certificate", Name: c.GetName()}, fmt.Sprintf("Certificate %s is not Ready: %s", c.GetName(), truncate(msg, 200)), nil,
					fmt.Sprintf("kubectl describe certificate %s -n %s", c.GetName(), r.s.Namespace))
			}
		}
	}
}

func certReady(u unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, ci := range conds {
		cm, _ := ci.(map[string]any)
		if cm["type"] == "Ready" {
			msg, _ := cm["message"].(string)
			return cm["status"] == "True", msg
		}
	}
	return false, "no Ready condition yet"
}

func (r *runner) checkStorage() {
	r601 := r.begin("PIY601", KindPVCs)
	r602 := r.begin("PIY602", KindPVCs)
	r603 := r.begin("PIY603", KindPVCs, KindStorageClasses)
	for _, pvc := range r.s.PVCs {
		obj := Object{Kind: "PersistentVolumeClaim", Name: pvc.Name}
		comp := "app"
		switch {
		case pvc.Name == app.PostgresPVC || strings.HasSuffix(pvc.Name, "-"+app.PostgresPVC) || pvc.Name == r.s.Env.ObjectName(app.PostgresPVC):
			comp = app.Postgres
		case strings.HasPrefix(pvc.Name, app.RedisPVC+"-"):
			comp = app.Redis
		}
		var ev []string
		for _, e := range r.s.Events {
			if e.Kind == "PersistentVolumeClaim" && e.Name == pvc.Name {
				ev = append(ev, fmt.Sprintf("event %s (x%d): %s", e.Reason, e.Count, truncate(e.Message, 200)))
			}
		}
		class := ""
		if pvc.Spec.StorageClassName != nil {
			class = *pvc.Spec.StorageClassName
		}
		switch pvc.Status.Phase {
		case corev1.ClaimPending:
			if r601 {
				why := "no matching PersistentVolume and no provisioner"
				if class != "" {
					if _, ok := r.s.StorageClasses[class]; !ok {
						why = fmt.Sprintf("StorageClass %s does not exist", class)
					} else {
						why = fmt.Sprintf("StorageClass %s has not provisioned a volume", class)
					}
				} else if !hasDefaultClass(r) {
					why = "no storageClassName, no default StorageClass and no matching PersistentVolume"
				}
				r.add("PIY601", comp, obj, fmt.Sprintf("PVC %s is Pending: %s", pvc.Name, why), ev,
					fmt.Sprintf("kubectl describe pvc %s -n %s; set a default StorageClass or create a matching PersistentVolume", pvc.Name, r.s.Namespace))
			}
		case corev1.ClaimLost:
			if r602 {
				r.add("PIY602", comp, obj, fmt.Sprintf("PVC %s is Lost: its PersistentVolume %s is gone", pvc.Name, or(pvc.Spec.VolumeName, "(unnamed)")), ev,
					fmt.Sprintf("kubectl piyasa backup restore -n %s", r.s.Namespace))
			}
		}
		if r603 && comp != "app" {
			if class == "" {
				r.add("PIY603", comp, obj, fmt.Sprintf("PVC %s has no StorageClass: it cannot be expanded", pvc.Name), nil, "")
			} else if sc, ok := r.s.StorageClasses[class]; ok && !isTrue(sc.AllowVolumeExpansion) {
				r.add("PIY603", comp, obj, fmt.Sprintf("StorageClass %s of PVC %s does not allow volume expansion", class, pvc.Name), nil, "")
			}
		}
	}
}

func hasDefaultClass(r *runner) bool {
	for _, sc := range r.s.StorageClasses {
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			return true
		}
	}
	return false
}

func (r *runner) checkPrerequisites() {
	if r.begin("PIY801", KindVersion) && r.s.ServerMinor > 0 && r.s.ServerMinor < 24 {
		r.add("PIY801", "cluster", Object{Kind: "Cluster", Name: "version"}, fmt.Sprintf("server version %s is older than 1.24", r.s.ServerVersion), nil, "")
	}
	if r.begin("PIY802", KindIngressClasses) {
		found := false
		for _, ic := range r.s.IngressClasses {
			if ic.Spec.Controller == ingressNginxController {
				found = true
			}
		}
		if !found {
			r.add("PIY802", "cluster", Object{Kind: "IngressClass", Name: "nginx"}, "no IngressClass with controller k8s.io/ingress-nginx: ingress-nginx is not installed", nil, "")
		}
	}
	if r.begin("PIY803", KindAPIServices) && (!r.s.Metrics.Present || !r.s.Metrics.Available) {
		msg := "APIService v1beta1.metrics.k8s.io not registered"
		if r.s.Metrics.Present {
			msg = "APIService v1beta1.metrics.k8s.io not Available: " + r.s.Metrics.Message
		}
		r.add("PIY803", "cluster", Object{Kind: "APIService", Name: "v1beta1.metrics.k8s.io"}, msg, nil, "")
	}
	if r.begin("PIY804", KindIngresses, KindCertificates) && !r.s.CertManager {
		tls := r.s.Env.TLS
		for _, ing := range r.s.Ingresses {
			if len(ing.Spec.TLS) > 0 {
				tls = true
			}
		}
		if tls && len(r.s.Ingresses) > 0 {
			r.add("PIY804", "cluster", Object{Kind: "CustomResourceDefinition", Name: "certificates.cert-manager.io"}, "the Ingress uses TLS but cert-manager is not installed", nil, "")
		}
	}
	if r.begin("PIY805", KindNodes) {
		ready := 0
		var small []string
		for _, n := range r.s.Nodes {
			if !n.Ready {
				continue
			}
			ready++
			if n.CPUMilli < 4000 || n.MemoryB < 7<<30 {
				small = append(small, fmt.Sprintf("%s (%dm CPU, %dMi)", n.Name, n.CPUMilli, n.MemoryB>>20))
			}
		}
		var ev []string
		if ready < 3 {
			ev = append(ev, fmt.Sprintf("%d ready nodes (guide: 3)", ready))
		}
		if len(small) > 0 {
			sort.Strings(small)
			if len(small) > 5 {
				small = append(small[:5], fmt.Sprintf("and %d more", len(small)-5))
			}
			ev = append(ev, "below 4 CPU / 8 GB: "+strings.Join(small, ", "))
		}
		if len(ev) > 0 {
			r.add("PIY805", "cluster", Object{Kind: "Cluster", Name: "nodes"}, "the cluster is below the guide's minimum: "+strings.Join(ev, "; "), nil, "")
		}
	}
}

func (r *runner) checkEvents() {
	if !r.begin("PIY950", KindEvents) {
		return
	}
	evs := append([]EventGroup{}, r.s.Events...)
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].Count != evs[j].Count {
			return evs[i].Count > evs[j].Count
		}
		return evs[i].Kind+evs[i].Name+evs[i].Reason < evs[j].Kind+evs[j].Name+evs[j].Reason
	})
	// objects already reported by another check: their events are evidence there
	reported := map[string]bool{}
	for _, f := range r.out {
		reported[f.Object.Kind+"/"+f.Object.Name] = true
	}
	kept := evs[:0]
	for _, e := range evs {
		if !reported[e.Kind+"/"+e.Name] {
			kept = append(kept, e)
		}
	}
	evs = kept
	const maxGroups = 25
	for i, e := range evs {
		if i == maxGroups {
			r.add("PIY950", "app", Object{Kind: "Event", Name: "..."}, fmt.Sprintf("%d more groups of warning events", len(evs)-maxGroups), nil, "")
			break
		}
		comp := "app"
		if e.Kind == "Pod" {
			for _, p := range r.s.Pods {
				if p.Name == e.Name && p.Component != "" {
					comp = p.Component
				}
			}
		}
		r.add("PIY950", comp, Object{Kind: e.Kind, Name: e.Name}, fmt.Sprintf("%s x%d: %s", e.Reason, e.Count, truncate(e.Message, 200)),
			[]string{"last seen " + e.Last.UTC().Format(time.RFC3339)},
			fmt.Sprintf("kubectl get events -n %s --field-selector type=Warning,involvedObject.name=%s", r.s.Namespace, e.Name))
	}
}
