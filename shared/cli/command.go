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
		if stopsBeforeRun(cmd.Context()) {
			return nil
		}
		if err := checkRights(cmd.Context(), o); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}

type stopBeforeRunKey struct{}

// StopBeforeRun returns a context in which every command made with RunE
// stops after Complete and Validate, with their error: the command line and
// the inputs it names are checked, nothing is done. The fuzz tests of the
// command lines (clitest.FuzzCommandLine) run the commands so.
func StopBeforeRun(ctx context.Context) context.Context {
	return context.WithValue(ctx, stopBeforeRunKey{}, true)
}

// StopsBeforeRun tells whether ctx is one of StopBeforeRun: a command that
// runs others (a fan-out over clusters) stops once it has checked its inputs.
func StopsBeforeRun(ctx context.Context) bool { return stopsBeforeRun(ctx) }

func stopsBeforeRun(ctx context.Context) bool {
	return ctx != nil && ctx.Value(stopBeforeRunKey{}) != nil
}
