package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

const ingressNginxController = "k8s.io/ingress-nginx"

func (r *runner) checkPrerequisites(context.Context) {
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
