package diagnose

import (
	"context"
	"fmt"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// WALArchiveFullPercent is the use of the WAL archive volume above which
// PIY977 is an error: when the volume is full archive_command fails,
// PostgreSQL keeps the WAL it could not archive in its own data volume, and
// stops when that is full too.
const WALArchiveFullPercent = 85

// isWALArchiveClaim tells the WAL archive's PVC (any environment's prefix).
func (r *runner) isWALArchiveClaim(claim string) bool {
	return claim == app.WALArchivePVC || claim == r.s.Env.ObjectName(app.WALArchivePVC) || strings.HasSuffix(claim, "-"+app.WALArchivePVC)
}

// archiverProbeSQL reads whether archiving is on and failing: the failed
// count, the last failed WAL, and whether that failure is newer than the last
// success, as one '|'-separated row.
const archiverProbeSQL = `SELECT current_setting('archive_mode'), failed_count, coalesce(last_failed_wal, ''),
 coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'::timestamptz), false), coalesce(last_archived_wal, '')
 FROM pg_stat_archiver`

// archiverProbe is the command that runs archiverProbeSQL in the postgres
// container, with the password from its environment (never on a command line).
var archiverProbe = `PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD:-}}" psql -X -A -t -F '|' -U "${POSTGRES_USER:-` + app.DatabaseUser +
	`}" -d "${POSTGRES_DB:-` + app.DatabaseName + `}" -c "` + archiverProbeSQL + `"`

// probeArchiving reads pg_stat_archiver in the first PostgreSQL pod (PIY978):
// archiving is failing when its last failure is newer than its last success.
func (r *runner) probeArchiving(ctx context.Context) {
	if !r.begin("PIY978", KindPods) {
		return
	}
	pods := r.runningPods(app.Postgres)
	if len(pods) == 0 {
		r.probeCouldNot(app.Postgres, "", "pg_stat_archiver: no running PostgreSQL pod;", nil, r.probeNoPodFix(app.Postgres))
		return
	}
	p := pods[0]
	ctr := probeContainer(p, app.Postgres)
	out, err := r.probeExec(ctx, p.Name, ctr, probeShell(archiverProbe))
	f := strings.Split(lastLine(out), "|")
	if len(f) != 5 {
		r.probeCouldNot(app.Postgres, p.Name, "psql (pg_stat_archiver)", fmt.Errorf("unreadable output %q (%v)", truncate(r.mask(out), 80), err),
			r.probeExecFix(p.Name, ctr, `psql -U `+app.DatabaseUser+` -d `+app.DatabaseName+` -c "SELECT * FROM pg_stat_archiver"`))
		return
	}
	mode, failed, lastFailed, failing, lastArchived := f[0], f[1], f[2], f[3], f[4]
	if mode == "off" || failing != "t" {
		return
	}
	r.add("PIY978", app.Postgres, podObj(p.Name),
		fmt.Sprintf("WAL archiving is failing: %s could not be archived (%s failures), the last success was %s", lastFailed, failed, orNone(lastArchived)),
		[]string{fmt.Sprintf("pg_stat_archiver: failed_count %s, last_failed_wal %s, last_archived_wal %s", failed, lastFailed, orNone(lastArchived))},
		fmt.Sprintf("kubectl logs %s -n %s | grep -i archive (the archive_command's error); check the %s volume: kubectl piyasa diagnose --probe --only PIY977 -n %s",
			p.Name, r.s.Namespace, r.s.Env.ObjectName(app.WALArchivePVC), r.s.Namespace))
}

// walArchiveFull reports the WAL archive volume over WALArchiveFullPercent (PIY977).
func (r *runner) walArchiveFull(pod, claim, path string, use int) {
	if use <= WALArchiveFullPercent {
		return
	}
	r.add("PIY977", app.Postgres, Object{Kind: "PersistentVolumeClaim", Name: claim},
		fmt.Sprintf("WAL archive volume %s of pod %s is %d%% full: archiving stops when it is full, then PostgreSQL's own volume fills", path, pod, use),
		[]string{fmt.Sprintf("df %s: %d%% used (PVC %s)", path, use, claim)},
		fmt.Sprintf("copy the WAL off and check it: kubectl piyasa backup wal sync --to s3://BUCKET/PREFIX -n %s; then remove what is synced, or enlarge PVC %s", r.s.Namespace, claim))
}

// lastLine is the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
