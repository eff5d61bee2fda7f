package cli

import (
	"context"

	"github.com/spf13/cobra"
)

// Command is the shape of every command of the suite, as kubectl's: Complete
// gathers flags, arguments and defaults (no request to the cluster that
// changes anything), Validate checks every input and does no I/O, and Run acts.
type Command interface {
	Complete(cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// RunE returns a cobra RunE that runs o's Complete, Validate and Run in turn;
// a RightsNeeder's rights are checked between Validate and Run.
func RunE(o Command) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		if err := checkRights(cmd.Context(), o); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}
