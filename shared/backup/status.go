package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet/fleetcmd"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// Prometheus is the -o format of the text exposition format.
const Prometheus = "prometheus"

// StatusOptions are the options of `backup status`.
type StatusOptions struct {
	base
	Print   *output.Flags
	Dir, To string

	place, wal Target
	// bases are the namespace's base backups in the place, oldest first.
	bases []*BackupInfo
}

// NewStatusOptions returns the defaults.
func NewStatusOptions(g *cli.Global) *StatusOptions {
	return &StatusOptions{base: newBase(g), Print: output.NewFlags(Prometheus)}
}

// NewCmdStatus returns `backup status`.
func NewCmdStatus(g *cli.Global) *cobra.Command {
	o := NewStatusOptions(g)
	cmd := &cobra.Command{
		Use:   "status [--dir DIR | --to s3://BUCKET/PREFIX] [-o table|json|yaml|prometheus]",
		Short: "Show continuous WAL archiving and the recovery window: last archived and synced WAL, newest base backup, gaps",
		Long: `From the postgres pod: pg_stat_archiver (last archived WAL and its time, failures, last
failure), the WAL archive's oldest and newest segment and how full its volume is. With
--dir or --to, from that place too: the last synced segment and its time, the newest
base backup of the namespace, the last verified restore, and the recovery window: from
the newest base backup whose WAL chain is whole (its end time) to the time the last
segment of that unbroken chain was archived. Every segment from the base backup's start
(without one, from the oldest segment present) to the newest present is checked; each
missing run is a gap. -o prometheus prints the figures in the text exposition format.
Exit status 1 when there is a gap, when archiving is failing (the last failure is newer
than the last success) or when the pod's side could not be read.`,
		Example: `  kubectl piyasa backup status --env prod --to s3://my-bucket/piyasa
  kubectl piyasa backup status --env prod --dir /backups -o json | jq .window
  kubectl piyasa backup status --env prod --to s3://my-bucket/piyasa -o prometheus > piyasa_backup.prom`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "Also read the WAL synced and the backups in this directory")
	cmd.Flags().StringVar(&o.To, "to", "", "Also read the WAL synced and the backups under s3://BUCKET/PREFIX")
	o.S3.AddFlags(cmd.Flags())
	o.Print.AddFlags(cmd)
	fleetcmd.Add(cmd, g, NewCmdStatus)
	return cmd
}

// Complete resolves the namespace and environment.
func (o *StatusOptions) Complete(_ *cobra.Command, _ []string) error { return o.Global.Complete() }

// Validate checks the flags (no I/O).
func (o *StatusOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	if o.Dir == "" && o.To == "" {
		return nil
	}
	w, err := walPlace(o.Dir, o.To, o.S3, o.Namespace)
	if err != nil {
		return err
	}
	o.wal = w
	o.place, _ = placeTarget(o.Dir, o.To, o.S3)
	return nil
}

// Run reads the pod's side and the place's, and prints them.
func (o *StatusOptions) Run(ctx context.Context) error {
	s := &BackupStatus{Namespace: o.Namespace, Time: o.Now().UTC().Truncate(time.Second), Gaps: []WALGap{}, Problems: []string{}}
	seen := walSeen{}
	if err := o.readPod(ctx, s, seen); err != nil {
		return err
	}
	if o.place != nil {
		if err := o.readTarget(ctx, s, seen); err != nil {
			return err
		}
	}
	s.chainFrom(seen, o.bases)
	if s.Archiver != nil && s.Archiver.Failing() {
		s.Problems = append(s.Problems, fmt.Sprintf("WAL archiving is failing: %s failed at %s, after the last success", s.Archiver.LastFailedWAL, s.Archiver.LastFailedTime.Format(time.RFC3339)))
	}
	if err := o.print(s); err != nil {
		return err
	}
	if len(s.Problems) > 0 {
		return cli.ExitCode(cli.ExitFailed)
	}
	return nil
}

// readPod reads pg_stat_archiver, the archive's files and its volume's use.
// A pod that cannot be read is a problem of the status (its other side may
// still be shown); missing rights and interruptions are errors.
func (o *StatusOptions) readPod(ctx context.Context, s *BackupStatus, seen walSeen) error {
	err := o.readPodParts(ctx, s, seen)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return cli.Interruptedf("interrupted")
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return err
	case o.place == nil:
		var ce *cli.Error
		if errors.As(err, &ce) {
			return err
		}
		return cli.Failedf("%v", err)
	}
	s.Problems = append(s.Problems, "cannot read the postgres pod's side: "+output.FirstLine(err.Error()))
	return nil
}

func (o *StatusOptions) readPodParts(ctx context.Context, s *BackupStatus, seen walSeen) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	pod, container, err := o.postgresPod(ctx, cs)
	if err != nil {
		return err
	}
	ex, err := o.executor()
	if err != nil {
		return err
	}
	row, err := o.psql(ctx, app.DatabaseName, archiverSQL)
	if err != nil {
		return err
	}
	if s.Archiver, err = parseArchiver(row); err != nil {
		return err
	}
	files, err := o.listArchive(ctx, ex, pod, container)
	if err != nil {
		return err
	}
	a := &ArchiveStatus{}
	for _, f := range files {
		a.Files++
		a.Bytes += f.Size
		seen.Add(f.Name, f.Modified)
		if walarchive.IsSegmentName(f.Name) {
			if a.OldestSegment == "" {
				a.OldestSegment = f.Name
			}
			a.NewestSegment, a.NewestTime = f.Name, ptrTime(f.Modified)
		}
	}
	s.Archive = a
	df, err := o.archiveDF(ctx, ex, pod, container)
	if err != nil {
		return err
	}
	a.Volume = df
	return nil
}

func ptrTime(t time.Time) *time.Time { return &t }

// readTarget reads the WAL synced to the place and its backups' metadata.
func (o *StatusOptions) readTarget(ctx context.Context, s *BackupStatus, seen walSeen) error {
	t := &TargetStatus{Location: strings.TrimSuffix(o.place.Location(""), "/")}
	s.Target = t
	entries, err := listFiles(ctx, o.wal)
	if err != nil {
		return cli.Failedf("cannot list %s: %v", o.wal.Location(""), err)
	}
	for name, e := range SyncedWAL(entries) {
		t.SyncedFiles++
		seen.Add(name, e.Modified)
		if walarchive.IsSegmentName(name) && name > t.LastSyncedSegment {
			t.LastSyncedSegment, t.LastSyncedTime = name, ptrTime(e.Modified.UTC())
		}
	}
	return o.readBackups(ctx, t)
}

// readBackups finds the base backups of the namespace (oldest first) and the newest
// verified restore among the place's backups' metadata.
func (o *StatusOptions) readBackups(ctx context.Context, t *TargetStatus) error {
	entries, err := listFiles(ctx, o.place)
	if err != nil {
		return cli.Failedf("cannot list %s: %v", t.Location, err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name, MetadataSuffix)
		if !ok {
			continue
		}
		raw, err := o.place.ReadMeta(ctx, name)
		if err != nil {
			continue
		}
		info, err := ParseInfo(raw)
		if err != nil || info.Namespace != o.Namespace {
			continue
		}
		if v := info.Verification; v != nil && v.RestoreTest && (t.LastVerifiedRestore == nil || v.Time.After(*t.LastVerifiedRestore)) {
			t.LastVerifiedRestore = ptrTime(v.Time.UTC())
		}
		if info.Format == FormatBaseBackup && info.WAL != nil {
			o.bases = append(o.bases, info)
		}
	}
	sort.Slice(o.bases, func(i, j int) bool { return o.bases[i].EndTime.Before(o.bases[j].EndTime) })
	if t.BaseBackups = len(o.bases); t.BaseBackups > 0 {
		t.BaseBackup = o.bases[t.BaseBackups-1]
	}
	return nil
}

func (o *StatusOptions) print(s *BackupStatus) error {
	switch {
	case o.Print.Output == Prometheus:
		return writePrometheus(o.Out, s)
	case o.Print.Structured():
		return o.Print.PrintDocument(o.Out, KindBackupStatus, s)
	}
	now := s.Time
	ago := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return duration.HumanDuration(now.Sub(*t)) + " ago"
	}
	row := func(k, v string) { fmt.Fprintf(o.Out, "%-17s%s\n", k, v) }
	row("NAMESPACE", s.Namespace)
	if a := s.Archiver; a != nil {
		row("ARCHIVED", fmt.Sprintf("%s %s, %d failures (last %s %s)", output.OrDash(a.LastArchivedWAL), ago(a.LastArchivedTime), a.FailedCount, output.OrDash(a.LastFailedWAL), ago(a.LastFailedTime)))
	}
	if a := s.Archive; a != nil {
		v := fmt.Sprintf("%d files, %s, segments %s to %s", a.Files, HumanBytes(a.Bytes), output.OrDash(a.OldestSegment), output.OrDash(a.NewestSegment))
		if a.Volume != nil {
			v += fmt.Sprintf("; volume %d%% used (%s free)", a.Volume.UsedPercent, HumanBytes(a.Volume.AvailableBytes))
		}
		row("ARCHIVE", v)
	}
	o.printTarget(s, row, ago)
	gaps := "none"
	if len(s.Gaps) > 0 {
		gaps = fmt.Sprintf("%d: first %s", len(s.Gaps), s.Gaps[0])
	}
	row("GAPS", gaps)
	for _, p := range s.Problems {
		fmt.Fprintf(o.ErrOut, "problem: %s\n", p)
	}
	return nil
}

func (o *StatusOptions) printTarget(s *BackupStatus, row func(k, v string), ago func(*time.Time) string) {
	t := s.Target
	if t == nil {
		row("WINDOW", "unknown: give --dir or --to to read the synced WAL and base backups")
		return
	}
	row("SYNCED", fmt.Sprintf("%s %s, %d files in %s", output.OrDash(t.LastSyncedSegment), ago(t.LastSyncedTime), t.SyncedFiles, t.Location))
	if t.BaseBackup != nil {
		row("BASE BACKUP", fmt.Sprintf("%s, ended %s", t.BaseBackup.Name, ago(&t.BaseBackup.EndTime)))
	} else {
		row("BASE BACKUP", "none (backup create --physical takes one)")
	}
	row("VERIFIED", "last restore test "+ago(t.LastVerifiedRestore))
	if w := s.Window; w != nil {
		row("WINDOW", fmt.Sprintf("%s to %s (%s)", w.From.Format(time.RFC3339), w.To.Format(time.RFC3339), duration.HumanDuration(w.To.Sub(w.From))))
	} else {
		row("WINDOW", "none: no base backup with a whole WAL chain")
	}
}
