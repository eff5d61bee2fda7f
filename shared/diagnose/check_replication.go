package diagnose

import (
	"context"
	"fmt"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/replication"
)

// probeReplication reads streaming replication in the first PostgreSQL pod
// with one psql exec, as `deploy status` does (shared/replication), and
// reports a standby whose replay lags over replication.DefaultLimits
// (PIY983): the database itself when it is a standby, or a primary's
// standbys. A server that neither is nor has a standby has nothing to say.
// The role it reads is the report's Region.Database (PIY991 across a fleet).
func (r *runner) probeReplication(ctx context.Context) {
	lag := r.begin("PIY983", KindPods)
	if !lag && !(r.cfg.Probe && r.selected(CodeFleetSplitBrain)) {
		return
	}
	p, ctr, ok := r.firstPostgres()
	if !ok {
		return
	}
	out, err := r.probeExec(ctx, p.Name, ctr, replication.Command())
	s, perr := replication.Parse(out)
	if perr != nil {
		if err == nil {
			err = perr
		}
		r.probeCouldNot(app.Postgres, p.Name, "psql (pg_stat_replication, pg_stat_wal_receiver)", err,
			r.probeExecFix(p.Name, ctr, `psql -U `+app.DatabaseUser+` -d `+app.DatabaseName+` -c "SELECT * FROM pg_stat_replication; SELECT * FROM pg_stat_wal_receiver"`))
		return
	}
	r.database = s.Role
	behind := s.Behind(replication.DefaultLimits)
	if !lag || len(behind) == 0 {
		return
	}
	msg := fmt.Sprintf("a standby of the primary in pod %s lags behind it: %s", p.Name, strings.Join(behind, "; "))
	if s.Role == replication.RoleStandby {
		msg = fmt.Sprintf("the standby in pod %s lags behind its primary: %s (%s)", p.Name, strings.Join(behind, "; "), s.Message)
	}
	fix := fmt.Sprintf("see the lag: kubectl piyasa deploy status -n %s; ", r.s.Namespace)
	if s.ReplayPaused {
		fix += fmt.Sprintf("the replay is paused: kubectl exec -n %s %s -c %s -- psql -U %s -d %s -c 'SELECT pg_wal_replay_resume()'", r.s.Namespace, p.Name, ctr, app.DatabaseUser, app.DatabaseName)
	} else {
		fix += fmt.Sprintf("check the network to the primary and the standby's disk and CPU: kubectl logs %s -n %s", p.Name, r.s.Namespace)
	}
	r.add("PIY983", app.Postgres, podObj(p.Name),
		r.mask(msg), append([]string{"replication: " + r.mask(s.Message)}, behind...), fix)
}
