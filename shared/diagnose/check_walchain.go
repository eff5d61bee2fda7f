package diagnose

import (
	"context"
	"fmt"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/recovery"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// firstPostgres is the first running PostgreSQL pod, probed, and its
// container; ok is false when none runs (probeArchiving says so, once).
func (r *runner) firstPostgres() (p PodSummary, container string, ok bool) {
	pods := r.runningPods(app.Postgres)
	if len(pods) == 0 {
		return PodSummary{}, "", false
	}
	return pods[0], probeContainer(pods[0], app.Postgres), true
}

// probeWALChain lists the WAL archive in the first PostgreSQL pod (one exec)
// and checks it with shared/recovery, as `backup status` does: a gap from
// its oldest segment (PIY980) means no point-in-time restore can cross it;
// the newest base backup's start segment gone (PIY982) means none can start
// from the cluster's archive at all.
func (r *runner) probeWALChain(ctx context.Context) {
	gaps, reach := r.begin("PIY980", KindPods), r.begin("PIY982", KindPods)
	if !gaps && !reach {
		return
	}
	p, ctr, ok := r.firstPostgres()
	if !ok {
		return
	}
	out, err := r.probeExec(ctx, p.Name, ctr, recovery.ListCommand())
	files, perr := recovery.ParseList([]byte(out))
	if perr != nil {
		if err == nil {
			err = perr
		}
		r.probeCouldNot(app.Postgres, p.Name, "listing the WAL archive ($"+app.EnvWALArchiveDir+")", err,
			r.probeExecFix(p.Name, ctr, `sh -c 'ls -l "$`+app.EnvWALArchiveDir+`"'`))
		return
	}
	if gaps {
		r.walGaps(p, files)
	}
	if reach {
		r.walReach(p, []byte(out), files)
	}
}

// walGaps reports the gaps of the archive from its oldest segment (PIY980).
func (r *runner) walGaps(p PodSummary, files []recovery.ArchivedFile) {
	a := recovery.ReadArchive(files)
	if len(a.Gaps) == 0 {
		return
	}
	details := make([]string, 0, len(a.Gaps))
	for _, g := range a.Gaps {
		details = append(details, g.String())
	}
	r.add("PIY980", app.Postgres, podObj(p.Name),
		fmt.Sprintf("the WAL archive of pod %s has %d gap(s) between %s and %s: no point-in-time restore crosses the first, %s", p.Name, len(a.Gaps), a.Oldest, a.Newest, a.Gaps[0].Missing),
		details,
		fmt.Sprintf("take a base backup now (kubectl piyasa backup create --physical -n %s); see the whole chain: kubectl piyasa backup status -n %s --to s3://BUCKET/PREFIX", r.s.Namespace, r.s.Namespace))
}

// walReach reports an archive that no longer holds the start segment of the
// newest base backup PostgreSQL archived a backup history file for (PIY982):
// the retention keeps base backups to restore from, and from the cluster's
// archive none of them can be replayed. An archive that never saw a base
// backup is PIY981's and backup status's to report.
func (r *runner) walReach(p PodSummary, out []byte, files []recovery.ArchivedFile) {
	start, label, ok := recovery.NewestBaseStart(out)
	if !ok {
		return
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	if walarchive.CheckChain(start, names).Found {
		return
	}
	a := recovery.ReadArchive(files)
	oldest := "no segment"
	if a.Oldest != "" {
		oldest = a.Oldest + " (archived " + a.OldestTime.UTC().Format("2006-01-02T15:04:05Z") + ")"
	}
	r.add("PIY982", app.Postgres, podObj(p.Name),
		fmt.Sprintf("the WAL archive of pod %s no longer holds %s, where the newest base backup starts (%s): no point-in-time restore can start from this cluster's archive; its oldest segment is %s", p.Name, start.Name(), label, oldest),
		[]string{"backup history file " + label, fmt.Sprintf("%d files in the archive", len(files))},
		fmt.Sprintf("take a base backup now: kubectl piyasa backup create --physical -n %s (or backup schedule run-now --physical); if backup wal prune --force removed the segments, the place still has them: kubectl piyasa backup status -n %s --to s3://BUCKET/PREFIX", r.s.Namespace, r.s.Namespace))
}
