package deploytls

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// Facts of cert-manager's Certificate API, as cmctl renew uses them.
const (
	certManagerGroupVersion = "cert-manager.io/v1"
	certConditionReady      = "Ready"
	certConditionIssuing    = "Issuing"
	// certReasonManual is the reason of the Issuing condition that asks
	// cert-manager to issue the certificate again now (cmctl renew's).
	certReasonManual = "ManuallyTriggered"
)

var gvrCertificates = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}

// certState is what renew reads of a Certificate.
type certState struct {
	revision        int64
	notAfter        string
	renewalTime     string
	ready           bool
	readyMsg        string
	issuing         bool
	issuingReason   string
	issuingMsg      string
	lastFailureTime string
}

func readCert(u *unstructured.Unstructured) certState {
	var s certState
	s.revision, _, _ = unstructured.NestedInt64(u.Object, "status", "revision")
	s.notAfter, _, _ = unstructured.NestedString(u.Object, "status", "notAfter")
	s.renewalTime, _, _ = unstructured.NestedString(u.Object, "status", "renewalTime")
	s.lastFailureTime, _, _ = unstructured.NestedString(u.Object, "status", "lastFailureTime")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		status, _ := m["status"].(string)
		reason, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		switch m["type"] {
		case certConditionReady:
			s.ready, s.readyMsg = status == "True", strings.TrimSpace(reason+": "+msg)
		case certConditionIssuing:
			s.issuing, s.issuingReason, s.issuingMsg = status == "True", reason, msg
		}
	}
	return s
}

// ingressTLS reads the app's Ingress: its TLS Secrets and its name ("" when
// there is no Ingress).
func (o *RenewOptions) ingressTLS(ctx context.Context) (secrets []string, ingress string, err error) {
	cs, err := o.Clientset()
	if err != nil {
		return nil, "", err
	}
	ing, err := cs.NetworkingV1().Ingresses(o.Namespace).Get(ctx, o.Env.ObjectName(app.IngressName), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	for _, t := range ing.Spec.TLS {
		if t.SecretName != "" {
			secrets = append(secrets, t.SecretName)
		}
	}
	return secrets, ing.Name, nil
}

// findCertificate finds CERTIFICATE, else the Certificate of the Ingress's
// TLS Secrets (the app's usual one when there is no Ingress).
func (o *RenewOptions) findCertificate(ctx context.Context, certs dynamic.ResourceInterface, secrets []string, haveIngress bool) (*unstructured.Unstructured, error) {
	if o.Name != "" {
		u, err := certs.Get(ctx, o.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, cli.Failedf("certificate %s not found in namespace %s", o.Name, o.Namespace).
				WithHint("kubectl get certificate -n %s", o.Namespace)
		}
		return u, err
	}
	if !haveIngress {
		secrets = []string{app.TLSSecretName}
	}
	list, err := certs.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var found []*unstructured.Unstructured
	for i := range list.Items {
		sn, _, _ := unstructured.NestedString(list.Items[i].Object, "spec", "secretName")
		if slices.Contains(secrets, sn) {
			found = append(found, &list.Items[i])
		}
	}
	switch len(found) {
	case 0:
		what := "secret " + strings.Join(secrets, ", ")
		if len(secrets) == 0 {
			what = "the Ingress (it has no tls section)"
		}
		return nil, cli.Failedf("no cert-manager Certificate for %s in namespace %s", what, o.Namespace).
			WithHint("kubectl get certificate -n %s; cert-manager creates it from the Ingress's cert-manager.io/cluster-issuer annotation (prod overlay), or name one: kubectl piyasa deploy tls renew CERTIFICATE", o.Namespace)
	case 1:
		return found[0], nil
	}
	var names []string
	for _, u := range found {
		names = append(names, u.GetName())
	}
	return nil, cli.Usagef("several Certificates in namespace %s: %s", o.Namespace, strings.Join(names, ", ")).
		WithHint("name one: kubectl piyasa deploy tls renew CERTIFICATE")
}

// trigger sets the Issuing condition, as cmctl renew does (status subresource).
func (o *RenewOptions) trigger(ctx context.Context, certs dynamic.ResourceInterface, name string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u, err := certs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		var keep []any
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] != certConditionIssuing {
				keep = append(keep, c)
			}
		}
		keep = append(keep, map[string]any{
			"type": certConditionIssuing, "status": "True", "reason": certReasonManual,
			"message":            "Certificate re-issuance manually triggered by kubectl piyasa deploy tls renew",
			"lastTransitionTime": o.Now().UTC().Format(time.RFC3339),
			"observedGeneration": u.GetGeneration(),
		})
		if err := unstructured.SetNestedSlice(u.Object, keep, "status", "conditions"); err != nil {
			return err
		}
		_, err = certs.UpdateStatus(ctx, u, metav1.UpdateOptions{FieldManager: app.FieldManager})
		return err
	})
}

// waitRenewed watches the Certificate until cert-manager has issued a new
// certificate (revision or notAfter changed, Issuing over, Ready True), or
// reports the failure.
func (o *RenewOptions) waitRenewed(ctx context.Context, cert *unstructured.Unstructured, before certState) (certState, error) {
	wdyn, err := o.Global.WatchDynamic()
	if err != nil {
		return before, err
	}
	certs := wdyn.Resource(gvrCertificates).Namespace(o.Namespace)
	wctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	sel := fields.OneTermEqualSelector("metadata.name", cert.GetName()).String()
	lw := &cache.ListWatch{
		ListFunc: func(opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = sel
			return certs.List(wctx, opts)
		},
		WatchFunc: func(opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = sel
			return certs.Watch(wctx, opts)
		},
	}
	// At the start the Certificate is issuing (renew set the condition, or it
	// already was), so an Issuing condition False with reason Failed is this
	// issuance failing, even when it failed before the watch began.
	var last certState
	_, err = watchtools.UntilWithSync(wctx, cache.ToListWatcherWithWatchListSemantics(lw, wdyn), &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, cli.Failedf("certificate %s was deleted while it was being renewed", cert.GetName())
		}
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		last = readCert(u)
		newCert := last.revision > before.revision || (last.notAfter != "" && last.notAfter != before.notAfter)
		switch {
		case !last.issuing && newCert && last.ready:
			return true, nil
		case !last.issuing && last.issuingReason == "Failed":
			return false, cli.Failedf("cert-manager could not issue certificate %s: %s", cert.GetName(), output.OrDash(last.issuingMsg)).
				WithHint("kubectl describe certificate %s -n %s; kubectl get certificaterequest,order,challenge -n %s", cert.GetName(), o.Namespace, o.Namespace)
		}
		return false, nil
	})
	if err == nil {
		return last, nil
	}
	if ce := (*cli.Error)(nil); errors.As(err, &ce) {
		return last, ce
	}
	if ctx.Err() != nil {
		o.Infof("interrupted: the renewal goes on in cert-manager; follow it with: kubectl get certificate %s -n %s -w\n", cert.GetName(), o.Namespace)
		return last, ctx.Err()
	}
	if wctx.Err() != nil {
		state := "Ready: " + output.OrDash(last.readyMsg)
		if last.issuing {
			state = "still issuing: " + output.OrDash(last.issuingMsg)
		}
		return last, cli.Failedf("certificate %s was not renewed within %s (%s)", cert.GetName(), o.Timeout, state).
			WithHint("kubectl describe certificate %s -n %s", cert.GetName(), o.Namespace)
	}
	return last, err
}
