package backup

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
)

// dumpPlan is what `backup restore BACKUP --dry-run` found, changing nothing.
type dumpPlan struct {
	live *livePlan
	// freeKB is the free space of the data volume (-1: unknown).
	freeKB int64
	// lock describes the database lock's holder ("" when free).
	lock string
	// measured is the last measured dump restore here (nil: none).
	measured *app.MeasuredRestore
}

// dryRunDump plans the restore of a dump as a live restore would (the
// backup checked, the workloads and the origin read, refusals alike) and
// prints the plan on stdout; it changes nothing.
func (o *RestoreOptions) dryRunDump(ctx context.Context, loc Location, info *BackupInfo) error {
	p := &dumpPlan{freeKB: -1}
	if o.ToDatabase == "" {
		lp, err := o.planLive(ctx, loc, info)
		if err != nil {
			return err
		}
		p.live = lp
	}
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	if pod, container, err := PostgresPod(ctx, cs, o.Namespace); err == nil {
		if out, err := o.execText(ctx, pod, container, []string{"sh", "-c", `df -Pk "${PGDATA:-/var/lib/postgresql/data}" | tail -1`, "piyasa-df"}, nil); err == nil {
			p.freeKB = dfAvailableKB(out)
		}
	}
	if li, _, err := oplock.DescribeLock(ctx, cs, o.Namespace, o.Env.MigrationLease(), o.Now()); err == nil && li.Holder != "" && li.Held {
		p.lock = li.Describe()
	}
	p.measured = o.lastMeasured(ctx, app.LastDumpRestoreAnnotation)
	o.printDumpPlan(o.Out, loc, info, p)
	return nil
}

// dfAvailableKB reads the available column of one `df -Pk` line (-1: unreadable).
func dfAvailableKB(line string) int64 {
	f := strings.Fields(line)
	if len(f) < 4 {
		return -1
	}
	n, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// printDumpPlan writes the plan of a dump restore.
func (o *RestoreOptions) printDumpPlan(w io.Writer, loc Location, info *BackupInfo, p *dumpPlan) {
	where := loc.Target.Location(loc.Name)
	if o.ToDatabase != "" {
		fmt.Fprintf(w, "restore of %s into the new database %s in namespace %s; the app is not touched\n", where, o.ToDatabase, o.Namespace)
	} else {
		fmt.Fprintf(w, "restore of %s over %s in namespace %s\n", where, app.DatabaseName, o.Namespace)
	}
	fmt.Fprintf(w, "  backup:           %s %s, taken %s to %s, %d tables, alembic %s, %s plain dump\n",
		info.Namespace, info.Environment, info.StartTime.UTC().Format("2006-01-02T15:04:05Z"), info.EndTime.UTC().Format("15:04:05Z"),
		len(info.Tables), orNone(info.AlembicRevision), HumanBytes(info.RawBytes))
	if p.live != nil {
		fmt.Fprintf(w, "  stopped:          %s, started again after\n", replicasText(p.live.replicas))
		safety := "none (--no-safety-backup)"
		if !o.NoSafetyBackup {
			safety = "a dump of the live database first, to " + o.safetyTo.Location("") + " (kind pre-restore)"
		}
		fmt.Fprintf(w, "  safety backup:    %s\n", safety)
	}
	// The load drops and re-creates the schemas in one transaction: the old and
	// the new rows both take space until it commits.
	space := HumanBytes(info.RawBytes) + " more while the load's transaction runs (about the plain dump's size)"
	if p.freeKB >= 0 {
		space += ", " + HumanBytes(p.freeKB*1024) + " free on the data volume"
		if p.freeKB*1024 < info.RawBytes {
			space += " (NOT ENOUGH)"
		}
	} else {
		space += ", free space unknown (the postgres pod did not answer)"
	}
	fmt.Fprintf(w, "  space:            %s\n", space)
	if p.live != nil {
		fmt.Fprintf(w, "  expected duration: %s\n", measuredText(p.measured, "restore of a dump", "plain dump", info.RawBytes, 0))
	}
	lock := "free"
	if p.lock != "" {
		lock = "held: " + p.lock + " (the restore would be refused)"
	}
	fmt.Fprintf(w, "  database lock:    %s\n", lock)
}
