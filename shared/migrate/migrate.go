// Package migrate is `kubectl piyasa migrate`: the app's Alembic migrations
// as a Job in the api pods' image and environment, one at a time per
// namespace (a coordination.k8s.io Lease), never retried blindly, its log
// followed live and kept with the Job.
package migrate

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/migrate/migraterun"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// NewCmd returns the root of kubectl-piyasa-migrate: bare `migrate` is `migrate up`.
func NewCmd(g *cli.Global) *cobra.Command {
	root := cli.NewRoot("migrate", g)
	o := NewUpOptions(g)
	root.Long = upLong
	root.Example = upExample
	root.Args = cobra.NoArgs
	root.RunE = cli.RunE(o)
	o.AddFlags(root)
	root.AddCommand(NewCmdUp(g), NewCmdStatus(g), NewCmdHistory(g), NewCmdJobs(g), NewCmdDown(g), NewCmdUnlock(g))
	return root
}

const upLong = `Run the database migrations: a Job <prefix>db-migrate-<time> runs
'python -m alembic upgrade <REVISION|head>' in the api pods' image (pinned by the digest of a
ready api pod's imageID unless --image) with exactly their env, envFrom (piyasa-config,
piyasa-secrets), ServiceAccount, securityContext and resources.

Before the Job: --to must be one of the image's revisions (alembic history in a ready api
pod, when the Job runs that pod's image; else exit 2), PostgreSQL must accept connections
(pg_isready inside the postgres pod) and the database operation lock, the Lease
<prefix>piyasa-migrate, must be free: one operation that changes the database at a time per
namespace (migrate, restore, an in-cluster backup run). Another operation holding it is named
(operation, holder, Job, since when): exit 1 at once. A Lease whose holder stopped renewing and
whose Job has finished is taken over. A database already at the target (alembic current) is
"nothing to do": no Job, no backup, exit 0.

The pod's log is followed live (across retried pods); the command waits by watch for the
Job to be Complete or Failed. The Job is kept, so its log survives (remove old ones with
'migrate jobs --cleanup'). backoffLimit is --retries, default 0, unlike the guide's 3: a
migration that failed half-way must be looked at by a person, not re-run on a half-migrated
database. activeDeadlineSeconds is --timeout, so a hung migration cannot block forever.
A pod that cannot start (image pull, configuration) never ran: exit 1 at once, its Job deleted.

--backup-first takes a backup as 'kubectl piyasa backup create' does (pg_dump's status, byte
count, sha256 and trailer checked, its BackupInfo beside it) under the lock, after the
connection check and before the Job, and records it in the Job's annotation piyasa.io/migrate-backup
(shown by 'migrate jobs'). It goes to --backup-dir DIR (default ./backups, created 0700) or
--backup-to s3://BUCKET/PREFIX. A failed backup creates no Job (exit 1). In the prod
environment the backup is on by default; --no-backup turns it off explicitly.

-o json|yaml prints the run as a MigrationRun document on standard output (the Job, the
revision before, the backup taken first, the state), also when it failed; the log goes to
standard error then.

Ctrl-C stops following and leaves the Job running (the Lease stays with the Job until it
ends); --cancel-on-interrupt deletes the Job and releases the Lease instead.
Exit codes: 0 migrated or nothing to do; 1 failed, lock held, PostgreSQL not ready; 2 bad
input (an unknown revision);
3 cluster unreachable or forbidden; 130 interrupted.`

const upExample = `  kubectl piyasa migrate --env dev
  kubectl piyasa migrate up --to 0002 --log-file migrate.log
  kubectl piyasa migrate --env prod --image v2.1.0 --timeout 20m --backup-to s3://my-bucket/piyasa
  kubectl piyasa migrate up --backup-first --backup-dir ./backups -n my-ns
  kubectl piyasa migrate up --image v2.1.0 -o json`

// UpOptions are the options of `migrate up`.
type UpOptions struct {
	*cli.Global
	Options
	Backup BackupFlags
	// Print is -o: json|yaml print the run's Result (kind MigrationRun) on
	// standard output, and the migration's log goes to standard error.
	Print *output.Flags
}

// NewUpOptions returns the defaults of `migrate up`.
func NewUpOptions(g *cli.Global) *UpOptions {
	return &UpOptions{Global: g, Options: Options{Direction: "up", Timeout: DefaultTimeout, Retries: DefaultRetries}, Print: output.NewFlags()}
}

// AddFlags adds the flags of `migrate up` to cmd.
func (o *UpOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.To, "to", "", "The revision to upgrade to (default: head)")
	addRunFlags(cmd, &o.Options)
	o.Backup.AddFlags(cmd.Flags(), false)
	o.Print.AddFlags(cmd)
}

func addRunFlags(cmd *cobra.Command, o *Options) {
	f := cmd.Flags()
	f.StringVar(&o.Image, "image", "", "Image to migrate with: a TAG of the api repository or a whole IMAGE; default: the running api pods' image by digest")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "The Job's activeDeadlineSeconds: the migration is stopped after this long")
	f.Int32Var(&o.Retries, "retries", o.Retries, "The Job's backoffLimit. Default 0, unlike the guide's 3: a failed migration may be half-applied, and re-running it blindly can make it worse; a person looks first")
	f.StringVar(&o.LogFile, "log-file", "", "Also write the whole migration log to this file")
	f.BoolVar(&o.CancelOnInterrupt, "cancel-on-interrupt", false, "On Ctrl-C delete the Job and release the lock (default: leave the Job running)")
}

// NewCmdUp returns `migrate up`.
func NewCmdUp(g *cli.Global) *cobra.Command {
	o := NewUpOptions(g)
	cmd := &cobra.Command{
		Use:     "up",
		Short:   "Upgrade the database to head (or --to REVISION) with a Job",
		Long:    upLong,
		Example: upExample,
		Args:    cobra.NoArgs,
		RunE:    cli.RunE(o),
	}
	o.AddFlags(cmd)
	return cmd
}

// Complete resolves the environment and namespace.
func (o *UpOptions) Complete(cmd *cobra.Command, args []string) error {
	if o.To == "" {
		o.To = "head"
	}
	if err := o.Global.Complete(); err != nil {
		return err
	}
	o.Backup.Resolve(o.Env)
	return nil
}

// Validate checks the flags (no I/O).
func (o *UpOptions) Validate() error {
	if err := o.Backup.Validate(); err != nil {
		return err
	}
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return validateRun(&o.Options)
}

func validateRun(o *Options) error {
	if o.Timeout < time.Second {
		return cli.Usagef("--timeout must be at least 1s, got %s", o.Timeout)
	}
	if o.Retries < 0 || o.Retries > 10 {
		return cli.Usagef("--retries must be between 0 and 10, got %d", o.Retries)
	}
	if err := validRevision(o.To); err != nil {
		return err
	}
	if strings.ContainsAny(o.Image, " \t\n") {
		return cli.Usagef("--image %q is not an image reference", o.Image)
	}
	return nil
}

// validRevision accepts what alembic takes: head, heads, base, a revision id,
// relative (+1, -1, head-1) or branch@rev forms; nothing with spaces or shell characters.
func validRevision(rev string) error {
	if rev == "" {
		return cli.Usagef("a revision is required")
	}
	for _, r := range rev {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-+@.:", r)) {
			return cli.Usagef("revision %q: only letters, digits and _-+@.: are allowed", rev)
		}
	}
	return nil
}

// Run runs the migration.
func (o *UpOptions) Run(ctx context.Context) error {
	o.BackupFirst = o.Backup.Step()
	return runPrinted(ctx, o.Global, o.Options, o.Print)
}

// runPrinted runs Up; with -o json|yaml the log goes to standard error and
// the Result is printed once a Job was created, whether the run succeeded,
// failed or was interrupted, or when the database was at the target already.
func runPrinted(ctx context.Context, g *cli.Global, o Options, p *output.Flags) error {
	if p.Structured() {
		o.LogOut = g.ErrOut
	}
	r, err := Up(ctx, g, o)
	if r != nil && p.Structured() {
		if perr := p.PrintDocument(g.Out, migraterun.Kind, r); perr != nil && err == nil {
			return perr
		}
	}
	return err
}
