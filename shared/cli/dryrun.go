package cli

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DryRun is the --dry-run strategy of a mutating command, in kubectl's vocabulary.
type DryRun string

// The dry-run strategies.
const (
	// DryRunNone makes the changes.
	DryRunNone DryRun = "none"
	// DryRunClient prints what would change and sends no change.
	DryRunClient DryRun = "client"
	// DryRunServer sends the changes as dry-run requests: validated and admitted, not persisted.
	DryRunServer DryRun = "server"
)

// dryRunBare is the value of a bare --dry-run, as in kubectl (NoOptDefVal):
// it never takes the next argument as its value.
const dryRunBare = "unchanged"

// AddDryRunFlag adds kubectl's --dry-run=none|client|server flag.
func AddDryRunFlag(cmd *cobra.Command) {
	cmd.Flags().String("dry-run", string(DryRunNone),
		`Must be "none", "server", or "client". If client strategy, only print what would change, without sending it. If server strategy, submit server-side dry-run requests (validated and admitted, not persisted).`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = dryRunBare
	_ = cmd.RegisterFlagCompletionFunc("dry-run", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp
	})
}

// GetDryRun reads --dry-run as kubectl's GetDryRunStrategy does: none, client
// or server; a bare --dry-run and the old booleans mean client and none, with
// kubectl's deprecation warning on warn.
func GetDryRun(cmd *cobra.Command, warn io.Writer) (DryRun, error) {
	f := cmd.Flags().Lookup("dry-run")
	if f == nil {
		return DryRunNone, nil
	}
	return ParseDryRun(f.Value.String(), warn)
}

// ParseDryRun parses a --dry-run value (see GetDryRun).
func ParseDryRun(v string, warn io.Writer) (DryRun, error) {
	switch v {
	case "", string(DryRunNone):
		return DryRunNone, nil
	case string(DryRunClient), string(DryRunServer):
		return DryRun(v), nil
	case dryRunBare:
		deprecated(warn)
		return DryRunClient, nil
	}
	if b, err := strconv.ParseBool(v); err == nil {
		deprecated(warn)
		if b {
			return DryRunClient, nil
		}
		return DryRunNone, nil
	}
	return "", Usagef(`invalid --dry-run value %q: must be "none", "server", or "client"`, v)
}

func deprecated(w io.Writer) {
	if w != nil {
		fmt.Fprintln(w, "warning: --dry-run is deprecated and can be replaced with --dry-run=client.")
	}
}

// Server returns the dryRun request option: [All] for server, else nil.
func (d DryRun) Server() []string {
	if d == DryRunServer {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// Client reports whether nothing may be sent that changes the cluster.
func (d DryRun) Client() bool { return d == DryRunClient }

// Active reports whether this is a dry run of either kind.
func (d DryRun) Active() bool { return d == DryRunClient || d == DryRunServer }

// Suffix marks the messages of a dry run, as kubectl does: " (dry run)" or " (server dry run)".
func (d DryRun) Suffix() string {
	switch d {
	case DryRunClient:
		return " (dry run)"
	case DryRunServer:
		return " (server dry run)"
	}
	return ""
}
