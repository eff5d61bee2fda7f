package deploy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/replication"
)

// switchover is the planned failover: nothing is lost.
func (o *FailoverOptions) switchover(ctx context.Context) error {
	from, to := o.from, o.to
	rs, total, err := from.replicas(ctx)
	if err != nil {
		return o.regionErr(from, err, "cannot read the app's replicas")
	}
	zero := map[string]int32{app.Worker: 0, app.API: 0, app.Frontend: 0}
	if err := o.step(from, "workers, api and frontend scaled to 0 ("+replicasLine(rs)+")", true, func() error {
		return from.scale(ctx, zero, true, o.Timeout)
	}); err != nil {
		return o.stopped(ctx, err, "the app of "+from.Name+" is partly stopped; nothing else changed", o.undoFence(rs))
	}
	o.doc.Fenced = true
	var lsn string
	if err := o.step(from, "PostgreSQL stopped (its WAL sent to "+to.Name+")", true, func() error {
		var err error
		if lsn, err = from.psql(ctx, "SELECT pg_current_wal_lsn()"); err != nil {
			return err
		}
		return from.scale(ctx, map[string]int32{app.Postgres: 0}, true, o.Timeout)
	}); err != nil {
		return o.stopped(ctx, err, "the app of "+from.Name+" is stopped; no database was promoted", o.undoFence(rs)+"; kubectl scale deployment/"+from.workload(app.Postgres).Name+" --replicas=1 -n "+from.g.Namespace+" --context "+from.Context)
	}
	if err := o.step(to, "everything received replayed (up to "+lsn+" and the shutdown checkpoint)", true, func() error {
		return o.waitReplayed(ctx, lsn)
	}); err != nil {
		return o.stopped(ctx, err, "both databases are read-only now: the old primary is stopped, the standby not promoted", "start the old primary again: kubectl scale deployment/"+from.workload(app.Postgres).Name+" --replicas=1 -n "+from.g.Namespace+" --context "+from.Context+"; "+o.undoFence(rs))
	}
	if err := o.promote(ctx, nil); err != nil {
		return err
	}
	if err := o.makePrimary(ctx); err != nil {
		return err
	}
	if err := o.follow(ctx); err != nil {
		return err
	}
	if err := o.startApp(ctx, rs, total); err != nil {
		return err
	}
	return o.rewrite()
}

// failover is the unplanned failover: fence what answers, promote, start
// the api and frontend, then the workers once the old primary is fenced (or
// --fence-wait has run out).
func (o *FailoverOptions) failover(ctx context.Context, st *replication.Status) error {
	from := o.from
	rs, total, fenced, err := o.fence(ctx, "fenced")
	if err != nil {
		return err
	}
	if rs == nil {
		// The old primary's replicas are not known: the environment's, and
		// the standby's TOTAL_WORKERS (deploy --fleet keeps them equal).
		rs = map[string]int32{}
		for _, c := range appComponents {
			rs[c] = app.Environments[o.to.Environment].Replicas[c]
		}
		total = ""
	}
	if err := o.promote(ctx, st); err != nil {
		return err
	}
	if err := o.makePrimary(ctx); err != nil {
		return err
	}
	if err := o.startApp(ctx, rs, total, app.API, app.Frontend); err != nil {
		return err
	}
	if !fenced && o.FenceWait > 0 {
		if fenced, err = o.waitFence(ctx); err != nil {
			return err
		}
	}
	o.doc.Fenced = fenced
	if err := o.startApp(ctx, rs, total, app.Worker); err != nil {
		return err
	}
	if err := o.rewrite(); err != nil {
		return err
	}
	o.doc.Rejoin = fmt.Sprintf("kubectl piyasa failover rejoin --fleet %s %s", o.Fleet, from.Name)
	if !fenced {
		return cli.Failedf("region %s is the primary now, but %s could not be fenced: its workers, api and PostgreSQL may run again when it comes back", o.to.Name, from.Name).
			WithHint("as soon as its API server answers, before anything else: %s (it fences first)", o.doc.Rejoin)
	}
	return nil
}

// fence scales the old primary's workers, api, frontend and PostgreSQL to
// 0 if it answers within the cluster timeout; it returns the replicas it
// had and whether it is fenced. An error only when interrupted.
func (o *FailoverOptions) fence(ctx context.Context, what string) (map[string]int32, string, bool, error) {
	from := o.from
	rs, total, err := o.fenceRead(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", false, o.stopped(ctx, err, "nothing was changed", "run the same failover again")
		}
		o.doc.Steps = append(o.doc.Steps, FailoverStep{Region: from.Name, Step: "fence", Error: "not reached: " + cli.Classify(err, "").Msg})
		o.Infof("%s: cannot be fenced: %s\n", from.Name, cli.Classify(err, "").Msg)
		return nil, "", false, nil
	}
	all := map[string]int32{app.Worker: 0, app.API: 0, app.Frontend: 0, app.Postgres: 0}
	err = o.step(from, what+": workers, api, frontend and PostgreSQL scaled to 0 ("+replicasLine(rs)+")", false, func() error {
		c, cancel := context.WithTimeout(ctx, o.ClusterTimeout)
		defer cancel()
		return from.scale(c, all, false, o.ClusterTimeout)
	})
	if ctx.Err() != nil {
		return nil, "", false, o.stopped(ctx, err, "the old primary may be partly fenced", "run the same failover again")
	}
	if err == nil {
		// Fenced once its pods are gone (its controllers may be slow after an
		// outage): the new primary's workers wait for that, up to --timeout.
		err = o.step(from, "its pods gone", true, func() error { return from.scale(ctx, all, true, o.Timeout) })
		if ctx.Err() != nil {
			return nil, "", false, o.stopped(ctx, err, "the old primary is scaled to 0, its pods may still run", "run the same failover again")
		}
	}
	return rs, total, err == nil, nil
}

// waitFence tries to fence the old primary every second until it answers
// or --fence-wait runs out; the new primary's workers wait for it. The
// seconds between the tries and the tries that got no answer count as
// waiting; a fence that lands counts as its own steps do.
func (o *FailoverOptions) waitFence(ctx context.Context) (bool, error) {
	o.Infof("%s: the workers of %s wait until %s answers and is fenced (--fence-wait %s)\n", o.to.Name, o.to.Name, o.from.Name, o.FenceWait)
	t0 := time.Now()
	deadline := t0.Add(o.FenceWait)
	for time.Now().Before(deadline) {
		pause := time.Now()
		select {
		case <-ctx.Done():
			return false, o.stopped(ctx, ctx.Err(), o.to.Name+" is the primary and its api serves; its workers are not started and "+o.from.Name+" is not fenced",
				"kubectl piyasa failover rejoin --fleet "+o.Fleet+" "+o.from.Name+" once it answers, then kubectl piyasa scale worker --context "+o.to.Context)
		case <-time.After(time.Second):
		}
		steps := len(o.doc.Steps)
		_, _, fenced, err := o.fence(ctx, fmt.Sprintf("fenced on its return after %s", time.Since(t0).Round(time.Second)))
		if err != nil || fenced {
			o.waited += o.Now().Sub(pause) - o.stepTime(steps)
			return fenced, err
		}
		o.doc.Steps = o.doc.Steps[:steps] // a try that got no answer: not a step
		o.waited += time.Since(pause)
	}
	o.Infof("%s: not fenced after --fence-wait %s: the workers start in %s anyway\n", o.from.Name, o.FenceWait, o.to.Name)
	o.doc.Steps = append(o.doc.Steps, FailoverStep{Region: o.from.Name, Step: "fence", Error: fmt.Sprintf("no answer within --fence-wait %s", o.FenceWait)})
	return false, nil
}

// stepTime is the time of the steps recorded from the i-th on.
func (o *FailoverOptions) stepTime(i int) time.Duration {
	var s float64
	for _, st := range o.doc.Steps[i:] {
		s += st.Seconds
	}
	return time.Duration(s * float64(time.Second))
}

// fenceRead reads the old primary's replicas within the cluster timeout.
func (o *FailoverOptions) fenceRead(ctx context.Context) (map[string]int32, string, error) {
	c, cancel := context.WithTimeout(ctx, o.ClusterTimeout)
	defer cancel()
	rs, total, err := o.from.replicas(c)
	if err != nil && c.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("no answer within %s (--cluster-timeout)", o.ClusterTimeout)
	}
	return rs, total, err
}

// waitReplayed waits until the standby has received WAL beyond lsn (the old
// primary's last position before its shutdown checkpoint) and replayed
// everything it received.
func (o *FailoverOptions) waitReplayed(ctx context.Context, lsn string) error {
	target, err := replication.ParseLSN(lsn)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	for {
		out, err := o.to.psql(ctx, "SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()")
		if err == nil {
			f := strings.Fields(out)
			if len(f) == 2 {
				recv, err1 := replication.ParseLSN(f[0])
				replay, err2 := replication.ParseLSN(f[1])
				if err1 == nil && err2 == nil && recv > target && replay >= recv {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("the standby has not replayed up to %s within %s", lsn, o.Timeout)
			}
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// promote promotes the standby's PostgreSQL and records the recovery point
// (st: the standby's state read before, nil for a switchover: nothing lost).
func (o *FailoverOptions) promote(ctx context.Context, st *replication.Status) error {
	to := o.to
	err := o.step(to, "PostgreSQL promoted", false, func() error {
		out, err := to.psql(ctx, "SELECT pg_promote(true, 60)")
		if err == nil && out != "t" {
			err = fmt.Errorf("pg_promote did not finish within 60 s (%q)", out)
		}
		return err
	})
	if err != nil {
		return o.stopped(ctx, err, "the standby of "+to.Name+" may not be promoted; the app runs nowhere", "run the same failover again")
	}
	rpo := &FailoverRPO{PromotedAt: o.Now().UTC()}
	if st != nil {
		rpo.Bytes, rpo.LastReplayed = st.LagBytes, st.LastReplayed
		if st.LastReplayed != nil {
			rpo.Seconds = round(max(0, rpo.PromotedAt.Sub(*st.LastReplayed).Seconds()))
		}
	}
	o.doc.RPO = rpo
	return nil
}

// makePrimary gives the new primary region the primary's objects (its
// PostgreSQL restarts with TLS and the replication pg_hba) and waits for it.
func (o *FailoverOptions) makePrimary(ctx context.Context) error {
	to := o.to
	err := o.step(to, "made the primary region (TLS, pg_hba, replication Service, backups, HPAs, PDBs)", false, func() error {
		return to.applyRole(ctx, o.repl, app.RegionPrimary, "", 0)
	})
	if err == nil {
		err = o.step(to, "PostgreSQL ready as the primary", true, func() error { return to.waitPostgres(ctx, o.Timeout) })
	}
	if err != nil {
		return o.stopped(ctx, err, to.Name+"'s database is promoted, the app runs nowhere", "run: kubectl piyasa deploy --fleet "+o.Fleet+" --env-file .env after switching the roles in the file")
	}
	return nil
}

// follow makes the old primary a hot standby of the new one: its stopped
// data directory gets standby.signal and primary_conninfo, then its region
// the standby's objects (PostgreSQL starts again, following).
func (o *FailoverOptions) follow(ctx context.Context) error {
	from, to := o.from, o.to
	hint := fmt.Sprintf("%s is the primary and serves; bring %s back with: kubectl piyasa failover rejoin --fleet %s %s", to.Name, from.Name, o.Fleet, from.Name)
	host, port, err := to.address(ctx, o.fl, o.repl)
	if err != nil {
		return o.stopped(ctx, err, "cannot tell where "+from.Name+" reaches the new primary", hint)
	}
	pw, err := from.replicationPassword(ctx)
	if err == nil {
		err = o.step(from, fmt.Sprintf("data directory set to follow %s at %s", to.Name, hostPort(host, port)), false, func() error {
			_, err := from.inDataJob(ctx, followScript, pw, o.Timeout, host, strconv.Itoa(port), "piyasa-"+from.Name)
			return err
		})
	}
	if err == nil {
		err = o.step(from, "made a standby region; PostgreSQL starts as a hot standby", false, func() error {
			return from.applyRole(ctx, o.repl, app.RegionStandby, host, port)
		})
	}
	if err == nil {
		err = o.step(from, "PostgreSQL streaming from "+to.Name, true, func() error { return o.waitStreaming(ctx, from) })
	}
	if err != nil {
		return o.stopped(ctx, err, "the old primary does not follow yet", hint)
	}
	return nil
}

// waitStreaming waits until r's PostgreSQL runs as a standby streaming from its primary.
func (o *FailoverOptions) waitStreaming(ctx context.Context, r *foRegion) error {
	if err := r.waitPostgres(ctx, o.Timeout); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	for {
		st, err := r.replication(ctx, o.ClusterTimeout)
		if err == nil && st.Role == replication.RoleStandby && st.ReceiverStatus == "streaming" {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("not streaming after %s: %s", o.Timeout, st.Message)
			}
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// startApp starts comps (all: the workers, with TOTAL_WORKERS of the old
// primary, api and frontend) in the new primary region.
func (o *FailoverOptions) startApp(ctx context.Context, rs map[string]int32, total string, comps ...string) error {
	to := o.to
	if total != "" {
		if n, err := strconv.Atoi(total); err == nil && n > 0 {
			rs[app.Worker] = int32(n)
		}
	}
	if len(comps) == 0 {
		comps = appComponents
	}
	want := map[string]int32{}
	var names []string
	for _, c := range comps {
		want[c] = rs[c]
		names = append(names, fmt.Sprintf("%s=%d", c, rs[c]))
	}
	if _, ok := want[app.Worker]; ok {
		o.doc.TotalWorkers = rs[app.Worker]
	}
	err := o.step(to, "started: "+strings.Join(names, " "), true, func() error {
		if n, ok := want[app.Worker]; ok {
			if err := to.setTotalWorkers(ctx, n); err != nil {
				return err
			}
		}
		return to.scale(ctx, want, true, o.Timeout)
	})
	if err != nil {
		return o.stopped(ctx, err, to.Name+" is the primary; its app is not fully up", "kubectl piyasa deploy status --fleet "+o.Fleet)
	}
	return nil
}

// rewrite writes the new roles into the fleet file.
func (o *FailoverOptions) rewrite() error {
	o.doc.FleetFile = o.Fleet
	if err := fleet.SwitchPrimary(o.fl, o.to.Name); err != nil {
		return cli.Failedf("%s is the primary now, but the fleet file could not be rewritten: %v", o.to.Name, err).
			WithHint("edit %s: role primary for %s, standby for %s", o.Fleet, o.to.Name, o.from.Name)
	}
	o.Infof("%s: %s is the primary, %s a standby\n", o.Fleet, o.to.Name, o.from.Name)
	return nil
}

// stopped words a failover that stopped at a step: what state it left and
// how to go on.
func (o *FailoverOptions) stopped(ctx context.Context, err error, state, next string) error {
	e := o.Outcome(err)
	if ctx.Err() != nil {
		return cli.Interruptedf("interrupted: %s", state).WithHint("%s", next)
	}
	return &cli.Error{Code: e.Code, Msg: fmt.Sprintf("%s; %s", e.Msg, state), Hint: next}
}

// undoFence is the command that starts the old primary's app again.
func (o *FailoverOptions) undoFence(rs map[string]int32) string {
	f := o.from
	var parts []string
	for _, c := range appComponents {
		w := f.workload(c)
		parts = append(parts, fmt.Sprintf("kubectl scale %s/%s --replicas=%d -n %s --context %s", strings.ToLower(w.Kind), w.Name, rs[c], f.g.Namespace, f.Context))
	}
	return "to start the app again: " + strings.Join(parts, "; ")
}

// replicasLine says "worker=2 api=1 frontend=1".
func replicasLine(rs map[string]int32) string {
	var parts []string
	for _, c := range appComponents {
		parts = append(parts, fmt.Sprintf("%s=%d", c, rs[c]))
	}
	return strings.Join(parts, " ")
}
