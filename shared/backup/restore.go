package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// RestoreOptions are the options of `backup restore`.
type RestoreOptions struct {
	base
	Ref            string
	ToDatabase     string
	Yes            bool
	NoSafetyBackup bool
	SafetyTo       string
	Timeout        time.Duration
	// LockTimeout bounds each wait of the restore for a lock another session holds.
	LockTimeout time.Duration
	// TerminateSessions ends the other sessions on the database before loading.
	TerminateSessions bool
	// FromOtherEnv allows a backup of another environment or namespace.
	FromOtherEnv bool

	loc      Location
	safetyTo Target
	// pitr holds the point-in-time restore's flags (--to-time, --to-latest, --from ...).
	pitr pitrFlags
}

// NewRestoreOptions returns the defaults.
func NewRestoreOptions(g *cli.Global) *RestoreOptions {
	return &RestoreOptions{base: newBase(g), Timeout: 30 * time.Minute, LockTimeout: DefaultLockTimeout}
}

// NewCmdRestore returns `backup restore`.
func NewCmdRestore(g *cli.Global) *cobra.Command {
	o := NewRestoreOptions(g)
	cmd := &cobra.Command{
		Use:   "restore (FILE|s3://BUCKET/KEY [--to-database NAME] [--no-safety-backup] | --to-time T|--to-latest [--from DIR|s3://BUCKET/PREFIX]) [--yes]",
		Short: "Restore a backup over the live database (quiescing the app) or into a new database",
		Long: `Check the backup whole (as verify does), then restore it.

Over the live database (piyasa_db), in this order: check that the api Deployment and the
worker StatefulSet of --env exist in the namespace and that the backup was taken in this
environment and namespace (else exit 2, nothing changed; --from-other-env allows another);
ask for the namespace name to be typed (or --yes); take the database lock (the migration
Lease: a migration or another restore running is refused, named); record the api and
worker replicas and the restore on them (annotations) and scale both to zero, waiting
until their pods are gone; take a safety backup (kind pre-restore) of the stopped
database beside the backup or into --safety-backup-to (unless --no-safety-backup); list
the other sessions on the database (--terminate-sessions ends them); load the dump with
psql -v ON_ERROR_STOP=1 in one transaction that first drops every schema of the app, so
that nothing created after the backup survives, each lock wait bounded by --lock-timeout,
a line per table loaded; check every table's row count against the BackupInfo, that no
other table exists, that every serial/identity sequence continues above its column's
maximum and that the Alembic revision is the backup's (a revision that changes is said,
with the migrate command to run); then scale api and worker back and wait until ready.
--timeout bounds the whole restore. On any failure the app is left scaled down and the
message says what state the database is in, with the commands that finish the restore
(the same restore again), go back (the safety backup) or restart the app as it is.

With --to-database NAME the backup is restored into a new database NAME and the app is
left alone.

--dry-run checks the backup, prints the plan (the backup, the components stopped and their
replicas, the safety backup, the space the load needs against the space free, the database
lock's holder, the expected duration from the last restore of a dump measured here) and changes
nothing; what the restore would refuse, it refuses alike.

An encrypted backup (*.age) needs --identity FILE (age identities, repeatable), checked
before anything changes (exit 2 without one, or when none fits); the plaintext streams
into the pod. The safety backup of an encrypted backup is encrypted to the same recipients.

` + pitrHelp,
		Example: `  kubectl piyasa backup restore backups/piyasa_db-piyasa-chatbot-20261201T020000Z.sql.zst --env prod
  kubectl piyasa backup restore s3://my-bucket/piyasa/piyasa_db-piyasa-chatbot-20261201T020000Z.sql.zst --to-database piyasa_db_copy`,
		Args: cobra.MaximumNArgs(1),
		RunE: cli.RunE(o),
	}
	o.pitr.addFlags(cmd)
	cmd.Flags().StringVar(&o.ToDatabase, "to-database", "", "Restore into this new database and leave the app alone")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for the namespace name before restoring over the live database")
	cmd.Flags().BoolVar(&o.NoSafetyBackup, "no-safety-backup", false, "Do not back up the live database before restoring over it")
	cmd.Flags().StringVar(&o.SafetyTo, "safety-backup-to", "", "Directory or s3://BUCKET/PREFIX of the safety backup (default: beside the backup restored)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long the whole restore may take (checking, stopping the app, safety backup, load, check, start)")
	cmd.Flags().DurationVar(&o.LockTimeout, "lock-timeout", o.LockTimeout, "How long the load may wait for a lock another session holds before it fails (and rolls back)")
	cmd.Flags().BoolVar(&o.TerminateSessions, "terminate-sessions", false, "End the other sessions on the database (pg_terminate_backend) before loading")
	cmd.Flags().BoolVar(&o.FromOtherEnv, "from-other-env", false, "Restore a backup taken in another environment or namespace")
	o.Identity.AddFlags(cmd.Flags())
	o.S3.AddFlags(cmd.Flags())
	return cmd
}

// Complete takes the backup argument and --dry-run.
func (o *RestoreOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Ref = args[0]
	}
	if cmd != nil {
		dr, err := cli.GetDryRun(cmd, o.ErrOut)
		if err != nil {
			return err
		}
		o.pitr.dryRun = dr
	}
	return o.Global.Complete()
}

// Validate checks flags and argument (no I/O).
func (o *RestoreOptions) Validate() error {
	if o.pitr.asked() {
		return o.validatePITR()
	}
	if o.Ref == "" {
		return cli.Usagef("give the backup to restore (FILE or s3://BUCKET/KEY), or --to-time T / --to-latest for a point-in-time restore")
	}
	if o.pitr.From != "" || o.pitr.NoSafetyCopy {
		return cli.Usagef("--from and --no-safety-copy apply to a point-in-time restore (--to-time, --to-latest)")
	}
	loc, err := backupArg(o.Ref, o.S3)
	if err != nil {
		return err
	}
	if IsBaseBackupName(loc.Name) {
		return cli.Usagef("%s is a base backup (pg_basebackup tar): restore loads logical dumps (.sql[.zst|.gz]); nothing was changed", o.Ref).
			WithHint("check it with: kubectl piyasa backup verify %s --restore-test", o.Ref)
	}
	o.loc = loc
	if o.ToDatabase != "" {
		if !dbNameRE.MatchString(o.ToDatabase) {
			return cli.Usagef("invalid --to-database %q: use lower-case letters, digits and _ (at most 63)", o.ToDatabase)
		}
		if o.ToDatabase == app.DatabaseName || o.ToDatabase == "postgres" || strings.HasPrefix(o.ToDatabase, "template") {
			return cli.Usagef("--to-database %s: give a new database; omit --to-database to restore over the live %s", o.ToDatabase, app.DatabaseName)
		}
		if o.SafetyTo != "" || o.NoSafetyBackup {
			return cli.Usagef("--safety-backup-to and --no-safety-backup apply to a restore over the live database, not with --to-database")
		}
	}
	if o.Timeout <= 0 {
		return cli.Usagef("--timeout must be positive")
	}
	if o.LockTimeout <= 0 {
		return cli.Usagef("--lock-timeout must be positive")
	}
	if o.ToDatabase != "" && (o.TerminateSessions || o.FromOtherEnv) {
		return cli.Usagef("--terminate-sessions and --from-other-env apply to a restore over the live database, not with --to-database")
	}
	o.safetyTo = loc.Target
	if o.SafetyTo != "" {
		if o.NoSafetyBackup {
			return cli.Usagef("--safety-backup-to and --no-safety-backup exclude each other")
		}
		t, err := ParseTargetRef(o.SafetyTo, o.S3)
		if err != nil {
			return cli.Usagef("%v", err)
		}
		o.safetyTo = t
	}
	return nil
}

// Run restores. --timeout bounds all of it.
func (o *RestoreOptions) Run(ctx context.Context) error {
	if err := o.loadIdentities(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.pitr.asked() {
		return o.runPITR(ctx)
	}
	loc := o.loc
	where := loc.Target.Location(loc.Name)
	chk, err := checkStored(ctx, loc, o.ids)
	if err != nil {
		if ctx.Err() != nil {
			return o.stopped(ctx, "while the backup was being checked: piyasa_db and the app were not touched", "")
		}
		if ke := keyError(err, cli.ExitUsage, "; nothing was changed"); ke != nil {
			return ke
		}
		var ce *cli.Error
		if errors.As(err, &ce) {
			return ce
		}
		return cli.Failedf("%v; nothing was changed", err)
	}
	if len(chk.Problems) > 0 {
		return cli.Failedf("%s is not a good backup, nothing was changed: %s", where, joinProblems(chk.Problems))
	}
	info := chk.Info
	if info.IsRedis() {
		return cli.Usagef("%s is a Redis backup: restore restores PostgreSQL backups; put its dump.rdb into the redis volume while Redis is stopped", where)
	}
	if o.pitr.dryRun != cli.DryRunNone && o.pitr.dryRun != "" {
		return o.dryRunDump(ctx, loc, info)
	}
	if o.ToDatabase != "" {
		return o.restoreNew(ctx, loc, info)
	}
	return o.restoreLive(ctx, loc, info)
}

// stopped is the error of a restore that Ctrl-C, SIGTERM or --timeout ended,
// saying the state (and the hint, if any).
func (o *RestoreOptions) stopped(ctx context.Context, state, hint string) error {
	var e *cli.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		e = cli.Failedf("the restore did not finish within --timeout %s: stopped %s", o.Timeout, state)
	} else {
		e = cli.Interruptedf("interrupted %s", state)
	}
	if hint != "" {
		e = e.WithHint("%s", hint)
	}
	return e
}

func (o *RestoreOptions) restoreNew(ctx context.Context, loc Location, info *BackupInfo) error {
	db := o.ToDatabase
	if err := o.createDatabase(ctx, db); err != nil {
		if ctx.Err() != nil {
			return o.stopped(ctx, "before database "+db+" was created: nothing was changed", "")
		}
		if strings.Contains(err.Error(), "already exists") {
			return cli.Usagef("database %s already exists: --to-database takes a new database; nothing was changed", db).
				WithHint("give another name, or drop it first: kubectl exec -n %s deploy/%s -- dropdb -U %s %s", o.Namespace, o.Env.ObjectName("postgres"), app.DatabaseUser, db)
		}
		return cli.Failedf("cannot create database %s (it must not exist): %v", db, err)
	}
	drop := fmt.Sprintf("drop it with: kubectl exec -n %s deploy/%s -- dropdb -U %s %s", o.Namespace, o.Env.ObjectName("postgres"), app.DatabaseUser, db)
	xid, err := o.load(ctx, loadSpec{Loc: loc, Info: info, DB: db, LockTimeout: o.LockTimeout, Quiet: true})
	if err != nil {
		if ctx.Err() != nil {
			switch o.loadOutcome(ctx, xid, db, info) {
			case outcomeCommitted:
				return o.stopped(ctx, "at the end of the load: its transaction committed, database "+db+" holds the whole backup (unchecked)", drop)
			case outcomeRolledBack:
				return o.stopped(ctx, "during the load: its transaction did not commit, database "+db+" was created and is empty", drop)
			}
			return o.stopped(ctx, "during the load: database "+db+" holds either the whole backup or nothing of it (its one transaction may still be running)", drop)
		}
		return cli.Failedf("restore into %s failed: %v", db, err).WithHint("database %s was created and left as it is; %s", db, drop)
	}
	problems, err := o.verifyRestored(ctx, db, info)
	if err != nil {
		if ctx.Err() != nil {
			return o.stopped(ctx, "while checking: database "+db+" holds the whole backup, unchecked", drop)
		}
		return cli.Failedf("database %s was restored but could not be checked: %v", db, err)
	}
	if len(problems) > 0 {
		return cli.Failedf("database %s was restored but does not match the backup: %s", db, joinProblems(problems))
	}
	o.Infof("restored %s into database %s (%d tables, row counts match, sequences continue); the app was not touched\n",
		loc.Target.Location(loc.Name), db, len(info.Tables))
	fmt.Fprintln(o.Out, db)
	return nil
}

// The outcomes of an interrupted load.
const (
	outcomeCommitted  = "committed"
	outcomeRolledBack = "rolled back"
	outcomeUnknown    = "unknown"
)

// outcomeWait bounds how long an interrupted restore waits to learn whether
// its transaction committed.
var outcomeWait = 20 * time.Second

// loadOutcome finds out, after ctx ended during a load, whether the load's
// transaction committed: by its id when psql reported it (waiting up to
// outcomeWait while it is still in progress), else by the row counts.
func (o *RestoreOptions) loadOutcome(ctx context.Context, xid int64, db string, info *BackupInfo) string {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeWait)
	defer cancel()
	if xid == 0 {
		// No transaction id arrived: psql may not have begun, or its message was lost.
		problems, err := o.verifyRestored(cctx, db, info)
		if err == nil && len(problems) == 0 {
			return outcomeCommitted
		}
		return outcomeUnknown
	}
	for {
		st, err := o.txStatus(cctx, xid)
		switch {
		case err != nil:
			return outcomeUnknown
		case st == "committed":
			return outcomeCommitted
		case st == "aborted":
			return outcomeRolledBack
		}
		select {
		case <-cctx.Done():
			return outcomeUnknown
		case <-time.After(500 * time.Millisecond):
		}
	}
}
