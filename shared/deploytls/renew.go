package deploytls

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// DefaultRenewTimeout bounds waiting for cert-manager to issue the renewed certificate.
const DefaultRenewTimeout = 10 * time.Minute

// RenewOptions of `deploy tls renew`.
type RenewOptions struct {
	*cli.Global
	Timeout time.Duration
	Name    string
}

// NewCmdRenew forces cert-manager to issue the app's certificate again and waits for it.
func NewCmdRenew(g *cli.Global) *cobra.Command {
	o := &RenewOptions{Global: g, Timeout: DefaultRenewTimeout}
	cmd := &cobra.Command{
		Use:   "renew [CERTIFICATE]",
		Short: "Force cert-manager to renew the Ingress's certificate now, wait until it is Ready and print the new expiry",
		Long: `Force the renewal of the app's TLS certificate (the guide's Certificate Renewal) and wait,
by watching, until cert-manager reports the Certificate Ready with a newly issued
certificate; then print its new expiry. The Certificate is the one whose secretName is the
Ingress's TLS Secret (piyasa-tls-cert), or CERTIFICATE.

The guide deletes the Certificate and applies the manifests again; cert-manager does not
issue a new certificate that way while the Secret still holds a valid one for the same
names. renew asks for a new issuance as cmctl renew does: it sets the Certificate's Issuing
condition (reason ManuallyTriggered). The Secret keeps serving the current certificate
until the new one is stored. Each renewal is a new certificate at the issuer: mind Let's
Encrypt's rate limits.
Exit codes: 0 renewed; 1 cert-manager or the Certificate is missing, the issuance failed
or --timeout passed; 2 bad flags; 3 cluster unreachable or forbidden; 130 interrupted (the
renewal goes on in cert-manager).`,
		Example: `  kubectl piyasa deploy tls renew --env prod
  kubectl piyasa deploy tls renew my-certificate -n my-test --timeout 5m`,
		Args: cobra.MaximumNArgs(1),
		RunE: cli.RunE(o),
	}
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the renewed certificate (0: no limit)")
	return cmd
}

// Complete resolves the environment, the namespace and the Certificate's name.
func (o *RenewOptions) Complete(_ *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Name = args[0]
	}
	return o.Global.Complete()
}

// Validate checks --timeout.
func (o *RenewOptions) Validate() error {
	if o.Timeout < 0 {
		return cli.Usagef("--timeout must not be negative")
	}
	return nil
}

// Run triggers the issuance and waits for it.
func (o *RenewOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	has, err := kube.ServesResource(cs.Discovery(), certManagerGroupVersion, gvrCertificates.Resource)
	if err != nil {
		return err
	}
	secrets, ingress, err := o.ingressTLS(ctx)
	if err != nil {
		return err
	}
	if o.Name == "" && ingress != "" && len(secrets) == 0 {
		return cli.Failedf("ingress %s in namespace %s serves no TLS (no tls section): there is no certificate to renew", ingress, o.Namespace).
			WithHint("the %s environment serves plain http; the prod overlay's Ingress has TLS: kubectl piyasa deploy tls renew --env prod", o.Env.Name)
	}
	if !has {
		secret := app.TLSSecretName
		if len(secrets) > 0 {
			secret = secrets[0]
		}
		return cli.Failedf("cert-manager is not installed: the cluster serves no %s Certificate", certManagerGroupVersion).
			WithHint("install cert-manager (guide, Required Add-ons), which then issues and renews %s; or renew by hand with a new certificate and key: kubectl create secret tls %s --cert CERT.pem --key KEY.pem -n %s --dry-run=client -o yaml | kubectl apply -f -",
				secret, secret, o.Namespace)
	}
	dyn, err := o.Dynamic()
	if err != nil {
		return err
	}
	certs := dyn.Resource(gvrCertificates).Namespace(o.Namespace)
	cert, err := o.findCertificate(ctx, certs, secrets, ingress != "")
	if err != nil {
		return err
	}
	before := readCert(cert)
	was := "never issued"
	if before.notAfter != "" {
		was = fmt.Sprintf("revision %d, expires %s", before.revision, before.notAfter)
	}
	if before.issuing {
		o.Infof("certificate/%s is already being issued (%s); waiting for it\n", cert.GetName(), before.issuingReason)
	} else {
		if err := o.trigger(ctx, certs, cert.GetName()); err != nil {
			return err
		}
		limit := o.Timeout.String()
		if o.Timeout == 0 {
			limit = "no limit"
		}
		o.Infof("certificate/%s renewal triggered (was: %s); waiting for cert-manager (timeout %s)\n", cert.GetName(), was, limit)
	}
	after, err := o.waitRenewed(ctx, cert, before)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "certificate/%s renewed: revision %d, expires %s%s\n", cert.GetName(), after.revision, after.notAfter, o.untilText(after.notAfter))
	if after.renewalTime != "" {
		o.Infof("cert-manager renews it next at %s\n", after.renewalTime)
	}
	return nil
}

func (o *RenewOptions) untilText(ts string) string {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return ""
	}
	return " (in " + duration.HumanDuration(t.Sub(o.Now())) + ")"
}

// NeededRights of deploy tls renew.
func (o *RenewOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("deploy tls renew").Needs(o.Namespace), nil
}
