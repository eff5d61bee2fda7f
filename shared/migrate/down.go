package migrate

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// DownOptions are the options of `migrate down`.
type DownOptions struct {
	*cli.Global
	Options
	Yes    bool
	Backup BackupFlags
	// Print is -o, as for `migrate up`.
	Print *output.Flags
}

// NewCmdDown returns `migrate down --to REVISION`.
func NewCmdDown(g *cli.Global) *cobra.Command {
	o := &DownOptions{Global: g, Options: Options{Direction: "down", Timeout: DefaultTimeout, Retries: DefaultRetries}, Print: output.NewFlags()}
	cmd := &cobra.Command{
		Use:   "down --to REVISION",
		Short: "Downgrade the database to REVISION with a Job (after confirmation)",
		Long: `Downgrade the database: a Job runs 'python -m alembic downgrade REVISION' exactly as
'migrate up' runs its upgrade (same image, environment, lock, log and exit codes).
A downgrade usually drops data: it asks for the namespace name (or --yes).

A backup is always taken first, as 'kubectl piyasa backup create' takes it (checked, with its
BackupInfo), under the lock and before the Job, and recorded on the Job: to --backup-dir DIR
(default ./backups, created 0700) or --backup-to s3://BUCKET/PREFIX. A failed backup runs no
downgrade (exit 1). --no-backup skips it, with a warning.`,
		Example: `  kubectl piyasa migrate down --to 0002 --env dev
  kubectl piyasa migrate down --to base -n my-ns --yes`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.To, "to", "", "The revision to downgrade to (required): a revision id, base, or -1")
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "Do not ask for confirmation")
	addRunFlags(cmd, &o.Options)
	o.Backup.AddFlags(cmd.Flags(), true)
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete resolves the environment and namespace.
func (o *DownOptions) Complete(cmd *cobra.Command, args []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	o.Backup.Resolve(o.Env)
	return nil
}

// Validate checks the flags (no I/O).
func (o *DownOptions) Validate() error {
	if o.To == "" {
		return cli.Usagef("--to REVISION is required").WithHint("see 'kubectl piyasa migrate history' for the revisions")
	}
	if o.To == "head" || o.To == "heads" {
		return cli.Usagef("--to %s is an upgrade: use 'kubectl piyasa migrate up'", o.To)
	}
	if err := o.Backup.Validate(); err != nil {
		return err
	}
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return validateRun(&o.Options)
}

// Run confirms and runs the downgrade.
func (o *DownOptions) Run(ctx context.Context) error {
	if err := confirm(o.Global, "Downgrade the database of namespace "+o.Namespace+" to "+o.To+": this can drop tables and data.", o.Namespace, o.Yes); err != nil {
		return err
	}
	if !o.Backup.On() {
		o.Infof("warning: --no-backup: downgrading %s without a backup first; data the downgrade drops cannot be restored\n", o.Namespace)
	}
	o.BackupFirst = o.Backup.Step()
	return runPrinted(ctx, o.Global, o.Options, o.Print)
}
