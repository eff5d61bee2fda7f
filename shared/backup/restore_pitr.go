package backup

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// pitrHelp is the point-in-time part of `backup restore --help`.
const pitrHelp = `Point in time (--to-time T or --to-latest), in place: plan first, refusing (exit 2, before
anything stops) a time outside the recovery window (named) or a missing WAL segment
(named): the newest base backup (backup create --physical) that ended before T, from
--from DIR|s3://BUCKET/PREFIX, and the WAL from its start segment on, in the WAL archive
volume and (copied in first) under wal/<namespace>/ of --from. Without --from: the base
backups of the backup volume (backup schedule set --physical), laid down by the restore Job
that mounts it, and the WAL archive volume alone. Then take the database
lock, stop api and worker, stop PostgreSQL (scale postgres to 0), keep the current data
directory beside itself as $PGDATA.before-restore-<time> (the safety copy; where the
volume lacks the room the restore is refused unless --no-safety-copy), lay the base
backup down in a restore Job (checked by byte count and sha256), set recovery
(restore_command from the archive volume, recovery_target_time T, promote), start
PostgreSQL, wait until it leaves recovery on a new timeline, count every table's rows,
remove the recovery settings and start the app. --to-latest replays every WAL segment
there is. T is RFC 3339 (2026-12-06T17:00:05+01:00) or "2026-12-06 17:00:05[.fff]",
read as UTC. Interrupted, it says to run it again: the rerun removes what it had laid
down and keeps the first safety copy. --dry-run prints the plan (base backup, WAL range,
what is stopped, space needed and free, expected duration from the last restore measured
here, lock holder) and changes nothing.`

// pitrFlags are the flags of a point-in-time restore.
type pitrFlags struct {
	ToTime   string
	ToLatest bool
	// From is where the base backups (and off-cluster WAL, under wal/<ns>/) are.
	From string
	// NoSafetyCopy removes the current data directory instead of keeping it.
	NoSafetyCopy bool

	dryRun cli.DryRun
	target time.Time
	from   Target
	// inCluster: no --from, the base backups are on the backup volume.
	inCluster bool
}

func (f *pitrFlags) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.ToTime, "to-time", "", `Restore in place to this time: RFC 3339, or "2026-12-06 17:00:05" read as UTC`)
	fl.BoolVar(&f.ToLatest, "to-latest", false, "Restore in place to the last WAL archived (after losing the data directory)")
	fl.StringVar(&f.From, "from", "", "Directory or s3://BUCKET/PREFIX holding the base backups (and the WAL synced off the cluster under wal/<namespace>/); without it, the base backups of the backup volume (backup schedule set --physical) and the WAL archive volume")
	fl.BoolVar(&f.NoSafetyCopy, "no-safety-copy", false, "Remove the current data directory instead of keeping it beside the restored one")
	cli.AddDryRunFlag(cmd)
}

// asked reports a point-in-time restore.
func (f *pitrFlags) asked() bool { return f.ToTime != "" || f.ToLatest }

// validatePITR checks the point-in-time flags (no I/O).
func (o *RestoreOptions) validatePITR() error {
	f := &o.pitr
	switch {
	case f.ToTime != "" && f.ToLatest:
		return cli.Usagef("--to-time and --to-latest exclude each other")
	case o.Ref != "":
		return cli.Usagef("a point-in-time restore takes no backup argument: it chooses the base backup (give where they are with --from)")
	case o.ToDatabase != "" || o.NoSafetyBackup || o.SafetyTo != "" || o.TerminateSessions:
		return cli.Usagef("--to-database, --no-safety-backup, --safety-backup-to and --terminate-sessions apply to restoring a dump, not to --to-time/--to-latest (its safety copy is the data directory: --no-safety-copy)")
	case o.Timeout <= 0:
		return cli.Usagef("--timeout must be positive")
	}
	if f.ToTime != "" {
		t, err := ParseTargetTime(f.ToTime)
		if err != nil {
			return err
		}
		f.target = t
	}
	if f.From == "" {
		f.from, f.inCluster = pvcTarget{}, true
		return nil
	}
	t, err := ParseTargetRef(f.From, o.S3)
	if err != nil {
		return cli.Usagef("--from: %v", err)
	}
	f.from = t
	return nil
}

// targetLayouts are the forms --to-time takes besides RFC 3339: read as UTC.
var targetLayouts = []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04"}

// ParseTargetTime reads --to-time: RFC 3339 (with its zone), or
// "2006-01-02 15:04:05[.fff]" without a zone, read as UTC.
func ParseTargetTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, l := range targetLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, cli.Usagef(`invalid --to-time %q: give RFC 3339 (2026-12-06T17:00:05+01:00) or "2026-12-06 17:00:05" (UTC)`, s)
}

// pgTime is a time as PostgreSQL reads recovery_target_time.
func pgTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999") + "+00" }
