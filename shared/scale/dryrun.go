package scale

import (
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// DryRun is the --dry-run strategy of a mutating command.
type DryRun string

// Dry-run strategies, as kubectl names them.
const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// addDryRunFlag adds --dry-run=none|client|server; a bare --dry-run means client.
func addDryRunFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "dry-run", string(DryRunNone),
		`"none", "client" (print what would change, send nothing) or "server" (send the changes as dry-run requests: validated and admitted, not persisted)`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = string(DryRunClient)
	_ = cmd.RegisterFlagCompletionFunc("dry-run", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp
	})
}

// parseDryRun checks the value of --dry-run.
func parseDryRun(s string) (DryRun, error) {
	switch DryRun(s) {
	case "", DryRunNone:
		return DryRunNone, nil
	case DryRunClient, DryRunServer:
		return DryRun(s), nil
	}
	return "", cli.Usagef("invalid --dry-run %q: use none, client or server", s)
}

// server returns the dryRun request option: All for --dry-run=server.
func (d DryRun) server() []string {
	if d == DryRunServer {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// suffix marks the messages of a dry run.
func (d DryRun) suffix() string {
	switch d {
	case DryRunClient:
		return " (dry run)"
	case DryRunServer:
		return " (server dry run)"
	}
	return ""
}
