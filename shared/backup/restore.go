package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
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

	loc      Location
	safetyTo Target
}

// NewRestoreOptions returns the defaults.
func NewRestoreOptions(g *cli.Global) *RestoreOptions {
	return &RestoreOptions{base: newBase(g), Timeout: 5 * time.Minute}
}

// NewCmdRestore returns `backup restore`.
func NewCmdRestore(g *cli.Global) *cobra.Command {
	o := NewRestoreOptions(g)
	cmd := &cobra.Command{
		Use:   "restore FILE|s3://BUCKET/KEY [--to-database NAME] [--yes] [--no-safety-backup]",
		Short: "Restore a backup over the live database (quiescing the app) or into a new database",
		Long: `Check the backup whole (as verify does), then restore it.

Over the live database (piyasa_db): asks for the namespace name to be typed (or --yes);
takes a safety backup of the current database (unless --no-safety-backup) beside the
backup or into --safety-backup-to; records the api and worker replicas and scales both
to zero, waiting until their pods are gone; restores with psql -v ON_ERROR_STOP=1
--single-transaction, the upload framed by its byte count; checks every table's row
count against the BackupInfo and that every serial/identity sequence continues above
its column's maximum; then scales api and worker back and waits until they are ready.
On any failure the app is left scaled down and the message says what state the database
is in and which command restores the safety backup; the exit status is 1.

With --to-database NAME the backup is restored into a new database NAME and the app is
left alone.`,
		Example: `  kubectl piyasa backup restore backups/piyasa_db-piyasa-chatbot-20261201T020000Z.sql.zst --env prod
  kubectl piyasa backup restore s3://my-bucket/piyasa/piyasa_db-piyasa-chatbot-20261201T020000Z.sql.zst --to-database piyasa_db_copy`,
		Args: cobra.ExactArgs(1),
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.ToDatabase, "to-database", "", "Restore into this new database and leave the app alone")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for the namespace name before restoring over the live database")
	cmd.Flags().BoolVar(&o.NoSafetyBackup, "no-safety-backup", false, "Do not back up the live database before restoring over it")
	cmd.Flags().StringVar(&o.SafetyTo, "safety-backup-to", "", "Directory or s3://BUCKET/PREFIX of the safety backup (default: beside the backup restored)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the app's pods to stop and to be ready again")
	o.S3.AddFlags(cmd.Flags())
	return cmd
}

// Complete takes the backup argument.
func (o *RestoreOptions) Complete(_ *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Ref = args[0]
	}
	return o.Global.Complete()
}

// Validate checks flags and argument (no I/O).
func (o *RestoreOptions) Validate() error {
	loc, err := ParseBackupRef(o.Ref, o.S3)
	if err != nil {
		return cli.Usagef("%v", err)
	}
	if !IsBackupName(loc.Name) {
		return cli.Usagef("%s is not a backup: its name must end in .sql[.zst|.gz] or .rdb[.zst|.gz]", o.Ref)
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

// Run restores.
func (o *RestoreOptions) Run(ctx context.Context) error {
	loc := o.loc
	where := loc.Target.Location(loc.Name)
	chk, err := checkStored(ctx, loc)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
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
	if o.ToDatabase != "" {
		return o.restoreNew(ctx, loc, info)
	}
	return o.restoreLive(ctx, loc, info)
}

func (o *RestoreOptions) restoreNew(ctx context.Context, loc Location, info *BackupInfo) error {
	db := o.ToDatabase
	if err := o.createDatabase(ctx, db); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return cli.Failedf("cannot create database %s (it must not exist): %v", db, err)
	}
	if err := o.restoreInto(ctx, loc, info, db); err != nil {
		if ctx.Err() != nil {
			o.Infof("interrupted: database %s was created and may hold part of the restore; drop it with: kubectl exec -n %s deploy/%s -- dropdb -U %s %s\n",
				db, o.Namespace, o.Env.ObjectName("postgres"), app.DatabaseUser, db)
			return ctx.Err()
		}
		return cli.Failedf("restore into %s failed: %v", db, err).WithHint("database %s was created and left as it is; drop it with: kubectl exec -n %s deploy/%s -- dropdb -U %s %s",
			db, o.Namespace, o.Env.ObjectName("postgres"), app.DatabaseUser, db)
	}
	problems, err := o.verifyRestored(ctx, db, info)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return cli.Failedf("database %s was restored but does not match the backup: %s", db, joinProblems(problems))
	}
	o.Infof("restored %s into database %s (%d tables, row counts match, sequences continue); the app was not touched\n",
		loc.Target.Location(loc.Name), db, len(info.Tables))
	fmt.Fprintln(o.Out, db)
	return nil
}

func (o *RestoreOptions) confirm(info *BackupInfo, where string) error {
	if o.Yes {
		return nil
	}
	o.Infof("This replaces database %s in namespace %s with %s (taken %s from %s),\nstopping api and worker meanwhile. Type the namespace name to confirm: ",
		app.DatabaseName, o.Namespace, where, info.EndTime.Format(time.RFC3339), info.Namespace)
	line, _ := bufio.NewReader(o.In).ReadString('\n')
	if f, ok := o.In.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		o.Infof("\n") // the typed line was not echoed
	}
	if strings.TrimSpace(line) != o.Namespace {
		return cli.Usagef("not confirmed: nothing was changed").WithHint("type the namespace name %s, or pass --yes", o.Namespace)
	}
	return nil
}

func (o *RestoreOptions) restoreLive(ctx context.Context, loc Location, info *BackupInfo) error {
	where := loc.Target.Location(loc.Name)
	if err := o.confirm(info, where); err != nil {
		return err
	}
	safety := ""
	if !o.NoSafetyBackup {
		name := strings.TrimSuffix(DefaultName(o.Namespace, o.Now(), DefaultCompression), DefaultCompression.Ext()) + "-pre-restore" + DefaultCompression.Ext()
		o.Infof("safety backup of the live database to %s\n", o.safetyTo.Location(name))
		si, err := o.dump(ctx, dumpRequest{Target: o.safetyTo, Name: name, Compression: DefaultCompression, Database: app.DatabaseName, Kind: KindPreRestore})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return cli.Failedf("safety backup failed, nothing was changed: %v", err)
		}
		safety = si.Location
	}
	rs, err := o.recordReplicas(ctx)
	if err != nil {
		return err
	}
	st := &restoreState{o: o, replicas: rs, safety: safety}
	o.Infof("stopping the app (%s)\n", replicasText(rs))
	if err := o.markReplicas(ctx, rs); err != nil {
		return err
	}
	st.stopping = true
	if err := o.scaleAll(ctx, rs, true, o.Timeout); err != nil {
		if ctx.Err() != nil && !errors.As(err, new(*kube.TimeoutError)) {
			st.stopping = false // the scale-downs were sent whole
			return st.fail(ctx, err, "the app was being stopped; piyasa_db was not changed.")
		}
		return st.fail(ctx, err, "the app could not be stopped: %v. piyasa_db was not changed.", err)
	}
	st.stopping = false
	o.Infof("restoring %s into %s\n", where, app.DatabaseName)
	if err := o.restoreInto(ctx, loc, info, app.DatabaseName); err != nil {
		if re, ok := err.(*restoreError); ok && re.RolledBack {
			return st.fail(ctx, err, "restore failed: %v. psql stopped at that error and rolled its single transaction back: piyasa_db holds what it held before.", err)
		}
		return st.fail(ctx, err, "restore failed: %v. Whether its single transaction committed is unknown: piyasa_db holds either its old content or the whole backup.", err)
	}
	problems, err := o.verifyRestored(ctx, app.DatabaseName, info)
	if err != nil {
		return st.fail(ctx, err, "the restore finished but could not be checked: %v. piyasa_db holds the restored backup, unchecked.", err)
	}
	if len(problems) > 0 {
		return st.fail(ctx, nil, "piyasa_db was restored but does not match the backup: %s.", joinProblems(problems))
	}
	o.Infof("restored and checked (%d tables, row counts match, sequences continue); starting the app (%s)\n", len(info.Tables), replicasText(rs))
	if err := o.scaleAll(ctx, rs, false, o.Timeout); err != nil {
		if ctx.Err() != nil && !errors.As(err, new(*kube.TimeoutError)) {
			// The replicas are set (scaleAll sends its patches whole): the
			// record of the replicas before the restore has served.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scalePatchTimeout)
			defer cancel()
			_ = o.unmarkReplicas(uctx, rs)
			return cli.Interruptedf("interrupted while starting the app again: piyasa_db was restored and checked, and api and worker are scaled back (%s); their pods are still starting", replicasText(rs)).
				WithHint("follow them with: kubectl piyasa deploy status -n %s", o.Namespace)
		}
		return cli.Failedf("piyasa_db was restored and checked, but the app did not become ready: %v", err).
			WithHint("check it with: kubectl piyasa deploy status -n %s", o.Namespace)
	}
	_ = o.unmarkReplicas(ctx, rs)
	fmt.Fprintf(o.Out, "restored %s into %s in %s; app running (%s)", where, app.DatabaseName, o.Namespace, replicasText(rs))
	if safety != "" {
		fmt.Fprintf(o.Out, "; safety backup %s", safety)
	}
	fmt.Fprintln(o.Out)
	return nil
}

// restoreState words the failures of a live restore: the app stays scaled
// down, the database's state is said, and so are the commands that restore
// the safety backup or restart the app.
type restoreState struct {
	o        *RestoreOptions
	replicas []appReplicas
	safety   string
	// stopping is true while the app is being stopped (it may be partly down).
	stopping bool
}

func (s *restoreState) fail(ctx context.Context, cause error, format string, args ...any) error {
	o := s.o
	state := "left scaled down"
	if s.stopping {
		state = "left as they are, possibly partly scaled down"
	}
	msg := fmt.Sprintf(format, args...) + fmt.Sprintf(" api and worker are %s (were %s).", state, replicasText(s.replicas))
	var hint string
	if s.safety != "" {
		hint = fmt.Sprintf("to go back to the database as it was: kubectl piyasa backup restore %s -n %s --env %s --yes --no-safety-backup (it restarts the app)",
			s.safety, o.Namespace, o.Env.Name)
	} else {
		hint = "no safety backup was taken (--no-safety-backup)"
	}
	hint += "; to restart the app as it is:"
	for _, r := range s.replicas {
		hint += fmt.Sprintf(" kubectl scale -n %s %s/%s --replicas=%d;", o.Namespace, strings.ToLower(r.Workload.Kind), r.Workload.Name, r.Replicas)
	}
	hint = strings.TrimSuffix(hint, ";")
	if cause != nil && ctx.Err() != nil {
		return cli.Interruptedf("interrupted: %s", msg).WithHint("%s", hint)
	}
	return cli.Failedf("%s", msg).WithHint("%s", hint)
}
