package diagnose

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

func (r *runner) checkSecurity(context.Context) {
	if r.begin("PIY901", KindNetworkPolicies) {
		switch {
		case len(r.s.NetworkPolicies) == 0:
			r.add("PIY901", "app", Object{Kind: "Namespace", Name: r.s.Namespace}, "the namespace has no NetworkPolicy: every pod can reach PostgreSQL and Redis", nil, "")
		default:
			deny := false
			for _, np := range r.s.NetworkPolicies {
				if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 && len(np.Spec.Ingress) == 0 {
					for _, t := range np.Spec.PolicyTypes {
						if t == "Ingress" {
							deny = true
						}
					}
				}
			}
			if !deny {
				r.add("PIY901", "app", Object{Kind: "Namespace", Name: r.s.Namespace}, fmt.Sprintf("%s but none denies ingress by default", cli.Plural(len(r.s.NetworkPolicies), "NetworkPolicy", "NetworkPolicies")), nil, "")
			}
		}
	}
	if r.begin("PIY904", KindIngresses) {
		for _, ing := range r.s.Ingresses {
			origin := strings.TrimSpace(ing.Annotations["nginx.ingress.kubernetes.io/cors-allow-origin"])
			if ing.Annotations["nginx.ingress.kubernetes.io/enable-cors"] == "true" && (origin == "" || origin == "*" || strings.Contains(origin, "*")) {
				shown := origin
				if shown == "" {
					shown = "(unset: * by default)"
				}
				r.add("PIY904", "app", Object{Kind: "Ingress", Name: ing.Name}, fmt.Sprintf("Ingress %s allows CORS from any origin", ing.Name),
					[]string{"cors-allow-origin: " + shown}, "")
			}
		}
	}
	ws := r.appWorkloads()
	if r.begin("PIY902", KindDeployments, KindStatefulSets) {
		for _, w := range ws {
			if why := restrictedGaps(&w.Template.Spec); len(why) > 0 {
				r.add("PIY902", w.Component, w.obj(), fmt.Sprintf("pod template is not restricted: %s", strings.Join(why, "; ")), why, "")
			}
		}
	}
	if r.begin("PIY903", KindDeployments, KindStatefulSets, KindServiceAccounts) {
		for _, w := range ws {
			spec := w.Template.Spec
			mounted := true
			why := "neither the pod nor its ServiceAccount sets automountServiceAccountToken: false"
			sa := spec.ServiceAccountName
			if sa == "" {
				sa = "default"
			}
			if spec.AutomountServiceAccountToken != nil {
				mounted = *spec.AutomountServiceAccountToken
				why = "the pod sets automountServiceAccountToken: true"
			} else if v, ok := r.s.ServiceAccounts[sa]; ok && v != nil {
				mounted = *v
				why = "ServiceAccount " + sa + " sets automountServiceAccountToken: true"
			}
			if mounted {
				r.add("PIY903", w.Component, w.obj(), fmt.Sprintf("pods mount a service-account token (ServiceAccount %s): %s", sa, why), nil, "")
			}
		}
	}
	if r.begin("PIY905", KindDeployments, KindStatefulSets, KindPDBs) {
		for _, w := range ws {
			comp, _ := app.LookupComponent(w.Component)
			if !comp.Scalable {
				continue
			}
			covered := false
			for _, pdb := range r.s.PDBs {
				sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				if err == nil && pdb.Spec.Selector != nil && !sel.Empty() && sel.Matches(labels.Set(w.Template.Labels)) {
					covered = true
				}
			}
			if !covered {
				r.add("PIY905", w.Component, w.obj(), fmt.Sprintf("no PodDisruptionBudget selects the pods of %s %s", w.Kind, w.Name), nil, "")
			}
		}
	}
}

// restrictedGaps lists what the pod spec lacks of the restricted Pod Security profile.
func restrictedGaps(spec *corev1.PodSpec) []string {
	var gaps []string
	psc := spec.SecurityContext
	podNonRoot := psc != nil && isTrue(psc.RunAsNonRoot)
	podSeccomp := psc != nil && psc.SeccompProfile != nil && (psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault || psc.SeccompProfile.Type == corev1.SeccompProfileTypeLocalhost)
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		gaps = append(gaps, "pod runAsUser: 0")
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		sc := c.SecurityContext
		var g []string
		if !podNonRoot && (sc == nil || !isTrue(sc.RunAsNonRoot)) {
			g = append(g, "runAsNonRoot not true")
		}
		if sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			g = append(g, "runAsUser: 0")
		}
		if !podSeccomp && (sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined) {
			g = append(g, "no seccompProfile RuntimeDefault")
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			g = append(g, "allowPrivilegeEscalation not false")
		}
		if sc == nil || sc.Capabilities == nil || !dropsAll(sc.Capabilities.Drop) {
			g = append(g, "capabilities do not drop ALL")
		}
		if sc != nil && isTrue(sc.Privileged) {
			g = append(g, "privileged")
		}
		if len(g) > 0 {
			gaps = append(gaps, "container "+c.Name+": "+strings.Join(g, ", "))
		}
	}
	return gaps
}

func dropsAll(caps []corev1.Capability) bool {
	for _, c := range caps {
		if strings.EqualFold(string(c), "ALL") {
			return true
		}
	}
	return false
}
