package diagnose

import (
	"context"
	"fmt"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func ingressClassName(ing networkingv1.Ingress) string {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName
	}
	return ing.Annotations["kubernetes.io/ingress.class"]
}

// checkIngresses checks every Ingress's class, backends and TLS secrets,
// then the cert-manager Certificates.
func (r *runner) checkIngresses(context.Context) {
	r501 := r.begin("PIY501", KindIngresses, KindIngressClasses)
	r502 := r.begin("PIY502", KindIngresses, KindIngressClasses)
	r503 := r.begin("PIY503", KindIngresses, KindServices)
	r504 := r.begin("PIY504", KindIngresses, KindSecrets)
	r505 := r.begin("PIY505", KindIngresses, KindSecrets)
	r506 := r.begin("PIY506", KindIngresses, KindSecrets)
	for _, ing := range r.s.Ingresses {
		obj := Object{Kind: "Ingress", Name: ing.Name}
		r.checkIngressClass(ing, obj, r501, r502)
		if r503 {
			r.checkIngressBackends(ing, obj)
		}
		for _, tls := range ing.Spec.TLS {
			r.checkIngressTLS(ing, tls, r504, r505, r506)
		}
	}
	if r.begin("PIY507", KindCertificates) {
		r.checkCertificates()
	}
}

// checkIngressClass reports an Ingress no IngressClass serves (PIY501, PIY502).
func (r *runner) checkIngressClass(ing networkingv1.Ingress, obj Object, r501, r502 bool) {
	class := ingressClassName(ing)
	if len(r.s.IngressClasses) == 0 {
		if r501 {
			r.add("PIY501", "app", obj, fmt.Sprintf("Ingress %s (class %q): the cluster has no IngressClass, so no controller serves it", ing.Name, class), nil, "")
		}
		return
	}
	if !r502 {
		return
	}
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

// checkIngressBackends reports backend Services of an Ingress that are
// missing or lack the port (PIY503).
func (r *runner) checkIngressBackends(ing networkingv1.Ingress, obj Object) {
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

// checkIngressTLS reports a TLS secret of an Ingress that is missing
// (PIY504), unreadable or expired (PIY505), or expiring soon (PIY506).
func (r *runner) checkIngressTLS(ing networkingv1.Ingress, tls networkingv1.IngressTLS, r504, r505, r506 bool) {
	if tls.SecretName == "" {
		return
	}
	sec, ok := r.s.Secrets[tls.SecretName]
	tobj := Object{Kind: "Secret", Name: tls.SecretName}
	switch {
	case !ok:
		if r504 {
			fix := fmt.Sprintf("kubectl describe certificate -n %s (cert-manager issues %s)", r.s.Namespace, tls.SecretName)
			if !r.s.CertManager {
				fix = fmt.Sprintf("cert-manager is not installed, so nobody issues it: install cert-manager (guide, Required Add-ons), or create it: kubectl create secret tls %s --cert=tls.crt --key=tls.key -n %s",
					tls.SecretName, r.s.Namespace)
			}
			r.add("PIY504", "app", tobj, fmt.Sprintf("Ingress %s: TLS secret %s not found", ing.Name, tls.SecretName), nil, fix)
		}
	case sec.CertErr != "":
		if r505 {
			r.add("PIY505", "app", tobj, fmt.Sprintf("TLS secret %s: %s", tls.SecretName, sec.CertErr), nil, r.renewFix(tls.SecretName))
		}
	case !sec.CertNotAfter.IsZero() && sec.CertNotAfter.Before(r.s.Now):
		if r505 {
			r.add("PIY505", "app", tobj, fmt.Sprintf("TLS certificate in %s expired on %s", tls.SecretName, sec.CertNotAfter.UTC().Format(time.RFC3339)),
				[]string{"notAfter: " + sec.CertNotAfter.UTC().Format(time.RFC3339)},
				r.renewFix(tls.SecretName))
		}
	case !sec.CertNotAfter.IsZero() && sec.CertNotAfter.Sub(r.s.Now) < 14*24*time.Hour:
		if r506 {
			days := int(sec.CertNotAfter.Sub(r.s.Now).Hours() / 24)
			r.add("PIY506", "app", tobj, fmt.Sprintf("TLS certificate in %s expires in %d days", tls.SecretName, days),
				[]string{"notAfter: " + sec.CertNotAfter.UTC().Format(time.RFC3339)}, "")
		}
	}
}

// checkCertificates reports the cert-manager Certificates that are not Ready (PIY507).
func (r *runner) checkCertificates() {
	for _, c := range r.s.Certificates {
		ready, msg := certReady(c)
		if !ready {
			r.add("PIY507", "app", Object{Kind: "Certificate", Name: c.GetName()}, fmt.Sprintf("Certificate %s is not Ready: %s", c.GetName(), truncate(r.mask(msg), 200)), nil,
				fmt.Sprintf("kubectl describe certificate %s -n %s", c.GetName(), r.s.Namespace))
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

// renewFix renews the certificate of a TLS Secret: cert-manager reissues a
// deleted Secret; without it the Secret is replaced by hand.
func (r *runner) renewFix(secret string) string {
	if r.s.CertManager {
		return fmt.Sprintf("kubectl delete secret %s -n %s (cert-manager reissues it; guide: Certificate Renewal)", secret, r.s.Namespace)
	}
	return fmt.Sprintf("replace it with a valid certificate: kubectl create secret tls %s --cert=tls.crt --key=tls.key -n %s --dry-run=client -o yaml | kubectl apply -f -", secret, r.s.Namespace)
}
