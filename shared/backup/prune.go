package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// KindBackupPrune is the kind of `backup prune -o json`.
const KindBackupPrune = "BackupPrune"

// ChecksumSuffix names the sha256 file the backup CronJob writes beside a backup.
const ChecksumSuffix = ".sha256"

// The retention of the app: daily copies 7 days, weekly 4 weeks, monthly 12 months.
const (
	DefaultKeepDaily   = 7
	DefaultKeepWeekly  = 4
	DefaultKeepMonthly = 12
)

// Retention is a grandfather-father-son policy: how many days, ISO weeks and
// months keep their newest good backup.
type Retention struct {
	Daily, Weekly, Monthly int
}

// PruneCandidate is one backup as retention sees it.
type PruneCandidate struct {
	Name string
	// Time is the BackupInfo's endTime, else the file's modified time.
	Time time.Time
	// Status is ok, no-metadata, bad-metadata or size-mismatch (as backup list says).
	Status string
	// Pinned backups are always kept (`backup pin`).
	Pinned bool
}

// PruneDecision says whether a backup is kept and why.
type PruneDecision struct {
	Name   string
	Time   time.Time
	Keep   bool
	Reason string
}

// SelectRetention applies r to one series of backups, and is pure: it reads no
// clock. Calendar buckets (UTC) are counted back from the newest good
// backup's time, not from now, so that a backup job that stopped does not
// make everything expire. The newest good backup is always kept; a backup
// that is not good is never a kept copy and is removed only when a newer good
// one exists. A pinned backup is always kept. Without any good backup nothing
// is removed (ok is false). Decisions are returned newest first.
func SelectRetention(items []PruneCandidate, r Retention) (decisions []PruneDecision, ok bool) {
	sorted := sortNewestFirst(items)
	newest := -1
	for i, c := range sorted {
		if c.Status == "ok" {
			newest = i
			break
		}
	}
	decisions = make([]PruneDecision, len(sorted))
	for i, c := range sorted {
		decisions[i] = PruneDecision{Name: c.Name, Time: c.Time}
	}
	if newest < 0 {
		for i := range decisions {
			decisions[i].Keep, decisions[i].Reason = true, "no good backup"
		}
		return decisions, false
	}
	ref := sorted[newest].Time.UTC()
	refDay := time.Date(ref.Year(), ref.Month(), ref.Day(), 0, 0, 0, 0, time.UTC)

	days := map[string]bool{}
	for i := 0; i < r.Daily; i++ {
		days[dayKey(refDay.AddDate(0, 0, -i))] = true
	}
	weeks := map[string]bool{}
	monday := refDay.AddDate(0, 0, -((int(refDay.Weekday()) + 6) % 7))
	for i := 0; i < r.Weekly; i++ {
		weeks[weekKey(monday.AddDate(0, 0, -7*i))] = true
	}
	months := map[string]bool{}
	firstOfMonth := time.Date(ref.Year(), ref.Month(), 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < r.Monthly; i++ {
		months[monthKey(firstOfMonth.AddDate(0, -i, 0))] = true
	}

	keep := func(i int, reason string) {
		if !decisions[i].Keep {
			decisions[i].Keep, decisions[i].Reason = true, reason
		}
	}
	for i, c := range sorted {
		if c.Pinned {
			keep(i, "pinned")
		}
	}
	keep(newest, "newest")
	claim := func(allowed map[string]bool, key func(time.Time) string, kind string) {
		claimed := map[string]bool{}
		for i, c := range sorted {
			if c.Status != "ok" {
				continue
			}
			k := key(c.Time.UTC())
			if !allowed[k] || claimed[k] {
				continue
			}
			claimed[k] = true
			keep(i, kind+" "+k)
		}
	}
	claim(days, dayKey, "daily")
	claim(weeks, weekKey, "weekly")
	claim(months, monthKey, "monthly")

	for i, c := range sorted {
		switch {
		case decisions[i].Keep:
		case c.Status != "ok" && i < newest:
			decisions[i].Keep, decisions[i].Reason = true, "bad: "+c.Status+", no newer good backup"
		case c.Status != "ok":
			decisions[i].Reason = "bad: " + c.Status
		default:
			decisions[i].Reason = "expired"
		}
	}
	return decisions, true
}

func dayKey(t time.Time) string   { return t.Format("2006-01-02") }
func monthKey(t time.Time) string { return t.Format("2006-01") }
func weekKey(t time.Time) string {
	y, w := t.ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// SelectPinnedKind applies the retention of the copies taken before a change
// (pre-migration, pre-restore, safety) to one series of them, and is pure:
// each good one is kept until days after its time (counted from now), and
// the newest good one always; a pinned one always. A backup that is not good
// is removed only when a newer good one exists. Without any good backup
// nothing is removed (ok is false). Decisions are returned newest first.
func SelectPinnedKind(items []PruneCandidate, kind string, days int, now time.Time) (decisions []PruneDecision, ok bool) {
	sorted := sortNewestFirst(items)
	decisions = make([]PruneDecision, len(sorted))
	newest := -1
	for i, c := range sorted {
		decisions[i] = PruneDecision{Name: c.Name, Time: c.Time}
		if newest < 0 && c.Status == "ok" {
			newest = i
		}
	}
	for i, c := range sorted {
		until := c.Time.UTC().AddDate(0, 0, days)
		d := &decisions[i]
		switch {
		case c.Pinned:
			d.Keep, d.Reason = true, "pinned"
		case newest < 0:
			d.Keep, d.Reason = true, "no good backup"
		case i == newest:
			d.Keep, d.Reason = true, "newest "+kind
		case c.Status != "ok" && i < newest:
			d.Keep, d.Reason = true, "bad: "+c.Status+", no newer good backup"
		case c.Status != "ok":
			d.Reason = "bad: " + c.Status
		case until.After(now):
			d.Keep, d.Reason = true, kind+" kept until "+dayKey(until)
		default:
			d.Reason = fmt.Sprintf("expired (%s, older than %d days)", kind, days)
		}
	}
	return decisions, newest >= 0
}

func sortNewestFirst(items []PruneCandidate) []PruneCandidate {
	sorted := append([]PruneCandidate(nil), items...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if !sorted[i].Time.Equal(sorted[j].Time) {
			return sorted[i].Time.After(sorted[j].Time)
		}
		return sorted[i].Name > sorted[j].Name
	})
	return sorted
}

// PruneEntry is one backup of the BackupPrune document.
type PruneEntry struct {
	Name     string `json:"name"`
	Location string `json:"location"`
	// Kind is the backup's kind (KindOf); empty for partial files.
	Kind string `json:"kind,omitempty"`
	// Time is the backup's endTime, else the file's modified time.
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
}

// BackupPrune is the `backup prune -o json|yaml` document.
type BackupPrune struct {
	Location string `json:"location"`
	// Namespace is the namespace whose backups were considered.
	Namespace string       `json:"namespace"`
	Kept      []PruneEntry `json:"kept"`
	Removed   []PruneEntry `json:"removed"`
	// Failed are the backups whose removal failed (reason: the error).
	Failed []PruneEntry `json:"failed,omitempty"`
	// NotConsidered were left alone: backups of other namespaces, and those
	// without readable metadata (never removed).
	NotConsidered []PruneEntry `json:"notConsidered"`
	// WAL is what became of the namespace's WAL in the place (wal/<namespace>/).
	WAL    *PruneWAL `json:"wal,omitempty"`
	DryRun bool      `json:"dryRun"`
}

// PruneOptions are the options of `backup prune`.
type PruneOptions struct {
	base
	Print     *output.Flags
	Dir, From string
	Retention Retention
	// BaseRetention is the GFS retention of the base backups.
	BaseRetention Retention
	// KeepPinnedDays keeps pre-migration, pre-restore and safety copies this many days.
	KeepPinnedDays int
	DryRun         cli.DryRun
	target         Target
}

// NewPruneOptions returns the defaults.
func NewPruneOptions(g *cli.Global) *PruneOptions {
	return &PruneOptions{base: newBase(g), Print: output.NewFlags(), KeepPinnedDays: DefaultKeepPinnedDays,
		Retention:     Retention{Daily: DefaultKeepDaily, Weekly: DefaultKeepWeekly, Monthly: DefaultKeepMonthly},
		BaseRetention: Retention{Daily: DefaultKeepBaseDaily, Weekly: DefaultKeepBaseWeekly, Monthly: DefaultKeepBaseMonthly}}
}

// NewCmdPrune returns `backup prune`.
func NewCmdPrune(g *cli.Global) *cobra.Command {
	o := NewPruneOptions(g)
	cmd := &cobra.Command{
		Use:   "prune (--dir DIR | --from s3://BUCKET/PREFIX) [--env ENV | -n NS] [--keep-daily 7] [--keep-weekly 4] [--keep-monthly 12] [--keep-base-daily 7 --keep-base-weekly 4 --keep-base-monthly 3] [--keep-pinned-days 30] [--dry-run=none|client] [-o json|yaml]",
		Short: "Remove the backups of one namespace that retention no longer keeps, and the WAL no kept base backup needs (never the newest good one of a kind, never a pinned one)",
		Long: `Remove the backups of one namespace that retention no longer keeps.

Only the backups of the namespace that --env/-n resolve to (else the context's, as every
command) are considered, as their BackupInfo records it; backups of other namespaces are
left alone and counted, and a backup whose metadata is missing or unreadable is never
removed (its namespace is unknown). Retention counts apart each kind (KIND in backup
list), environment and database (PostgreSQL dumps and Redis copies):
  scheduled, manual    the newest good backup (status ok) of each of the last --keep-daily
                       days, --keep-weekly ISO weeks and --keep-monthly months; the calendar
                       buckets (UTC) are counted back from the newest good backup's time,
                       not from now, so a stopped backup job never makes everything expire
  pre-migration, pre-restore, safety
                       each kept --keep-pinned-days days after it was taken, and the
                       newest good one of its kind always
The newest good backup of each kind is always kept, and so is every pinned backup (backup
pin). A backup that is not good (size-mismatch) is no kept copy: it is removed only when a
newer good backup of its kind exists. Partial files of a create that was killed
(.NAME.partial-*, named for the namespace) are removed once older than 1h. Without any good
backup of the namespace nothing is removed (exit 1). Removing a backup removes its data and
its <name>.json and <name>.sha256 beside it. --dry-run=client shows every decision and why.

Base backups (backup create --physical) are a series of their own, kept by --keep-base-daily,
--keep-base-weekly and --keep-base-monthly (7/4/3: the WAL from the oldest kept one on stays,
so their months cost more than a dump's). A base backup is good only when its WAL chain is
whole in the place's wal/<namespace>/ (every segment from its start to its end LSN, synced
by backup wal sync); one that is not (wal-missing) is never a kept copy, so the newest base
backup that can be restored is always kept. Then the WAL segments positioned before the
start segment of the oldest kept base backup are removed from wal/<namespace>/ with their
.sha256 sidecars (sidecar first); history files and every later segment stay, and nothing
of the WAL is removed without a good base backup. backup wal prune does the same to the
archive volume in the postgres pod.`,
		Example: `  kubectl piyasa backup prune --dir ./backups --env prod --dry-run=client
  kubectl piyasa backup prune --from s3://my-bucket/piyasa -n piyasa-chatbot --keep-daily 14 -o json | jq '.removed|length'`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "Prune the backups in this directory")
	cmd.Flags().StringVar(&o.From, "from", "", "Prune the backups under s3://BUCKET/PREFIX")
	cmd.Flags().IntVar(&o.Retention.Daily, "keep-daily", DefaultKeepDaily, "Keep the newest good backup of each of this many days")
	cmd.Flags().IntVar(&o.Retention.Weekly, "keep-weekly", DefaultKeepWeekly, "Keep the newest good backup of each of this many ISO weeks")
	cmd.Flags().IntVar(&o.Retention.Monthly, "keep-monthly", DefaultKeepMonthly, "Keep the newest good backup of each of this many months")
	cmd.Flags().IntVar(&o.BaseRetention.Daily, "keep-base-daily", DefaultKeepBaseDaily, "Keep the newest good base backup of each of this many days")
	cmd.Flags().IntVar(&o.BaseRetention.Weekly, "keep-base-weekly", DefaultKeepBaseWeekly, "Keep the newest good base backup of each of this many ISO weeks")
	cmd.Flags().IntVar(&o.BaseRetention.Monthly, "keep-base-monthly", DefaultKeepBaseMonthly, "Keep the newest good base backup of each of this many months (the WAL from the oldest kept one on stays)")
	cmd.Flags().IntVar(&o.KeepPinnedDays, "keep-pinned-days", DefaultKeepPinnedDays, "Keep pre-migration, pre-restore and safety backups this many days (the newest of each kind always)")
	cli.AddDryRunFlag(cmd)
	o.S3.AddFlags(cmd.Flags())
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete resolves the global options and --dry-run.
func (o *PruneOptions) Complete(cmd *cobra.Command, _ []string) error {
	return o.completeDryRun(cmd, &o.DryRun)
}

// completeDryRun completes the global options and reads --dry-run into d
// (cmd nil: a caller that set the options itself).
func (b *base) completeDryRun(cmd *cobra.Command, d *cli.DryRun) error {
	if err := b.Global.Complete(); err != nil {
		return err
	}
	if cmd != nil {
		v, err := cli.GetDryRun(cmd, b.ErrOut)
		if err != nil {
			return err
		}
		*d = v
	}
	return nil
}

// Validate checks the flags (no I/O).
func (o *PruneOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	if (o.Dir == "") == (o.From == "") {
		return cli.Usagef("give exactly one of --dir DIR or --from s3://BUCKET/PREFIX")
	}
	if o.DryRun == cli.DryRunServer {
		return cli.Usagef(`--dry-run=server is not supported by backup prune: use --dry-run=client`)
	}
	r := o.Retention
	if r.Daily < 0 || r.Weekly < 0 || r.Monthly < 0 {
		return cli.Usagef("--keep-daily, --keep-weekly and --keep-monthly must be >= 0")
	}
	if r.Daily == 0 && r.Weekly == 0 && r.Monthly == 0 {
		return cli.Usagef("at least one of --keep-daily, --keep-weekly, --keep-monthly must be > 0")
	}
	if b := o.BaseRetention; b.Daily < 0 || b.Weekly < 0 || b.Monthly < 0 {
		return cli.Usagef("--keep-base-daily, --keep-base-weekly and --keep-base-monthly must be >= 0")
	}
	if o.KeepPinnedDays < 0 {
		return cli.Usagef("--keep-pinned-days must be >= 0")
	}
	t, err := placeTarget(o.Dir, o.From, o.S3)
	if err != nil {
		return err
	}
	o.target = t
	return nil
}

// listItems reads the backups of a target with their status and kind, and
// the partial files of a directory (partial when older than PartialAge at
// now, else writing) (backup list and prune).
func listItems(ctx context.Context, t Target, now time.Time) ([]ListItem, error) {
	entries, err := t.List(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, cli.Failedf("cannot list %s: %v", t.Location(""), err)
	}
	var items []ListItem
	for _, e := range entries {
		it := ListItem{Name: e.Name, Location: t.Location(e.Name), Size: e.Size, Modified: e.Modified.UTC(), Status: "ok"}
		raw, err := t.ReadMeta(ctx, e.Name)
		switch {
		case err != nil && isNotExist(err):
			it.Status = "no-metadata"
		case err != nil:
			return nil, cli.Failedf("cannot read the metadata of %s: %v", it.Location, err)
		default:
			info, err := ParseInfo(raw)
			if err != nil {
				it.Status = "bad-metadata"
			} else {
				it.Info = info
				if info.StoredBytes != e.Size {
					it.Status = "size-mismatch"
				}
			}
		}
		it.Kind = KindOf(it.Name, it.Info)
		items = append(items, it)
	}
	if pl, ok := t.(partialLister); ok {
		partials, err := pl.Partials(ctx)
		if err != nil {
			return nil, cli.Failedf("cannot list %s: %v", t.Location(""), err)
		}
		for _, e := range partials {
			st := StatusPartial
			if now.Sub(e.Modified) < PartialAge {
				st = StatusWriting
			}
			items = append(items, ListItem{Name: e.Name, Location: t.Location(e.Name), Size: e.Size, Modified: e.Modified.UTC(), Status: st})
		}
	}
	return items, nil
}

// Run prunes.
func (o *PruneOptions) Run(ctx context.Context) error {
	items, err := listItems(ctx, o.target, o.Now())
	if err != nil {
		return err
	}
	wal, walFiles, err := o.listWAL(ctx)
	if err != nil {
		return err
	}
	plan := PlanPrune(items, PrunePolicy{Retention: o.Retention, BaseRetention: o.BaseRetention, WAL: walFiles,
		PinnedDays: o.KeepPinnedDays, Namespace: o.Namespace, Now: o.Now()})
	doc := BackupPrune{Location: strings.TrimSuffix(o.target.Location(""), "/"), Namespace: o.Namespace,
		Kept: append([]PruneEntry{}, plan.Kept...), Removed: []PruneEntry{},
		NotConsidered: append([]PruneEntry{}, plan.NotConsidered...), DryRun: o.DryRun.Active()}
	doc.WAL = &PruneWAL{Location: strings.TrimSuffix(wal.Location(""), "/"), WALPrunePlan: plan.WAL}
	if !plan.AnyGood {
		if err := o.print(doc); err != nil {
			return err
		}
		return cli.Failedf("no good backup of namespace %s in %s: nothing removed", o.Namespace, doc.Location).
			WithHint("%s", o.leftAlone(doc))
	}
	for _, e := range plan.Removed {
		if !o.DryRun.Active() {
			var err error
			if e.Kind == "" {
				err = removePartial(o.target, e.Name)
			} else {
				err = removeBackup(ctx, o.target, e.Name)
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				doc.Failed = append(doc.Failed, PruneEntry{Name: e.Name, Location: e.Location, Kind: e.Kind, Time: e.Time, Reason: err.Error()})
				continue
			}
		}
		doc.Removed = append(doc.Removed, e)
	}
	if err := o.pruneWAL(ctx, wal, &doc); err != nil {
		return err
	}
	if err := o.print(doc); err != nil {
		return err
	}
	if doc.WAL.Failed != "" {
		return cli.Failedf("cannot remove the WAL no base backup needs from %s: %s", doc.WAL.Location, doc.WAL.Failed)
	}
	if len(doc.Failed) > 0 {
		return cli.Failedf("cannot remove %d backup(s), first %s: %s", len(doc.Failed), doc.Failed[0].Location, doc.Failed[0].Reason)
	}
	return nil
}

// leftAlone says how many backups prune did not consider, and how to see them.
func (o *PruneOptions) leftAlone(doc BackupPrune) string {
	if len(doc.NotConsidered) == 0 {
		return fmt.Sprintf("%s holds no backup of namespace %s: name the environment with --env or -n", doc.Location, o.Namespace)
	}
	return fmt.Sprintf("%d backup(s) of other namespaces or without metadata left alone: name the environment with --env or -n (see backup list)", len(doc.NotConsidered))
}

// removeBackup removes a backup's metadata (<name>.json, <name>.sha256) and
// then its data: a removal cut short leaves data without metadata, which list
// shows as no-metadata and the next prune removes, never an invisible orphan.
func removeBackup(ctx context.Context, t Target, name string) error {
	return removeFiles(ctx, t, []string{name + MetadataSuffix, name + ChecksumSuffix, name})
}

// removeFiles removes files of a directory or objects of an S3 prefix, in
// order; one already gone is no error.
func removeFiles(ctx context.Context, t Target, names []string) error {
	switch t := t.(type) {
	case DirTarget:
		for _, n := range names {
			if err := os.Remove(filepath.Join(t.Dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		syncDir(t.Dir)
		return nil
	case *S3Target:
		c, err := t.Flags.Client()
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := c.RemoveObject(ctx, t.Bucket, t.key(n), minio.RemoveObjectOptions{}); err != nil {
				if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" || r.StatusCode == 404 {
					continue
				}
				return fmt.Errorf("remove %s: %v", t.Location(n), err)
			}
		}
		return nil
	}
	return fmt.Errorf("cannot remove files from %s", t.Location(""))
}

func (o *PruneOptions) print(doc BackupPrune) error {
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, KindBackupPrune, doc)
	}
	if len(doc.Kept)+len(doc.Removed)+len(doc.Failed)+len(doc.NotConsidered) == 0 {
		o.Infof("no backups in %s\n", doc.Location)
		return nil
	}
	type row struct {
		action string
		e      PruneEntry
	}
	var rows []row
	for _, e := range doc.Kept {
		rows = append(rows, row{"KEEP", e})
	}
	for _, e := range doc.Removed {
		rows = append(rows, row{"REMOVE", e})
	}
	for _, e := range doc.Failed {
		rows = append(rows, row{"FAILED", e})
	}
	for _, e := range doc.NotConsidered {
		rows = append(rows, row{"SKIP", e})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].e.Time.After(rows[j].e.Time) })
	tp := output.NewTable(o.Out, "ACTION", "NAME", "KIND", "AGE", "REASON")
	now := o.Now()
	for _, r := range rows {
		tp.Append(r.action, r.e.Name, orDash(r.e.Kind), duration.HumanDuration(now.Sub(r.e.Time)), r.e.Reason)
	}
	for _, r := range walRows(doc) {
		tp.Append(r...)
	}
	if err := tp.Render(); err != nil {
		return err
	}
	verb := "removed"
	if doc.DryRun {
		verb = "would remove"
	}
	skipped := ""
	if n := len(doc.NotConsidered); n > 0 {
		skipped = fmt.Sprintf("; left alone %d of other namespaces or without metadata", n)
	}
	wal := ""
	if doc.WAL != nil && len(doc.WAL.RemovedSegments) > 0 {
		wal = fmt.Sprintf(" and %s", cli.Plural(len(doc.WAL.RemovedSegments), "WAL segment", "WAL segments"))
	}
	o.Infof("%s, namespace %s: kept %d, %s %d%s%s%s\n", doc.Location, doc.Namespace, len(doc.Kept), verb, len(doc.Removed), wal, skipped, o.DryRun.Suffix())
	return nil
}
