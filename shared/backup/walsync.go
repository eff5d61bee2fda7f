package backup

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// KindWALSyncResult is the kind of `backup wal sync -o json|yaml`.
const KindWALSyncResult = "WALSyncResult"

// DefaultWALSyncInterval is how often --follow looks for new segments.
const DefaultWALSyncInterval = 10 * time.Second

// WALSyncResult is what one sync did.
type WALSyncResult struct {
	Namespace string `json:"namespace"`
	// Location is the WAL folder of the target (.../wal/<namespace>).
	Location string `json:"location"`
	// Copied and Skipped count the files copied and those already synced.
	Copied  int `json:"copied"`
	Skipped int `json:"skipped"`
	// Bytes is what was copied.
	Bytes int64 `json:"bytes"`
	// Files are the files copied, in order.
	Files []string `json:"files"`
	// LastSegment is the newest segment now synced ("" when none).
	LastSegment string `json:"lastSegment,omitempty"`
}

// WALSyncOptions are the options of `backup wal sync`.
type WALSyncOptions struct {
	base
	Print    *output.Flags
	Dir, To  string
	Follow   bool
	Interval time.Duration
	// Encrypt are --encrypt-to and --recipients-file: each file is stored as <name>.age.
	Encrypt EncryptFlags

	target Target
	rcpt   *Recipients
}

// NewWALSyncOptions returns the defaults.
func NewWALSyncOptions(g *cli.Global) *WALSyncOptions {
	return &WALSyncOptions{base: newBase(g), Print: output.NewFlags(), Interval: DefaultWALSyncInterval}
}

// NewCmdWALSync returns `backup wal sync`.
func NewCmdWALSync(g *cli.Global) *cobra.Command {
	o := NewWALSyncOptions(g)
	cmd := &cobra.Command{
		Use:   "sync (--dir DIR | --to s3://BUCKET/PREFIX) [--follow [--interval 10s]] [-o table|json|yaml]",
		Short: "Copy the WAL segments archived in the postgres pod to a directory or S3, checked",
		Long: `List the WAL archive in the postgres pod ($WAL_ARCHIVE_DIR) and copy every segment and
timeline history file not yet synced to wal/<namespace>/ under the directory or S3 prefix.
Each file is streamed out with its byte count and sha256 computed in the pod; it is
written under a temporary name, checked and renamed, and only then is its sidecar
<name>.sha256 ("<sha256>  <bytes>") written: a file counts as synced once its sidecar
exists. A rerun copies only what is new, and a killed sync leaves nothing that counts.
With --encrypt-to (or --recipients-file) each file is encrypted with age as it streams and
stored as <name>.age; its sidecar then describes the stored (encrypted) bytes, and
restore --to-time needs --identity to read it.
The sync only reads the database's archive. --follow repeats every --interval until
Ctrl-C or SIGTERM (a failed round is reported and retried).`,
		Example: `  kubectl piyasa backup wal sync --env prod --dir /backups
  kubectl piyasa backup wal sync --env prod --to s3://my-bucket/piyasa --follow -o json`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "Copy the WAL into DIR/wal/<namespace>/ (created 0700)")
	cmd.Flags().StringVar(&o.To, "to", "", "Copy the WAL to S3: s3://BUCKET/PREFIX (objects PREFIX/wal/<namespace>/<name>)")
	cmd.Flags().BoolVar(&o.Follow, "follow", false, "Keep syncing every --interval until Ctrl-C or SIGTERM")
	cmd.Flags().DurationVar(&o.Interval, "interval", o.Interval, "With --follow: the pause between two syncs")
	o.Encrypt.AddFlags(cmd.Flags())
	o.S3.AddFlags(cmd.Flags())
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete resolves the namespace and environment.
func (o *WALSyncOptions) Complete(_ *cobra.Command, _ []string) error { return o.Global.Complete() }

// Validate checks the flags (no I/O).
func (o *WALSyncOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	if o.Print.IsWide() {
		return cli.Usagef("-o wide has nothing to add to a sync: use -o table, json or yaml")
	}
	t, err := walPlace(o.Dir, o.To, o.S3, o.Namespace)
	if err != nil {
		return err
	}
	o.target = t
	if o.Interval != DefaultWALSyncInterval && !o.Follow {
		return cli.Usagef("--interval goes with --follow")
	}
	if o.Interval < time.Second {
		return cli.Usagef("--interval %s is too short: give 1s or more", o.Interval)
	}
	return o.Encrypt.Validate()
}

// walPlace is namespace ns's WAL folder under the place --dir or --to names.
func walPlace(dir, to string, s3 *S3Flags, ns string) (Target, error) {
	if (dir == "") == (to == "") {
		return nil, cli.Usagef("give exactly one of --dir DIR or --to s3://BUCKET/PREFIX")
	}
	t, err := placeTarget(dir, to, s3)
	if err != nil {
		return nil, err
	}
	w, err := WALTarget(t, ns)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	return w, nil
}

// Run syncs once, or with --follow until Ctrl-C.
func (o *WALSyncOptions) Run(ctx context.Context) error {
	rcpt, err := o.Encrypt.Recipients()
	if err != nil {
		return err
	}
	o.rcpt = rcpt
	if !o.Follow {
		res, err := o.syncOnce(ctx)
		if err != nil {
			return err
		}
		return o.print(res)
	}
	for round := 0; ; round++ {
		res, err := o.syncOnce(ctx)
		if ctx.Err() != nil {
			return cli.ExitCode(cli.ExitInterrupted) // Ctrl-C ends --follow: silent, as scale status -w
		}
		if err != nil {
			o.Infof("warning: %s; retrying in %s\n", output.FirstLine(err.Error()), o.Interval)
		} else if res.Copied > 0 || round == 0 {
			if err := o.print(res); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return cli.ExitCode(cli.ExitInterrupted)
		case <-time.After(o.Interval):
		}
	}
}

func (o *WALSyncOptions) print(res *WALSyncResult) error {
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, KindWALSyncResult, res)
	}
	last := ""
	if res.LastSegment != "" {
		last = "; newest segment " + res.LastSegment
	}
	fmt.Fprintf(o.Out, "copied %s (%s) to %s, %d already there%s\n",
		cli.Plural(res.Copied, "WAL file", "WAL files"), HumanBytes(res.Bytes), res.Location, res.Skipped, last)
	return nil
}

// syncOnce copies every archived file the target lacks, in name order.
func (o *WALSyncOptions) syncOnce(ctx context.Context) (*WALSyncResult, error) {
	cs, err := o.Clientset()
	if err != nil {
		return nil, err
	}
	pod, container, err := o.postgresPod(ctx, cs)
	if err != nil {
		return nil, err
	}
	ex, err := o.executor()
	if err != nil {
		return nil, err
	}
	archived, err := o.listArchive(ctx, ex, pod, container)
	if err != nil {
		if ctx.Err() != nil {
			return nil, cli.Interruptedf("interrupted before any WAL was copied; nothing was written")
		}
		return nil, cli.Failedf("%v", err).WithHint("is WAL archiving on? the postgres pod needs $WAL_ARCHIVE_DIR (deploy the current manifests)")
	}
	entries, err := listFiles(ctx, o.target)
	if err != nil {
		return nil, cli.Failedf("cannot list %s: %v", o.target.Location(""), err)
	}
	synced := SyncedWAL(entries)
	res := &WALSyncResult{Namespace: o.Namespace, Location: o.target.Location(""), Files: []string{}}
	for name := range synced {
		res.LastSegment = newerSegment(res.LastSegment, name)
	}
	for _, f := range archived {
		if _, ok := synced[f.Name]; ok {
			res.Skipped++
			continue
		}
		n, err := o.copyWAL(ctx, ex, pod, container, f.Name)
		if err != nil {
			return res, o.partly(res, err)
		}
		res.Copied++
		res.Bytes += n
		res.Files = append(res.Files, f.Name)
		res.LastSegment = newerSegment(res.LastSegment, f.Name)
	}
	return res, nil
}

// partly adds, to the error that stopped a sync, what it had copied.
func (o *WALSyncOptions) partly(res *WALSyncResult, err error) error {
	e, ok := err.(*cli.Error)
	if !ok || res.Copied == 0 {
		return err
	}
	e.Msg += fmt.Sprintf(" (%s copied before it, up to %s: they count)", cli.Plural(res.Copied, "WAL file was", "WAL files were"), res.Files[len(res.Files)-1])
	if e.Hint == "" {
		e.Hint = "run the sync again: it copies only what is missing"
	}
	return e
}

// newerSegment is the newer of two segment names ("" and history files lose).
func newerSegment(a, b string) string {
	if !walarchive.IsSegmentName(b) {
		return a
	}
	if a == "" || b > a {
		return b
	}
	return a
}

// copyWAL streams one archived file out of the pod into the target, checks
// it, and then writes its sidecar. On any failure nothing counts.
func (o *WALSyncOptions) copyWAL(ctx context.Context, ex Executor, pod *corev1.Pod, container, name string) (int64, error) {
	stored := o.rcpt.Name(name)
	loc := o.target.Location(stored)
	created, err := o.target.Create(ctx, stored)
	if err != nil {
		return 0, cli.Failedf("cannot write %s: %v", loc, err)
	}
	// The sidecar describes the stored bytes (the ciphertext when encrypting).
	storedSum := NewCounter()
	enc, err := o.rcpt.Wrap(CountingSink(created, storedSum))
	if err != nil {
		created.Abort()
		return 0, cli.Failedf("cannot encrypt %s: %v", loc, err)
	}
	sink := &watchedSink{Sink: enc}
	committed := false
	defer func() {
		if !committed {
			sink.Abort()
		}
	}()
	raw := NewCounter()
	stderr := &StderrCollector{}
	execErr := ex.Exec(ctx, pod, container, WALCopyCommand(name), nil, io.MultiWriter(raw, sink), stderr)
	if err := o.checkCopied(ctx, name, sink, execErr, stderr, raw); err != nil {
		return 0, err
	}
	if err := sink.Commit(ctx); err != nil {
		if ctx.Err() != nil {
			return 0, o.interrupted(name)
		}
		return 0, cli.Failedf("cannot store %s: %v", loc, err)
	}
	committed = true
	if err := writeSidecar(ctx, o.target, stored, storedSum.Sum(), storedSum.N); err != nil {
		if ctx.Err() != nil {
			return 0, o.interrupted(name)
		}
		return 0, cli.Failedf("%s written but its sidecar %s could not be: %v; it does not count until a sync writes both", loc, loc+WALSidecarSuffix, err)
	}
	return raw.N, nil
}

// checkCopied judges the copy of one WAL file out of the pod.
func (o *WALSyncOptions) checkCopied(ctx context.Context, name string, sink *watchedSink, execErr error, stderr *StderrCollector, raw *Counter) error {
	st, haveStatus := stderr.Status()
	if ctx.Err() != nil {
		return o.interrupted(name)
	}
	if err := o.streamErr(ctx, "WAL copy", sink, o.target.Location(name), execErr); err != nil {
		return err
	}
	if execErr != nil && !haveStatus {
		if apierrors.IsForbidden(execErr) || apierrors.IsUnauthorized(execErr) {
			return execErr
		}
		return cli.Failedf("copy of WAL file %s failed, nothing kept: %s", name, output.FirstLine(execErr.Error()))
	}
	if err := CheckStreamed(Streamed{What: "WAL file " + name, Program: "cat"}, st, haveStatus, raw, stderr.Last()); err != nil {
		return cli.Failedf("copy of WAL file %s rejected, nothing kept: %v", name, err)
	}
	if walarchive.IsSegmentName(name) && raw.N != walarchive.SegmentSize {
		return cli.Failedf("WAL segment %s in the pod's archive is %d bytes, not %d: not kept", name, raw.N, walarchive.SegmentSize).
			WithHint("a segment is always whole (archive_command renames it into place): check the archive volume")
	}
	if execErr != nil {
		return cli.Failedf("copy of WAL file %s rejected, nothing kept: the exec stream failed: %s", name, output.FirstLine(execErr.Error()))
	}
	return nil
}

// interrupted is the message of a sync stopped by Ctrl-C or SIGTERM.
func (o *WALSyncOptions) interrupted(name string) error {
	return cli.Interruptedf("interrupted while copying WAL file %s: it does not count (no sidecar); the database was not changed", name).
		WithHint("run the sync again: it copies only what is missing")
}
