package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// pitrState is what a point-in-time restore has done so far, and words its failures.
type pitrState struct {
	o    *RestoreOptions
	plan *pitrPlan
	// live is the state the dump restore's steps (stopApp) keep.
	live restoreState
	// replaced is true once the data directory was moved away (or removed).
	replaced bool
	// safety is the safety copy's path in the volume ("" when none).
	safety string
	owner  string
	// timeline is the timeline PostgreSQL came out of recovery on.
	timeline uint32
	rows     string
	// began is when the restore began stopping the app.
	began time.Time
}

// runPITR restores in place to a point in time: plan (refusing what cannot
// be restored), confirm, lock, stop the app and PostgreSQL, lay down the
// base backup with recovery set, start PostgreSQL, check, start the app.
func (o *RestoreOptions) runPITR(ctx context.Context) error {
	p, err := o.planPITR(ctx)
	if p != nil {
		// The Job the plan read the archive through, unless the lay-down took it.
		defer func() { o.dropRestoreJob(ctx, p.jobPod) }()
	}
	if err != nil {
		if ctx.Err() != nil {
			return o.stopped(ctx, "while planning: piyasa_db and the app were not touched", "")
		}
		return err
	}
	if o.pitr.dryRun != cli.DryRunNone && o.pitr.dryRun != "" {
		o.printPlan(o.Out, p)
		fmt.Fprintln(o.Out, "dry run: nothing was changed")
		return nil
	}
	o.printPlan(o.ErrOut, p)
	if p.freeKB > 0 && p.needKB > p.freeKB {
		e := cli.Usagef("the data volume has %s free, the restore needs %s: nothing was changed", HumanBytes(p.freeKB*1024), HumanBytes(p.needKB*1024))
		if o.pitr.NoSafetyCopy {
			return e.WithHint("grow the volume %s", o.Env.ObjectName(app.PostgresPVC))
		}
		return e.WithHint("the current data directory (%s) is kept as the safety copy: grow the volume %s, or pass --no-safety-copy to remove it instead",
			HumanBytes(p.dataKB*1024), o.Env.ObjectName(app.PostgresPVC))
	}
	if err := o.confirm(p.base, p.live.where); err != nil {
		return err
	}
	lock, err := o.takeLock(ctx, &p.live)
	if err != nil {
		return err
	}
	defer o.holdLock(ctx, lock)()
	st := &pitrState{o: o, plan: p, began: o.Now()}
	st.live = restoreState{o: o, plan: &p.live}
	steps := []func(context.Context) error{st.stopApp, st.stopPostgres, st.layDown, st.startPostgres, st.check, st.startApp}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// postgresReplicas is the postgres Deployment, run with one replica.
func (o *RestoreOptions) postgresReplicas() []appReplicas {
	return []appReplicas{{Workload: o.workload(app.Postgres), Replicas: 1}}
}

func (st *pitrState) stopApp(ctx context.Context) error { return st.o.stopApp(ctx, &st.live) }

// stopPostgres scales postgres to 0 and waits until its pod is gone.
func (st *pitrState) stopPostgres(ctx context.Context) error {
	st.o.Infof("stopping PostgreSQL (postgres=0)\n")
	if err := st.o.scaleAll(ctx, st.o.postgresReplicas(), true, st.o.Timeout); err != nil {
		return st.fail(ctx, "PostgreSQL could not be stopped: %v. piyasa_db was not changed.", err)
	}
	return nil
}

// layDown runs the restore Job (the one the plan read the archive volume
// through, if any): the safety copy, the base backup, the WAL only --from
// holds, the recovery settings; then deletes the Job.
func (st *pitrState) layDown(ctx context.Context) error {
	o, p := st.o, st.plan
	pod := p.jobPod
	if pod == nil {
		var err error
		if pod, err = o.startRestoreJob(ctx); err != nil {
			return st.fail(ctx, "the restore Job did not start: %v. The data directory was not changed.", err)
		}
	}
	p.jobPod = nil
	if err := st.layDownIn(ctx, pod); err != nil {
		o.dropRestoreJob(ctx, pod)
		return err
	}
	if err := o.deleteRestoreJob(ctx, pod); err != nil {
		return st.fail(ctx, "%v.", err)
	}
	return nil
}

// layDownIn does the lay-down's steps in the restore Job's pod.
func (st *pitrState) layDownIn(ctx context.Context, pod *corev1.Pod) error {
	o, p := st.o, st.plan
	c := app.RestoreContainer
	mode, suffix := "keep", app.SafetyCopySuffix+o.Now().UTC().Format("20060102T150405Z")
	if o.pitr.NoSafetyCopy {
		mode = "remove"
	}
	out, err := o.execText(ctx, pod, c, []string{"sh", "-c", pitrPrepareScript, "piyasa-pitr", mode, suffix, app.RestoreMarker}, nil)
	if err != nil {
		return st.fail(ctx, "cannot set the data directory aside in pod %s: %v.", pod.Name, err)
	}
	f := strings.Fields(out)
	if len(f) < 2 {
		return st.fail(ctx, "setting the data directory aside in pod %s said %q.", pod.Name, output.FirstLine(out))
	}
	st.replaced, st.owner = true, f[0]
	if len(f) > 2 {
		st.safety = f[2]
	}
	switch f[1] {
	case "kept":
		o.Infof("kept the data directory as %s (the safety copy)\n", st.safety)
	case "removed":
		o.Infof("removed the data directory (--no-safety-copy)\n")
	case "absent":
		o.Infof("there was no data directory to keep\n")
	case "rerun":
		o.Infof("removed what an unfinished restore had laid down; the safety copy stays %s\n", orText(st.safety, "(none)"))
	}
	o.Infof("laying down base backup %s\n", p.baseLoc.Target.Location(p.baseLoc.Name))
	if err := o.sendBase(ctx, pod, p, st.owner); err != nil {
		return st.fail(ctx, "the base backup could not be laid down: %v.", err)
	}
	for _, f := range p.copyIn {
		if err := o.sendWAL(ctx, pod, f); err != nil {
			return st.fail(ctx, "WAL %s could not be copied into the archive volume: %v.", f.Name, err)
		}
	}
	target := ""
	if !o.pitr.ToLatest {
		target = pgTime(o.pitr.target)
	}
	if _, err := o.execText(ctx, pod, c, []string{"sh", "-c", pitrRecoveryScript, "piyasa-pitr", target, st.owner}, nil); err != nil {
		return st.fail(ctx, "cannot write the recovery settings: %v.", err)
	}
	return nil
}

// orText is s, or alt when s is empty.
func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// sendBase streams the base backup's tar (decrypted with --identity when
// encrypted, and decompressed here) into the Job's pod, framed by its byte
// count, and checks the counts and sums of both ends.
func (o *RestoreOptions) sendBase(ctx context.Context, pod *corev1.Pod, p *pitrPlan, owner string) error {
	r, err := p.baseLoc.Target.Open(ctx, p.baseLoc.Name)
	if err != nil {
		return err
	}
	defer r.Close()
	stored := NewCounter()
	clear, err := o.ids.Decrypt(io.TeeReader(r, stored), p.baseLoc.Target.Location(p.baseLoc.Name), p.base.Encryption)
	if err != nil {
		return err
	}
	dec, err := Compression(p.base.Compression).NewDecompressor(clear)
	if err != nil {
		return err
	}
	defer dec.Close()
	raw := NewCounter()
	ex, err := o.executor()
	if err != nil {
		return err
	}
	stderr := &StderrCollector{}
	n := p.base.RawBytes
	cmd := []string{"sh", "-c", pitrLayScript, "piyasa-pitr", strconv.FormatInt(n, 10), owner}
	execErr := ex.Exec(ctx, pod, app.RestoreContainer, cmd, io.TeeReader(io.LimitReader(dec, n), raw), io.Discard, stderr)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	_, _ = io.Copy(stored, r) // the rest of the stored file, for its sum
	status := ""
	for _, l := range stderr.Lines() {
		if strings.HasPrefix(l, pitrStatusMarker) {
			status = l
		}
	}
	want := fmt.Sprintf("%s rc=0 bytes=%d sha256=%s", pitrStatusMarker, n, p.base.RawSHA256)
	switch {
	case stored.Sum() != p.base.StoredSHA256:
		return fmt.Errorf("%s does not match its sha256 (the file changed or is damaged)", p.baseLoc.Name)
	case status != want:
		if status == "" {
			status = fmt.Sprint(execErr, " ", stderr.Last())
		}
		return fmt.Errorf("the pod reports %q, want rc=0 bytes=%d and the backup's sha256", status, n)
	}
	return nil
}

// sendWAL copies one WAL file that only --from holds into the archive volume.
func (o *RestoreOptions) sendWAL(ctx context.Context, pod *corev1.Pod, f walFile) error {
	r, err := o.pitr.from.Open(ctx, path.Join(offClusterWALDir(o.Namespace), f.Name))
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := []string{"sh", "-c", pitrWALScript, "piyasa-pitr", f.Name, strconv.FormatInt(f.Size, 10), f.SHA256}
	_, err = o.execText(ctx, pod, app.RestoreContainer, cmd, io.LimitReader(r, f.Size))
	return err
}

// startPostgres scales postgres to 1 and waits until it is ready.
func (st *pitrState) startPostgres(ctx context.Context) error {
	st.o.Infof("starting PostgreSQL (postgres=1): it replays the WAL to %s\n", st.plan.walTo)
	if err := st.o.scaleAll(ctx, st.o.postgresReplicas(), false, st.o.Timeout); err != nil {
		return st.fail(ctx, "PostgreSQL did not start on the restored data directory: %v (see kubectl logs -n %s deploy/%s).",
			err, st.o.Namespace, st.o.Env.ObjectName(app.Postgres))
	}
	return nil
}

// check waits until PostgreSQL is out of recovery, checks that it moved to
// a new timeline, removes the recovery settings and counts every table's rows.
func (st *pitrState) check(ctx context.Context) error {
	o := st.o
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	for {
		pod, c, err := PostgresPod(ctx, cs, o.Namespace)
		if err == nil {
			out, err := o.execText(ctx, pod, c, PsqlCommand("postgres", "SELECT pg_is_in_recovery(), substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"), nil)
			if f := strings.Fields(out); err == nil && len(f) == 2 && f[0] == "f" {
				tl, _ := strconv.ParseUint(f[1], 16, 32)
				st.timeline = uint32(tl)
				return st.finishCheck(ctx, pod, c)
			}
		}
		select {
		case <-ctx.Done():
			return st.fail(ctx, "PostgreSQL did not leave recovery: the data directory holds the base backup with recovery set.")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// rowsSQL counts every table's rows in the app's schemas.
const rowsSQL = `SELECT coalesce(string_agg(format('%s=%s', t, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %s', t), false, true, '')))[1]), ' ' ORDER BY t), '')
FROM (SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema') s`

func (st *pitrState) finishCheck(ctx context.Context, pod *corev1.Pod, c string) error {
	o, p := st.o, st.plan
	if st.timeline <= p.base.WAL.Timeline || (p.timeline > 0 && st.timeline <= p.timeline) {
		return st.fail(ctx, "PostgreSQL left recovery on timeline %d, not a new one (the base backup's is %d): the restore did not take place as planned.", st.timeline, p.base.WAL.Timeline)
	}
	cmd := []string{"sh", "-c", psqlScript, "piyasa-psql", "--dbname=postgres"}
	for _, s := range pitrResetSettings {
		cmd = append(cmd, "-c", "ALTER SYSTEM RESET "+s)
	}
	if _, err := o.execText(ctx, pod, c, append(cmd, "-c", "SELECT pg_reload_conf()"), nil); err != nil {
		return st.fail(ctx, "PostgreSQL was restored (timeline %d) but its recovery settings could not be removed: %v.", st.timeline, err)
	}
	// The data directory is the database now: a later restore keeps it.
	if _, err := o.execText(ctx, pod, c, []string{"sh", "-c", `rm -f "$PGDATA/$1"`, "piyasa-pitr", app.RestoreMarker}, nil); err != nil {
		return st.fail(ctx, "PostgreSQL was restored (timeline %d) but the restore's marker %s could not be removed from its data directory: %v.", st.timeline, app.RestoreMarker, err)
	}
	rows, err := o.execText(ctx, pod, c, PsqlCommand(app.DatabaseName, rowsSQL), nil)
	if err != nil {
		return st.fail(ctx, "PostgreSQL was restored (timeline %d) but the tables of %s could not be counted: %v.", st.timeline, app.DatabaseName, err)
	}
	st.rows = strings.TrimSpace(rows)
	o.Infof("PostgreSQL is out of recovery on timeline %d; rows: %s\n", st.timeline, st.rows)
	return nil
}

// startApp scales api and worker back and waits until ready.
func (st *pitrState) startApp(ctx context.Context) error {
	o, rs := st.o, st.plan.live.replicas
	o.Infof("starting the app (%s)\n", replicasText(rs))
	if err := o.scaleAll(ctx, rs, false, o.Timeout); err != nil {
		if ctx.Err() != nil && !errors.As(err, new(*kube.TimeoutError)) {
			_ = o.unmarkReplicas(context.WithoutCancel(ctx), rs)
			return o.stopped(ctx, "while starting the app again: piyasa_db was restored and checked; api and worker are scaled back, their pods starting",
				"follow them with: kubectl piyasa deploy status -n "+o.Namespace)
		}
		return cli.Failedf("piyasa_db was restored and checked, but the app did not become ready: %v", err).
			WithHint("check it with: kubectl piyasa deploy status -n %s", o.Namespace)
	}
	if err := o.unmarkReplicas(ctx, rs); err != nil {
		o.Infof("warning: could not remove the restore's annotations from api and worker: %v\n", err)
	}
	took := st.recordMeasure(ctx)
	what := "the last WAL archived"
	if !o.pitr.ToLatest {
		what = o.pitr.target.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(o.Out, "restored %s in %s to %s (base backup %s, WAL %s to %s, timeline %d); app running (%s), stopped for %s",
		app.DatabaseName, o.Namespace, what, st.plan.baseLoc.Name, st.plan.walFrom, st.plan.walTo, st.timeline, replicasText(rs), took)
	if st.safety != "" {
		fmt.Fprintf(o.Out, "; safety copy %s", st.safety)
	}
	fmt.Fprintln(o.Out)
	return nil
}

// fail words a failure (or an interruption) after the app was stopped: the
// app stays scaled down; the message says the data directory's state and
// the hint how to finish the restore, go back, or restart as it is.
func (st *pitrState) fail(ctx context.Context, format string, args ...any) error {
	o := st.o
	rs := st.plan.live.replicas
	msg := fmt.Sprintf(format, args...) + fmt.Sprintf(" api and worker are left scaled down (were %s).", replicasText(rs))
	pg := o.Env.ObjectName(app.Postgres)
	hint := "to finish the restore, run it again: " + st.live.record.FinishCommand(o.Namespace)
	switch {
	case st.safety != "":
		hint += fmt.Sprintf("; to go back to the data directory as it was: with postgres scaled to 0, in a pod mounting %s run mv %s %s.failed && mv %s %s, then scale postgres to 1",
			o.Env.ObjectName(app.PostgresPVC), app.PGDataDir, app.PGDataDir, st.safety, app.PGDataDir)
	case st.replaced:
		hint += "; the old data directory was removed (--no-safety-copy)"
	default:
		hint += fmt.Sprintf("; the data directory was not changed: to restart as it is: kubectl scale -n %s deployment/%s --replicas=1;", o.Namespace, pg)
		for _, r := range rs {
			hint += fmt.Sprintf(" kubectl scale -n %s %s/%s --replicas=%d;", o.Namespace, strings.ToLower(r.Workload.Kind), r.Workload.Name, r.Replicas)
		}
		hint = strings.TrimSuffix(hint, ";")
	}
	if ctx.Err() != nil {
		return o.stopped(ctx, msg, hint)
	}
	return cli.Failedf("%s", msg).WithHint("%s", hint)
}
