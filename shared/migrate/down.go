package migrate

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// DownOptions are the options of `migrate down`.
type DownOptions struct {
	*cli.Global
	Options
	Yes bool
}

// NewCmdDown returns `migrate down --to REVISION`.
func NewCmdDown(g *cli.Global) *cobra.Command {
	o := &DownOptions{Global: g, Options: Options{Direction: "down", Timeout: DefaultTimeout, Retries: DefaultRetries}}
	cmd := &cobra.Command{
		Use:   "down --to REVISION",
		Short: "Downgrade the database to REVISION with a Job (after confirmation)",
		Long: `Downgrade the database: a Job runs 'python -m alembic downgrade REVISION' exactly as
'migrate up' runs its upgrade (same image, environment, lock, log and exit codes).
A downgrade usually drops data: it asks for the namespace name (or --yes).

Not yet here: the automatic backup first. It comes with the backup binary
('kubectl piyasa backup'); until then take a backup yourself before a downgrade.`,
		Example: `  kubectl piyasa migrate down --to 0002 --env dev
  kubectl piyasa migrate down --to base -n my-ns --yes`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.To, "to", "", "The revision to downgrade to (required): a revision id, base, or -1")
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "Do not ask for confirmation")
	addRunFlags(cmd, &o.Options)
	return cmd
}

// Complete resolves the environment and namespace.
func (o *DownOptions) Complete(cmd *cobra.Command, args []string) error { return o.Global.Complete() }

// Validate checks the flags (no I/O).
func (o *DownOptions) Validate() error {
	if o.To == "" {
		return cli.Usagef("--to REVISION is required").WithHint("see 'kubectl piyasa migrate history' for the revisions")
	}
	if o.To == "head" || o.To == "heads" {
		return cli.Usagef("--to %s is an upgrade: use 'kubectl piyasa migrate up'", o.To)
	}
	return validateRun(&o.Options)
}

// Run confirms and runs the downgrade.
func (o *DownOptions) Run(ctx context.Context) error {
	if err := confirm(o.Global, "Downgrade the database of namespace "+o.Namespace+" to "+o.To+": this can drop tables and data.", o.Namespace, o.Yes); err != nil {
		return err
	}
	_, err := Up(ctx, o.Global, o.Options)
	return err
}
