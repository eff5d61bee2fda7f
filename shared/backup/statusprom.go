package backup

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// writePrometheus prints the status in Prometheus' text exposition format,
// for the node exporter's textfile collector or a push: timestamps in
// seconds since the epoch, 0 for "never" (so that an alert on the age of a
// timestamp fires), labelled with the namespace.
func writePrometheus(w io.Writer, s *BackupStatus) error {
	var b strings.Builder
	labels := `{namespace="` + promEscape(s.Namespace) + `"}`
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s%s %s\n", name, help, name, name, labels, strconv.FormatFloat(v, 'f', -1, 64))
	}
	var base, archived, synced, verified *time.Time
	var failures int64
	if t := s.Target; t != nil {
		synced, verified = t.LastSyncedTime, t.LastVerifiedRestore
		if t.BaseBackup != nil {
			base = &t.BaseBackup.EndTime
		}
	}
	if a := s.Archiver; a != nil {
		archived, failures = a.LastArchivedTime, a.FailedCount
	}
	gauge("piyasa_backup_last_base_backup_timestamp_seconds", "End time of the newest base backup (0: none).", epoch(base))
	gauge("piyasa_wal_last_archived_timestamp_seconds", "Time PostgreSQL last archived a WAL segment (0: never).", epoch(archived))
	gauge("piyasa_wal_last_synced_timestamp_seconds", "Time the newest synced WAL segment was copied off the cluster (0: never).", epoch(synced))
	gauge("piyasa_backup_last_verified_restore_timestamp_seconds", "Time of the newest successful restore test (0: never).", epoch(verified))
	fmt.Fprintf(&b, "# HELP piyasa_wal_archive_failures_total Failed attempts to archive a WAL segment (pg_stat_archiver.failed_count).\n# TYPE piyasa_wal_archive_failures_total counter\npiyasa_wal_archive_failures_total%s %d\n", labels, failures)
	up := 0.0
	if s.Archiver != nil {
		up = 1
	}
	gauge("piyasa_postgres_up", "1 when PostgreSQL answered (pg_stat_archiver was read), else 0.", up)
	gauge("piyasa_wal_gaps", "Runs of missing WAL segments in the chain.", float64(len(s.Gaps)))
	if a := s.Archive; a != nil && a.Volume != nil && a.Volume.SizeBytes > 0 {
		gauge("piyasa_wal_archive_volume_used_ratio", "Used share of the WAL archive volume.", float64(a.Volume.UsedBytes)/float64(a.Volume.SizeBytes))
	}
	if w := s.Window; w != nil {
		gauge("piyasa_recovery_window_start_timestamp_seconds", "First recoverable second.", float64(w.From.Unix()))
		gauge("piyasa_recovery_window_end_timestamp_seconds", "Last recoverable second.", float64(w.To.Unix()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func epoch(t *time.Time) float64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}

// promEscape escapes a label value.
func promEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
