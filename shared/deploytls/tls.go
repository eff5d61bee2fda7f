// Package deploytls implements `kubectl piyasa deploy tls`: the Ingress's
// TLS certificate, which cert-manager issues (the guide's Certificate
// Renewal).
//
// tls.go is the group's root; renew.go the renew command and
// certificate.go what it reads of and asks of cert-manager's Certificate.
package deploytls

import (
	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// NewCmd groups the TLS certificate commands (the guide's Certificate Renewal).
func NewCmd(g *cli.Global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "The Ingress's TLS certificate (cert-manager): renew it now",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(NewCmdRenew(g))
	return cmd
}
