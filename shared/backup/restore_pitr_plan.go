package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// pitrPlan is what a point-in-time restore found before changing anything.
type pitrPlan struct {
	live livePlan
	// base is the base backup laid down, at baseLoc.
	base    *BackupInfo
	baseLoc Location
	// wal are every WAL file known; copyIn those only --from holds, needed.
	wal    []walFile
	copyIn []walFile
	// walFrom and walTo bound the segments replayed.
	walFrom, walTo string
	// windowStart and windowEnd bound the recoverable times.
	windowStart, windowEnd time.Time
	// freeKB is the data volume's free space, dataKB the data directory's size, needKB what the restore needs.
	freeKB, dataKB, needKB int64
	// timeline is the running server's timeline before the restore (0: unknown).
	timeline uint32
	// lock describes the database lock's holder ("" when free).
	lock string
	// archiveRead is false when the archive volume could not be listed.
	archiveRead bool
	// jobPod is the restore Job's pod the archive volume was read through
	// (postgres at 0 replicas: a restore left unfinished); the lay-down uses it.
	jobPod *corev1.Pod
	// unfinished says the data directory is an unfinished restore's work
	// (it is removed; the safety copy stays the one that restore kept).
	unfinished bool
	// postgres is the postgres Deployment's replicas (-1: unknown).
	postgres int32
	// measured is the last measured restore of the namespace (nil: none).
	measured *app.MeasuredRestore
}

// execText runs cmd in a pod's container and returns its stdout; a failure
// carries the last line of its stderr.
func (b *base) execText(ctx context.Context, pod *corev1.Pod, container string, cmd []string, stdin io.Reader) (string, error) {
	ex, err := b.executor()
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	stderr := &StderrCollector{}
	if err := ex.Exec(ctx, pod, container, cmd, stdin, &out, stderr); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return out.String(), fmt.Errorf("%s %s", output.FirstLine(err.Error()), stderr.Last())
	}
	return out.String(), nil
}

// planPITR finds the base backup, the WAL and the space, and refuses
// (exit 2) what cannot be restored, before anything changes.
func (o *RestoreOptions) planPITR(ctx context.Context) (_ *pitrPlan, err error) {
	f := &o.pitr
	p := &pitrPlan{postgres: -1}
	defer func() {
		if err != nil { // a refusal leaves no Job behind
			o.dropRestoreJob(ctx, p.jobPod)
		}
	}()
	p.live.record = o.pitrRecord()
	p.live.where = p.live.record
	bases, err := o.baseBackups(ctx)
	if err != nil {
		return nil, err
	}
	if len(bases) == 0 && f.inCluster {
		return nil, cli.Usagef("the backup volume holds no good base backup of namespace %s (backup schedule set --physical; or give --from): nothing was changed", o.Namespace)
	}
	if len(bases) == 0 {
		return nil, cli.Usagef("%s holds no base backup of namespace %s (backup create --physical): nothing was changed", f.from.Location(""), o.Namespace)
	}
	if err := o.readServer(ctx, p); err != nil {
		return nil, err
	}
	var off []walFile
	var encrypted int
	if !f.inCluster {
		off, encrypted, err = listOffClusterWAL(ctx, f.from, o.Namespace, o.ids != nil)
	}
	if encrypted > 0 && o.ids == nil {
		o.Infof("note: %d encrypted WAL files (.age) under %s are not used: give --identity FILE to read them\n", encrypted, f.from.Location(offClusterWALDir(o.Namespace)))
	}
	if err != nil {
		return nil, cli.Failedf("cannot list the WAL under %s: %v; nothing was changed", f.from.Location(offClusterWALDir(o.Namespace)), err)
	}
	archive := p.wal
	p.wal = mergeWAL(archive, off)
	if err := p.choose(bases, f.target, f.ToLatest); err != nil {
		return nil, err
	}
	if err := p.checkChain(f.target, f.ToLatest); err != nil {
		return nil, err
	}
	if err := o.checkBaseKey(ctx, p); err != nil {
		return nil, err
	}
	p.needKB = p.base.RawBytes/1024 + p.base.RawBytes/10240 + 16*1024
	if f.NoSafetyCopy || p.unfinished {
		p.needKB = max(0, p.needKB-p.dataKB)
	}
	if p.live.replicas, err = o.recordReplicas(ctx); err != nil {
		return nil, err
	}
	cs, err := o.Clientset()
	if err != nil {
		return nil, err
	}
	p.measured = o.lastMeasured(ctx, app.LastRestoreAnnotation)
	if info, _, err := oplock.DescribeLock(ctx, cs, o.Namespace, o.Env.MigrationLease(), o.Now()); err == nil && info.Holder != "" {
		p.lock = info.Describe()
	}
	return p, nil
}

// pitrRecord is how the restore names itself in the lock, the restore record
// and the command that finishes it.
func (o *RestoreOptions) pitrRecord() string {
	what := "--to-latest"
	if !o.pitr.ToLatest {
		what = "--to-time " + o.pitr.target.Format(time.RFC3339Nano)
	}
	if o.pitr.inCluster {
		return what
	}
	return what + " --from " + o.pitr.from.Location("")
}

// baseRef is one base backup found under --from.
type baseRef struct {
	Loc  Location
	Info *BackupInfo
}

// baseBackups reads the BackupInfo of every base backup of the namespace under --from.
func (o *RestoreOptions) baseBackups(ctx context.Context) ([]baseRef, error) {
	if o.pitr.inCluster {
		return o.inClusterBases(ctx)
	}
	t := o.pitr.from
	entries, err := t.List(ctx)
	if err != nil {
		return nil, cli.Failedf("cannot list %s: %v; nothing was changed", t.Location(""), err)
	}
	var out []baseRef
	for _, e := range entries {
		raw, err := t.ReadMeta(ctx, e.Name)
		if err != nil {
			continue
		}
		info, err := ParseInfo(raw)
		if err != nil || info.Format != FormatBaseBackup || info.WAL == nil {
			continue
		}
		if info.Namespace != o.Namespace && !o.FromOtherEnv {
			continue
		}
		out = append(out, baseRef{Loc: Location{Target: t, Name: e.Name}, Info: info})
	}
	return out, nil
}

// readServer lists the archive volume and the space through the running
// postgres pod, and reads the server's timeline. With postgres at 0 replicas
// (a restore left unfinished) it reads them through the restore Job's pod.
// A postgres pod that does not answer (the data directory lost) leaves the
// archive unread: said in the plan.
func (o *RestoreOptions) readServer(ctx context.Context, p *pitrPlan) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	pod, container, err := PostgresPod(ctx, cs, o.Namespace)
	if err != nil {
		if apierrors.IsForbidden(err) || ctx.Err() != nil {
			return err
		}
		if p.postgres = o.postgresReplicasNow(ctx); p.postgres == 0 {
			o.Infof("postgres is at 0 replicas: reading the WAL archive volume through a restore Job's pod\n")
			if p.jobPod, err = o.startRestoreJob(ctx); err != nil {
				return cli.Failedf("cannot read the WAL archive volume: %v; nothing was changed", err)
			}
			pod, container = p.jobPod, app.RestoreContainer
		} else {
			o.Infof("note: %v: the WAL archive volume is not read, only --from\n", err)
			return nil
		}
	}
	out, err := o.execText(ctx, pod, container, []string{"sh", "-c", archiveListScript, "piyasa-pitr", app.RestoreMarker}, nil)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		o.Infof("note: cannot list the WAL archive volume through pod %s (%v): only --from is read\n", pod.Name, err)
		return nil
	}
	var d dataFacts
	p.wal, d = parseArchiveList(out)
	p.freeKB, p.dataKB, p.unfinished = d.FreeKB, d.DataKB, d.Unfinished
	p.archiveRead = true
	if p.jobPod != nil {
		return nil
	}
	if tl, err := o.execText(ctx, pod, container, PsqlCommand("postgres", "SELECT timeline_id FROM pg_control_checkpoint()"), nil); err == nil {
		n, _ := strconv.ParseUint(strings.TrimSpace(tl), 10, 32)
		p.timeline = uint32(n)
	}
	return nil
}

// postgresReplicasNow is the postgres Deployment's replicas (-1: unknown).
func (o *RestoreOptions) postgresReplicasNow(ctx context.Context) int32 {
	cs, err := o.Clientset()
	if err != nil {
		return -1
	}
	d, err := cs.AppsV1().Deployments(o.Namespace).Get(ctx, o.Env.ObjectName(app.Postgres), metav1.GetOptions{})
	if err != nil || d.Spec.Replicas == nil {
		return -1
	}
	return *d.Spec.Replicas
}

// choose takes the newest base backup that ended before target (the newest
// of all with --to-latest) and sets the recovery window.
func (p *pitrPlan) choose(bases []baseRef, target time.Time, latest bool) error {
	sort.Slice(bases, func(i, j int) bool { return bases[i].Info.EndTime.Before(bases[j].Info.EndTime) })
	p.windowStart = bases[0].Info.EndTime
	for _, f := range p.wal {
		if walarchive.IsSegmentName(f.Name) && f.Time.After(p.windowEnd) {
			p.windowEnd = f.Time
		}
	}
	if p.windowEnd.Before(p.windowStart) {
		p.windowEnd = p.windowStart
	}
	window := fmt.Sprintf("the recovery window is %s to %s", p.windowStart.UTC().Format(time.RFC3339), p.windowEnd.UTC().Format(time.RFC3339))
	if !latest && (target.Before(p.windowStart) || target.After(p.windowEnd)) {
		return cli.Usagef("--to-time %s is outside what can be restored: %s (the oldest base backup's end to the last WAL archived); nothing was changed",
			target.UTC().Format(time.RFC3339Nano), window)
	}
	for _, b := range bases {
		if latest || b.Info.EndTime.Before(target) {
			p.base, p.baseLoc = b.Info, b.Loc
		}
	}
	return nil
}

// checkChain checks that every WAL segment from the base backup's start to
// the one that covers the target (every one there is with --to-latest) is
// there, and names the first one missing.
func (p *pitrPlan) checkChain(target time.Time, latest bool) error {
	from, err := walarchive.ParseSegment(p.base.WAL.StartSegment)
	if err != nil {
		return cli.Failedf("base backup %s: %v", p.baseLoc.Name, err)
	}
	names := make([]string, 0, len(p.wal))
	for _, f := range p.wal {
		names = append(names, f.Name)
	}
	c := walarchive.CheckChain(from, names)
	if !c.Found {
		return cli.Usagef("WAL segment %s, the start of base backup %s, is in neither the archive volume nor %s: the restore cannot begin; nothing was changed",
			from, p.baseLoc.Name, p.baseLoc.Target.Location(offClusterWALDir(p.base.Namespace)))
	}
	need := c.Newest
	if !latest {
		need = p.coveringSegment(from, target, c.Newest)
	}
	for _, g := range c.Gaps {
		if g.Missing.No() <= need.No() {
			return cli.Usagef("WAL segment %s is missing (the archive goes from %s to %s): WAL cannot be replayed past %s, %s; nothing was changed",
				g.Missing, g.After, g.Resume, g.After, p.reachText(g.After)).
				WithHint("find the segment (backup wal sync copies it off the cluster), or restore to a time before the gap")
		}
	}
	p.walFrom, p.walTo = from.Name(), need.Name()
	// What only --from holds is copied in through the unbroken run's end:
	// an off-cluster file's time is when it was synced, later than its
	// archiving, so the segment that covers the target may be a later one.
	last := max(c.Last.No(), need.No())
	for _, f := range p.wal {
		s, err := walarchive.ParseSegment(f.Name)
		if !f.InArchive && (err != nil || (s.No() >= from.No() && s.No() <= last)) {
			p.copyIn = append(p.copyIn, f)
			if f.Name == need.Name() && c.Last.No() > need.No() {
				p.walTo = c.Last.Name() // replay stops at the target, somewhere up to there
			}
		}
	}
	return nil
}

// coveringSegment is the first segment from `from` on archived at or after
// target: its WAL reaches past target.
func (p *pitrPlan) coveringSegment(from walarchive.Segment, target time.Time, newest walarchive.Segment) walarchive.Segment {
	best := newest
	for _, f := range p.wal {
		s, err := walarchive.ParseSegment(f.Name)
		if err != nil || s.No() < from.No() || f.Time.Before(target) {
			continue
		}
		if s.No() < best.No() {
			best = s
		}
	}
	return best
}

// reachText says until when the WAL before a gap reaches.
func (p *pitrPlan) reachText(last walarchive.Segment) string {
	for _, f := range p.wal {
		if f.Name == last.Name() {
			return "archived " + f.Time.UTC().Format(time.RFC3339)
		}
	}
	return "the base backup's start"
}

// printPlan writes the plan (--dry-run prints it on stdout and stops).
func (o *RestoreOptions) printPlan(w io.Writer, p *pitrPlan) {
	target := "the last WAL archived (--to-latest)"
	if !o.pitr.ToLatest {
		target = o.pitr.target.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(w, "point-in-time restore of %s in namespace %s to %s\n", app.DatabaseName, o.Namespace, target)
	fmt.Fprintf(w, "  recovery window:  %s to %s\n", p.windowStart.UTC().Format(time.RFC3339), p.windowEnd.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  base backup:      %s (ended %s, %s, timeline %d)\n", p.baseLoc.Target.Location(p.baseLoc.Name),
		p.base.EndTime.UTC().Format(time.RFC3339), HumanBytes(p.base.RawBytes), p.base.WAL.Timeline)
	fmt.Fprintf(w, "  WAL replayed:     %s to %s (%d to copy into the archive volume from %s)\n", p.walFrom, p.walTo, len(p.copyIn), o.pitr.from.Location(offClusterWALDir(o.Namespace)))
	if !p.archiveRead {
		fmt.Fprintf(w, "  WAL archive volume: not read (no postgres pod answered); only --from is used\n")
	}
	pg := "postgres=1"
	if p.postgres == 0 {
		pg = "postgres (at 0 already)"
	}
	fmt.Fprintf(w, "  stopped:          %s %s, started again after\n", replicasText(p.live.replicas), pg)
	safety := "kept as $PGDATA" + app.SafetyCopySuffix + "<time> (the safety copy)"
	switch {
	case p.archiveRead && p.dataKB == 0:
		safety = "none: nothing to keep"
	case p.unfinished:
		safety = "an unfinished restore's work: removed (the safety copy that restore kept stays the one)"
	case o.pitr.NoSafetyCopy:
		safety = "removed (--no-safety-copy)"
	}
	fmt.Fprintf(w, "  data directory:   %s; %s\n", HumanBytes(p.dataKB*1024), safety)
	fmt.Fprintf(w, "  space:            %s needed, %s free on the data volume\n", HumanBytes(p.needKB*1024), HumanBytes(p.freeKB*1024))
	fmt.Fprintf(w, "  expected duration: %s\n", p.durationText())
	lock := "free"
	if p.lock != "" {
		lock = "held: " + p.lock
	}
	fmt.Fprintf(w, "  database lock:    %s\n", lock)
}

// checkBaseKey reads the age header of an encrypted base backup before
// anything changes: without --identity, or with none that fits, the restore
// is refused (exit 2). A base backup that is not encrypted passes.
func (o *RestoreOptions) checkBaseKey(ctx context.Context, p *pitrPlan) error {
	if p.base.Encryption == nil {
		return nil
	}
	where := p.baseLoc.Target.Location(p.baseLoc.Name)
	if o.ids == nil {
		return keyError(&NeedIdentityError{Where: where, Recipients: p.base.Encryption.Recipients}, cli.ExitUsage, "; nothing was changed")
	}
	r, err := p.baseLoc.Target.Open(ctx, p.baseLoc.Name)
	if err != nil {
		return cli.Failedf("cannot read %s: %v; nothing was changed", where, err)
	}
	defer r.Close()
	if _, err := o.ids.Decrypt(r, where, p.base.Encryption); err != nil {
		if ke := keyError(err, cli.ExitUsage, "; nothing was changed"); ke != nil {
			return ke
		}
		return cli.Failedf("%v; nothing was changed", err)
	}
	return nil
}
