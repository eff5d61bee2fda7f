package diagnose

import (
	"context"
	"fmt"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/recovery"
)

// probeWALChain lists the WAL archive in the first PostgreSQL pod and checks
// its chain from the oldest segment with shared/recovery, as `backup status`
// does (PIY980): a gap means no point-in-time restore can cross it.
func (r *runner) probeWALChain(ctx context.Context) {
	if !r.begin("PIY980", KindPods) {
		return
	}
	pods := r.runningPods(app.Postgres)
	if len(pods) == 0 {
		return // probeArchiving already said that no PostgreSQL pod runs
	}
	p := pods[0]
	ctr := probeContainer(p, app.Postgres)
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
