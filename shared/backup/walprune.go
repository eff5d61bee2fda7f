package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// KindWALPruneResult is the kind of `backup wal prune -o json|yaml`.
const KindWALPruneResult = "WALPruneResult"

// walRemoveBatch is how many segment names one exec removes (well under
// ARG_MAX: 25 bytes a name).
const walRemoveBatch = 2000

// walRemoveScript removes the archived files named in its arguments.
const walRemoveScript = `cd "$` + app.EnvWALArchiveDir + `" || exit 97
rm -f -- "$@"
`

// WALPruneResult is what `backup wal prune` did.
type WALPruneResult struct {
	Namespace string `json:"namespace"`
	// Pod is the postgres pod whose archive volume was pruned.
	Pod string `json:"pod"`
	// Place is the directory or S3 prefix whose base backups and synced WAL decided.
	Place string `json:"place"`
	ArchivePrunePlan
	DryRun bool `json:"dryRun"`
}

// WALPruneOptions are the options of `backup wal prune`.
type WALPruneOptions struct {
	base
	Print     *output.Flags
	Dir, From string
	Force     bool
	DryRun    cli.DryRun

	place, wal Target
}

// NewWALPruneOptions returns the defaults.
func NewWALPruneOptions(g *cli.Global) *WALPruneOptions {
	return &WALPruneOptions{base: newBase(g), Print: output.NewFlags()}
}

// NewCmdWALPrune returns `backup wal prune`.
func NewCmdWALPrune(g *cli.Global) *cobra.Command {
	o := NewWALPruneOptions(g)
	cmd := &cobra.Command{
		Use:   "prune (--dir DIR | --from s3://BUCKET/PREFIX) [--force] [--dry-run=none|client] [-o table|json|yaml]",
		Short: "Remove from the postgres pod's WAL archive volume the segments synced off the cluster that no newer base backup needs",
		Long: `Free the WAL archive volume in the postgres pod ($WAL_ARCHIVE_DIR): remove, in one exec, the
segments positioned before the start segment of the newest good base backup of the namespace
in --dir or --from (good: its BackupInfo is ok and its WAL chain is whole in that place's
wal/<namespace>/), and only those already synced there (their sidecar exists). History
files, segments not yet synced, the newest segment and every segment from that start on
stay; older base backups replay their WAL from the place (backup restore --from). The
database is not changed (no lock is taken).

Without a good base backup in the place nothing is removed (exit 2): the archived WAL is
then all there is to recover from once a base backup exists. --force removes every synced
segment but the newest anyway, for a volume about to fill up (PostgreSQL stops when it
cannot archive). backup prune does the same to the place's own WAL.`,
		Example: `  kubectl piyasa backup wal prune --env prod --dir /backups --dry-run=client
  kubectl piyasa backup wal prune --env prod --from s3://my-bucket/piyasa -o json`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "The directory holding the base backups and the synced WAL (DIR/wal/<namespace>/)")
	cmd.Flags().StringVar(&o.From, "from", "", "The S3 prefix holding them: s3://BUCKET/PREFIX")
	cmd.Flags().BoolVar(&o.Force, "force", false, "Without a good base backup, remove every synced segment but the newest")
	cli.AddDryRunFlag(cmd)
	o.S3.AddFlags(cmd.Flags())
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete resolves the global options and --dry-run.
func (o *WALPruneOptions) Complete(cmd *cobra.Command, _ []string) error {
	return o.completeDryRun(cmd, &o.DryRun)
}

// Validate checks the flags (no I/O).
func (o *WALPruneOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	if o.Print.IsWide() {
		return cli.Usagef("-o wide has nothing to add to a WAL prune: use -o table, json or yaml")
	}
	if o.DryRun == cli.DryRunServer {
		return cli.Usagef(`--dry-run=server is not supported by backup wal prune: use --dry-run=client`)
	}
	if (o.Dir == "") == (o.From == "") {
		return cli.Usagef("give exactly one of --dir DIR or --from s3://BUCKET/PREFIX")
	}
	place, err := placeTarget(o.Dir, o.From, o.S3)
	if err != nil {
		return err
	}
	wal, err := WALTarget(place, o.Namespace)
	if err != nil {
		return cli.Usagef("%v", err)
	}
	o.place, o.wal = place, wal
	return nil
}

// Run plans from the place and the pod's archive, then removes.
func (o *WALPruneOptions) Run(ctx context.Context) error {
	items, err := listItems(ctx, o.place, o.Now())
	if err != nil {
		return err
	}
	entries, err := listFiles(ctx, o.wal)
	if err != nil {
		return cli.Failedf("cannot list %s: %v", o.wal.Location(""), err)
	}
	synced := map[string]bool{}
	var names []string
	for n := range SyncedWAL(entries) {
		synced[n] = true
		names = append(names, n)
	}
	placeLoc := strings.TrimSuffix(o.place.Location(""), "/")
	base := NewestGoodBase(items, o.Namespace, names)
	if base == nil && !o.Force {
		return cli.Usagef("no base backup of namespace %s in %s has a whole WAL chain there: every archived segment is still needed for the first one; nothing removed", o.Namespace, placeLoc).
			WithHint("take one (backup create --physical) and sync the WAL (backup wal sync); --force removes the synced segments anyway (all but the newest)")
	}
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
	archive, err := o.listArchive(ctx, ex, pod, container)
	if err != nil {
		return cli.Failedf("%v", err)
	}
	plan, err := PlanArchivePrune(archive, synced, base, o.Force)
	if err != nil {
		return cli.Failedf("%v", err)
	}
	res := &WALPruneResult{Namespace: o.Namespace, Pod: pod.Name, Place: placeLoc, ArchivePrunePlan: plan, DryRun: o.DryRun.Active()}
	if !o.DryRun.Active() {
		if err := o.remove(ctx, ex, pod, container, plan.Remove); err != nil {
			return err
		}
	}
	return o.print(res)
}

// remove removes the segments from the archive, in batches of one exec each.
func (o *WALPruneOptions) remove(ctx context.Context, ex Executor, pod *corev1.Pod, container string, names []string) error {
	for start := 0; start < len(names); start += walRemoveBatch {
		batch := names[start:min(start+walRemoveBatch, len(names))]
		for _, n := range batch {
			if !walarchive.IsSegmentName(n) {
				return cli.Failedf("refusing to remove %q: not a WAL segment name", n)
			}
		}
		var out bytes.Buffer
		stderr := &StderrCollector{}
		cmd := append([]string{"sh", "-c", walRemoveScript, "piyasa-wal-prune"}, batch...)
		if err := ex.Exec(ctx, pod, container, cmd, nil, &out, stderr); err != nil {
			if ctx.Err() != nil {
				return cli.Interruptedf("interrupted while removing WAL segments from pod %s (%d removed before this batch): run it again", pod.Name, start)
			}
			msg := output.FirstLine(err.Error())
			if last := stderr.Last(); last != "" {
				msg += ": " + last
			}
			var ce *cli.Error
			if errors.As(err, &ce) {
				return err
			}
			return cli.Failedf("cannot remove WAL segments from $%s in pod %s (%d removed before): %s", app.EnvWALArchiveDir, pod.Name, start, msg)
		}
	}
	return nil
}

func (o *WALPruneOptions) print(res *WALPruneResult) error {
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, KindWALPruneResult, res)
	}
	verb := "removed"
	if res.DryRun {
		verb = "would remove"
	}
	what := cli.Plural(len(res.Remove), "WAL segment", "WAL segments")
	if n := len(res.Remove); n > 0 {
		what += fmt.Sprintf(" (%s, %s..%s)", HumanBytes(res.Bytes), res.Remove[0], res.Remove[n-1])
	}
	why := "every synced segment but the newest (--force, no base backup)"
	if res.BaseBackup != "" {
		why = fmt.Sprintf("those before %s, the start of base backup %s", res.KeepFrom, res.BaseBackup)
	}
	fmt.Fprintf(o.Out, "%s %s from the WAL archive of pod %s: %s\n", verb, what, res.Pod, why)
	fmt.Fprintf(o.Out, "kept %s", cli.Plural(res.Kept, "segment", "segments"))
	if res.NotSynced > 0 {
		fmt.Fprintf(o.Out, ", %d of them older but not yet synced to %s (run backup wal sync)", res.NotSynced, res.Place)
	}
	fmt.Fprintf(o.Out, "%s\n", o.DryRun.Suffix())
	return nil
}
