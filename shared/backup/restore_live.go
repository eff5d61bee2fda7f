package backup

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
)

// restoreLive restores over piyasa_db: plan (refusing what is missing),
// confirm, lock, stop the app, safety backup, sessions, load, check, start.
func (o *RestoreOptions) restoreLive(ctx context.Context, loc Location, info *BackupInfo) error {
	p, err := o.planLive(ctx, loc, info)
	if err != nil {
		if ctx.Err() != nil {
			return o.stopped(ctx, "before anything was changed: piyasa_db and the app were not touched", "")
		}
		return err
	}
	if err := o.confirm(info, p.where); err != nil {
		return err
	}
	lock, err := o.takeLock(ctx, p)
	if err != nil {
		return err
	}
	defer o.holdLock(ctx, lock)()
	st := &restoreState{o: o, plan: p}
	steps := []func(context.Context, *restoreState) error{
		o.stopApp, o.safetyBackup, o.prepareSessions, o.loadLive, o.checkLive, o.startApp,
	}
	for _, step := range steps {
		if err := step(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

// holdLock keeps the lock renewed until the function it returns is called,
// which releases it (even after ctx ended).
func (o *RestoreOptions) holdLock(ctx context.Context, lock *oplock.Lock) func() {
	lctx, stopRenew := context.WithCancel(ctx)
	go lock.KeepRenewed(lctx, func(err error) {
		o.Infof("warning: could not renew the database lock %s: %v\n", lock.Name(), err)
	})
	return func() {
		stopRenew()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scalePatchTimeout)
		defer cancel()
		if err := lock.Release(rctx); err != nil {
			o.Infof("warning: the database lock %s was not released (%v): it expires within %s\n", lock.Name(), err, oplock.LeaseDuration)
		}
	}
}

// takeLock takes the database lock (the migration Lease) for the restore,
// or refuses naming the operation that holds it.
func (o *RestoreOptions) takeLock(ctx context.Context, p *livePlan) (*oplock.Lock, error) {
	cs, err := o.Clientset()
	if err != nil {
		return nil, err
	}
	l, err := oplock.Acquire(ctx, cs, o.Namespace, o.Env.MigrationLease(), oplock.LocalHolder(), "restore "+p.record, o.Now)
	var held *oplock.HeldError
	if errors.As(err, &held) {
		return nil, held.Refusal(o.Namespace)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, o.stopped(ctx, "before anything was changed: piyasa_db and the app were not touched", "")
		}
		return nil, err
	}
	if l.TookOver != nil {
		o.Infof("took over the database lock %s: %s stopped renewing it\n", l.Name(), l.TookOver.Describe())
	}
	return l, nil
}

// restoreState is what a live restore has done so far, and words its failures.
type restoreState struct {
	o      *RestoreOptions
	plan   *livePlan
	record app.RestoreRecord
	safety string
	// stopping is true while the app is being stopped (it may be partly down).
	stopping bool
	// alembic says how the Alembic revision changed ("" when it did not).
	alembic string
}

// stopApp records the replicas and the restore on api and worker, scales
// them to zero and waits until their pods are gone.
func (o *RestoreOptions) stopApp(ctx context.Context, st *restoreState) error {
	rs := st.plan.replicas
	st.record = app.RestoreRecord{Since: o.Now().UTC(), Backup: st.plan.record, Environment: o.Env.Name, Holder: oplock.LocalHolder().Identity}
	o.Infof("stopping the app (%s)\n", replicasText(rs))
	if err := o.markReplicas(ctx, rs, st.record); err != nil {
		if ctx.Err() != nil {
			return o.stopped(ctx, "before the app was stopped: piyasa_db and the app were not touched", "")
		}
		return cli.Failedf("cannot record the replicas on the app: %v; nothing was changed", err)
	}
	st.stopping = true
	if err := o.scaleAll(ctx, rs, true, o.Timeout); err != nil {
		if ctx.Err() != nil && !errors.As(err, new(*kube.TimeoutError)) {
			st.stopping = false // the scale-downs were sent whole
			return st.fail(ctx, "while the app was being stopped: piyasa_db was not changed.")
		}
		return st.fail(ctx, "the app could not be stopped: %v. piyasa_db was not changed.", err)
	}
	st.stopping = false
	return nil
}

// safetyBackup dumps the stopped database (kind pre-restore). When it
// fails, or is interrupted, the app is started again: nothing was changed.
func (o *RestoreOptions) safetyBackup(ctx context.Context, st *restoreState) error {
	if o.NoSafetyBackup {
		return nil
	}
	// The safety copy of an encrypted backup is encrypted to its recipients:
	// it lands beside it, and holds rows just as secret.
	enc, err := sameRecipients(st.plan.info)
	if err != nil {
		return st.restartAfterSafety(ctx, err)
	}
	name := enc.Name(nameFor(o.Namespace, o.Now(), DefaultCompression, KindPreRestore))
	o.Infof("safety backup of the stopped database to %s\n", o.safetyTo.Location(name))
	si, err := o.dump(ctx, dumpRequest{Target: o.safetyTo, Name: name, Compression: DefaultCompression, Database: app.DatabaseName, Kind: KindPreRestore, Encrypt: enc})
	if err != nil {
		return st.restartAfterSafety(ctx, err)
	}
	st.safety = si.Location
	st.record.SafetyBackup = si.Location
	if !strings.Contains(si.Location, "://") {
		if abs, err := filepath.Abs(si.Location); err == nil {
			st.record.SafetyBackup = abs
		}
	}
	if err := o.markReplicas(ctx, st.plan.replicas, st.record); err != nil && ctx.Err() == nil {
		o.Infof("warning: could not record the safety backup on the app: %v\n", err)
	}
	return nil
}

// restartAfterSafety starts the app again after its safety backup failed or
// was interrupted, and says that piyasa_db was not changed.
func (st *restoreState) restartAfterSafety(ctx context.Context, cause error) error {
	o, rs := st.o, st.plan.replicas
	if ctx.Err() != nil {
		// The scale-ups are sent whole; the pods start on their own.
		_ = o.scaleAll(ctx, rs, false, o.Timeout)
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scalePatchTimeout)
		defer cancel()
		_ = o.unmarkReplicas(uctx, rs)
		return o.stopped(ctx, fmt.Sprintf("during the safety backup: piyasa_db was not changed and no safety backup was kept; api and worker are scaled back (%s), their pods starting", replicasText(rs)),
			fmt.Sprintf("follow them with: kubectl piyasa deploy status -n %s", o.Namespace))
	}
	msg := errText(cause)
	if err := o.scaleAll(ctx, rs, false, o.Timeout); err != nil {
		return st.fail(ctx, "safety backup failed: %s; piyasa_db was not changed, but the app could not be started again: %v.", msg, err)
	}
	_ = o.unmarkReplicas(ctx, rs)
	return cli.Failedf("safety backup failed: %s; piyasa_db was not changed and the app runs again (%s)", msg, replicasText(rs)).
		WithHint("write the safety backup elsewhere with --safety-backup-to DIR (or s3://BUCKET/PREFIX), or skip it with --no-safety-backup")
}

// errText is an error's message without its hint.
func errText(err error) string {
	var ce *cli.Error
	if errors.As(err, &ce) {
		return ce.Msg
	}
	return err.Error()
}

// prepareSessions lists the other sessions on piyasa_db (the app is stopped:
// they are someone else's) and ends them with --terminate-sessions.
func (o *RestoreOptions) prepareSessions(ctx context.Context, st *restoreState) error {
	ss, err := o.sessions(ctx, app.DatabaseName)
	if err != nil {
		if ctx.Err() != nil {
			return st.fail(ctx, "before the load: piyasa_db was not changed.")
		}
		return st.fail(ctx, "cannot list the other sessions on %s: %v. piyasa_db was not changed.", app.DatabaseName, err)
	}
	if len(ss) == 0 {
		return nil
	}
	if !o.TerminateSessions {
		o.Infof("other sessions on %s: %s; a lock one of them holds makes the load wait up to --lock-timeout %s (--terminate-sessions ends them)\n",
			app.DatabaseName, sessionsText(ss), o.LockTimeout)
		return nil
	}
	o.Infof("ending %d other session(s) on %s: %s\n", len(ss), app.DatabaseName, sessionsText(ss))
	if err := o.terminateSessions(ctx, app.DatabaseName, ss); err != nil {
		if ctx.Err() != nil {
			return st.fail(ctx, "while ending the other sessions: piyasa_db was not changed.")
		}
		return st.fail(ctx, "cannot end the other sessions on %s: %v. piyasa_db was not changed.", app.DatabaseName, err)
	}
	return nil
}

// loadLive loads the backup over piyasa_db; after an interruption it finds
// out whether the load's transaction committed and says so.
func (o *RestoreOptions) loadLive(ctx context.Context, st *restoreState) error {
	p := st.plan
	if rev, err := o.alembicRevision(ctx, app.DatabaseName); err == nil {
		p.alembic = rev
	}
	o.Infof("restoring %s into %s\n", p.where, app.DatabaseName)
	xid, err := o.load(ctx, loadSpec{Loc: p.loc, Info: p.info, DB: app.DatabaseName, LockTimeout: o.LockTimeout})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		switch o.loadOutcome(ctx, xid, app.DatabaseName, p.info) {
		case outcomeCommitted:
			return st.fail(ctx, "at the end of the load: its transaction committed, piyasa_db holds the backup (not yet checked).")
		case outcomeRolledBack:
			return st.fail(ctx, "during the load: its transaction did not commit, piyasa_db holds what it held before.")
		}
		return st.fail(ctx, "during the load: whether its one transaction committed could not be told; piyasa_db holds either what it held before or the whole backup.")
	}
	var re *restoreError
	if !errors.As(err, &re) {
		return st.fail(ctx, "restore failed: %v. piyasa_db was not changed.", err)
	}
	if re.LockTimeout {
		others := "none is left"
		if ss, err := o.sessions(ctx, app.DatabaseName); err == nil && len(ss) > 0 {
			others = sessionsText(ss)
		}
		return st.fail(ctx, "restore failed: psql waited --lock-timeout %s for a lock another session holds (%s) and rolled its single transaction back: piyasa_db holds what it held before. Other sessions on %s: %s; --terminate-sessions ends them.",
			o.LockTimeout, re.msg, app.DatabaseName, others)
	}
	if re.RolledBack {
		return st.fail(ctx, "restore failed: %v. psql stopped at that error and rolled its single transaction back: piyasa_db holds what it held before.", err)
	}
	switch o.loadOutcome(ctx, xid, app.DatabaseName, p.info) {
	case outcomeCommitted:
		return st.fail(ctx, "restore failed: %v; but its transaction committed: piyasa_db holds the backup (not checked).", err)
	case outcomeRolledBack:
		return st.fail(ctx, "restore failed: %v; its transaction did not commit: piyasa_db holds what it held before.", err)
	}
	return st.fail(ctx, "restore failed: %v. Whether its single transaction committed is unknown: piyasa_db holds either its old content or the whole backup.", err)
}

// checkLive compares piyasa_db with the backup (row counts, no other table,
// sequences, Alembic revision) and says how the Alembic revision changed.
func (o *RestoreOptions) checkLive(ctx context.Context, st *restoreState) error {
	info := st.plan.info
	problems, err := o.verifyRestored(ctx, app.DatabaseName, info)
	if err != nil {
		if ctx.Err() != nil {
			return st.fail(ctx, "while checking the restored database: piyasa_db holds the backup, unchecked.")
		}
		return st.fail(ctx, "the restore finished but could not be checked: %v. piyasa_db holds the restored backup, unchecked.", err)
	}
	after, err := o.alembicRevision(ctx, app.DatabaseName)
	if err == nil && sortedRevs(after) != sortedRevs(info.AlembicRevision) {
		problems = append(problems, fmt.Sprintf("alembic_version holds %q, the backup %q", after, info.AlembicRevision))
	}
	if len(problems) > 0 {
		return st.fail(ctx, "piyasa_db was restored but does not match the backup: %s.", joinProblems(problems))
	}
	if before := st.plan.alembic; sortedRevs(before) != sortedRevs(after) {
		st.alembic = fmt.Sprintf("the Alembic revision goes back from %s to the backup's %s: run `kubectl piyasa migrate up -n %s --env %s` to migrate again (see `kubectl piyasa migrate status`)",
			orNone(before), orNone(after), o.Namespace, o.Env.Name)
		o.Infof("%s\n", st.alembic)
	}
	return nil
}

func orNone(rev string) string {
	if rev == "" {
		return "(none)"
	}
	return rev
}

// sortedRevs puts a comma-separated list of revisions in order.
func sortedRevs(s string) string {
	if s == "" {
		return ""
	}
	f := strings.Split(s, ",")
	sort.Strings(f)
	return strings.Join(f, ",")
}

// startApp scales api and worker back, waits until ready and removes the record.
func (o *RestoreOptions) startApp(ctx context.Context, st *restoreState) error {
	rs, info := st.plan.replicas, st.plan.info
	o.Infof("restored and checked (%d tables, row counts match, no other table, sequences continue); starting the app (%s)\n", len(info.Tables), replicasText(rs))
	if err := o.scaleAll(ctx, rs, false, o.Timeout); err != nil {
		if ctx.Err() != nil && !errors.As(err, new(*kube.TimeoutError)) {
			// The replicas are set (scaleAll sends its patches whole): the
			// record of the replicas before the restore has served.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scalePatchTimeout)
			defer cancel()
			_ = o.unmarkReplicas(uctx, rs)
			return o.stopped(ctx, fmt.Sprintf("while starting the app again: piyasa_db was restored and checked, and api and worker are scaled back (%s); their pods are still starting", replicasText(rs)),
				fmt.Sprintf("follow them with: kubectl piyasa deploy status -n %s", o.Namespace))
		}
		// The suite's one wording of a wait that failed (a timeout, pods the
		// quota refuses, a crash), after what the restore did.
		var e *cli.Error
		if errors.As(cli.WaitError(err, o.Namespace, "check it with: kubectl piyasa deploy status -n "+o.Namespace), &e) {
			return cli.Failedf("piyasa_db was restored and checked, but the app did not become ready: %s", e.Msg).WithHint("%s", e.Hint)
		}
		return cli.Failedf("piyasa_db was restored and checked, but the app did not become ready: %v", err).
			WithHint("check it with: kubectl piyasa deploy status -n %s", o.Namespace)
	}
	if err := o.unmarkReplicas(ctx, rs); err != nil {
		o.Infof("warning: could not remove the restore's annotations from api and worker: %v\n", err)
	}
	o.recordMeasure(ctx, app.LastDumpRestoreAnnotation, st.record.Since, info.RawBytes, 0)
	fmt.Fprintf(o.Out, "restored %s into %s in %s; app running (%s)", st.plan.where, app.DatabaseName, o.Namespace, replicasText(rs))
	if st.safety != "" {
		fmt.Fprintf(o.Out, "; safety backup %s", st.safety)
	}
	if st.alembic != "" {
		fmt.Fprintf(o.Out, "; alembic revision %s -> %s", orNone(st.plan.alembic), orNone(info.AlembicRevision))
	}
	fmt.Fprintln(o.Out)
	return nil
}

// fail words a failure (or an interruption) after the app was stopped: the
// app stays scaled down; the message says the database's state and the
// hint how to finish the restore, go back, or restart the app as it is.
func (st *restoreState) fail(ctx context.Context, format string, args ...any) error {
	o := st.o
	state := "left scaled down"
	if st.stopping {
		state = "left as they are, possibly partly scaled down"
	}
	rs := st.plan.replicas
	msg := fmt.Sprintf(format, args...) + fmt.Sprintf(" api and worker are %s (were %s).", state, replicasText(rs))
	hint := "to finish the restore, run it again: " + st.record.FinishCommand(o.Namespace)
	if o.FromOtherEnv {
		hint += " --from-other-env"
	}
	if undo := st.record.UndoCommand(o.Namespace); undo != "" {
		hint += "; to go back to the database as it was: " + undo + " (it restarts the app)"
	} else {
		hint += "; no safety backup was taken"
	}
	hint += "; to restart the app as it is:"
	for _, r := range rs {
		hint += fmt.Sprintf(" kubectl scale -n %s %s/%s --replicas=%d;", o.Namespace, strings.ToLower(r.Workload.Kind), r.Workload.Name, r.Replicas)
	}
	hint = strings.TrimSuffix(hint, ";")
	if ctx.Err() != nil {
		return o.stopped(ctx, msg, hint)
	}
	return cli.Failedf("%s", msg).WithHint("%s", hint)
}
