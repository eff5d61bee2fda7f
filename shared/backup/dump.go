package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// NameStampLayout is the UTC time in a generated backup name, to the
// millisecond (20261206T134916.123Z): names sort in the order backups were
// taken, and two backups in one second get distinct names.
const NameStampLayout = "20060102T150405.000Z"

// DefaultName is the name of a backup taken at t of namespace ns.
func DefaultName(ns string, t time.Time, c Compression) string {
	return fmt.Sprintf("%s-%s-%s%s", app.DatabaseName, ns, t.UTC().Format(NameStampLayout), c.Ext())
}

// interrupted is the message of a backup stopped by Ctrl-C or SIGTERM while
// its data was being written: nothing is left under the final name (the
// sink's Abort runs as the caller returns) and the database was only read.
func interrupted(location string, s3 bool) error {
	left := "no partial file is left"
	if s3 {
		left = "the incomplete upload is aborted"
	}
	return cli.Interruptedf("interrupted: the backup was not taken, nothing was written to %s (%s); the database was not changed", location, left)
}

// isS3 reports an object storage target.
func isS3(t Target) bool {
	_, ok := t.(*S3Target)
	return ok
}

// dumpRequest is one dump to run.
type dumpRequest struct {
	Target      Target
	Name        string
	Compression Compression
	Database    string
	// Kind is the BackupInfo's backupKind (KindScheduled ...).
	Kind string
	// Encrypt encrypts the stored file to these recipients (nil: not
	// encrypted); Name then ends in .age.
	Encrypt *Recipients
	// PodCompression makes pg_dump compress in the pod ("" or none: the
	// plain dump travels and the client compresses).
	PodCompression Compression
}

// base holds what every backup command shares.
type base struct {
	*cli.Global
	// Executor runs commands in pods (default: the exec API).
	Executor Executor
	S3       *S3Flags
	// Identity is --identity of the commands that read backups (verify,
	// restore, pull); ids holds what loadIdentities read from it.
	Identity IdentityFlags
	ids      *Identities
}

// loadIdentities reads the --identity files (exit 2 on a bad one) before
// the command reads or changes anything.
func (b *base) loadIdentities() error {
	ids, err := b.Identity.Load()
	if err != nil {
		return err
	}
	b.ids = ids
	return nil
}

func newBase(g *cli.Global) base { return base{Global: g, S3: &S3Flags{}} }

func (b *base) executor() (Executor, error) {
	if b.Executor != nil {
		return b.Executor, nil
	}
	cfg, err := b.RESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := b.Clientset()
	if err != nil {
		return nil, err
	}
	b.Executor = &RemoteExecutor{Config: cfg, Client: cs}
	return b.Executor, nil
}

// images reads the api and worker images (missing workloads give "").
func (b *base) images(ctx context.Context) (Images, error) {
	cs, err := b.Clientset()
	if err != nil {
		return Images{}, err
	}
	var im Images
	api, _ := app.LookupComponent(app.API)
	if d, err := cs.AppsV1().Deployments(b.Namespace).Get(ctx, b.Env.WorkloadName(api), metav1.GetOptions{}); err == nil {
		if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
			im.API = cs[0].Image
		}
	} else if !apierrors.IsNotFound(err) {
		return im, err
	}
	w, _ := app.LookupComponent(app.Worker)
	if s, err := cs.AppsV1().StatefulSets(b.Namespace).Get(ctx, b.Env.WorkloadName(w), metav1.GetOptions{}); err == nil {
		if cs := s.Spec.Template.Spec.Containers; len(cs) > 0 {
			im.Worker = cs[0].Image
		}
	} else if !apierrors.IsNotFound(err) {
		return im, err
	}
	return im, nil
}

// progress reports bytes, rate and elapsed time on a terminal, at most once a second.
type progress struct {
	w     io.Writer
	on    bool
	what  string
	start time.Time
	last  time.Time
	n     int64
}

func newProgress(w io.Writer, what string) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, on: ok && term.IsTerminal(int(f.Fd())), what: what, start: time.Now()}
}

func (p *progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if p.on && time.Since(p.last) >= time.Second {
		p.last = time.Now()
		el := time.Since(p.start).Seconds()
		fmt.Fprintf(p.w, "\r%s: %s, %s/s, %.0fs   ", p.what, HumanBytes(p.n), HumanBytes(int64(float64(p.n)/max(el, 0.001))), el)
	}
	return len(b), nil
}

func (p *progress) done() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// HumanBytes formats a size as 1.2 MiB (output.HumanBytes).
func HumanBytes(n int64) string { return output.HumanBytes(n) }

// podStream is one stream out of the postgres pod into a target, opened:
// what dump and baseBackup share. Nothing is under the final name until
// sink.Commit; the caller aborts the sink unless it committed.
type podStream struct {
	pod       *corev1.Pod
	container string
	images    Images
	ex        Executor
	sink      *watchedSink
}

// openPodStream finds the postgres pod, reads the app's images and starts
// writing req.Name in req.Target under a temporary name.
func (b *base) openPodStream(ctx context.Context, req dumpRequest) (*podStream, error) {
	cs, err := b.Clientset()
	if err != nil {
		return nil, err
	}
	pod, container, err := b.postgresPod(ctx, cs)
	if err != nil {
		return nil, err
	}
	images, err := b.images(ctx)
	if err != nil {
		return nil, err
	}
	ex, err := b.executor()
	if err != nil {
		return nil, err
	}
	created, err := req.Target.Create(ctx, req.Name)
	if err != nil {
		return nil, cli.Failedf("cannot write %s: %v", req.Target.Location(req.Name), err)
	}
	return &podStream{pod: pod, container: container, images: images, ex: ex, sink: &watchedSink{Sink: created}}, nil
}

// commit stores the stream under its final name: out is what was written
// to (the sink itself, or the encryption wrapping it, which ends its
// stream first).
func (ps *podStream) commit(ctx context.Context, out Sink, req dumpRequest) error {
	if err := out.Commit(ctx); err != nil {
		if ctx.Err() != nil {
			return interrupted(req.Target.Location(req.Name), isS3(req.Target))
		}
		return cli.Failedf("cannot store %s: %v", req.Target.Location(req.Name), err)
	}
	return nil
}

// dump runs pg_dump in the postgres pod and streams it, compressed and
// hashed, to the target. On any failure nothing is left under the final name.
func (b *base) dump(ctx context.Context, req dumpRequest) (*BackupInfo, error) {
	ps, err := b.openPodStream(ctx, req)
	if err != nil {
		return nil, err
	}
	sink := ps.sink
	committed := false
	defer func() {
		if !committed {
			sink.Abort()
		}
	}()

	stored := NewCounter()
	out, err := req.Encrypt.Wrap(CountingSink(sink, stored))
	if err != nil {
		return nil, cli.Failedf("cannot encrypt: %v", err)
	}
	raw := NewCounter()
	scan := NewDumpScanner()
	prog := newProgress(b.ErrOut, "dumping "+req.Database)
	streams, err := newDumpStreams(req.PodCompression, req.Compression, out, raw, scan, prog)
	if err != nil {
		return nil, err
	}
	stderr := &StderrCollector{}
	start := b.Now()
	execErr := ps.ex.Exec(ctx, ps.pod, ps.container, DumpCommandCompressed(req.Database, req.PodCompression), nil, streams.stdout, stderr)
	prog.done()
	expanded := expandScan{scan, streams.finish()}
	if err := b.checkStreamed(ctx, req, streamDump, sink, execErr, stderr, streams.wire, expanded); err != nil {
		return nil, err
	}
	if err := streams.comp.Close(); err != nil {
		if err := b.streamErr(ctx, "dump", sink, req.Target.Location(req.Name), nil); err != nil {
			return nil, err
		}
		return nil, cli.Failedf("compress: %v", err)
	}
	if err := ps.commit(ctx, out, req); err != nil {
		return nil, err
	}
	committed = true
	info := &BackupInfo{
		Name: req.Name, Location: req.Target.Location(req.Name),
		Namespace: b.Namespace, Environment: b.Env.Name, Database: req.Database, Format: FormatPgDump,
		ServerVersion: scan.ServerVersion, PgDumpVersion: scan.PgDumpVersion,
		Images: ps.images, AlembicRevision: scan.AlembicRevision(),
		StartTime: start.UTC().Truncate(time.Second), EndTime: b.Now().UTC().Truncate(time.Second),
		Compression: string(req.Compression),
		RawBytes:    raw.N, RawSHA256: raw.Sum(), StoredBytes: stored.N, StoredSHA256: stored.Sum(),
		Tables: sortedTables(scan.Tables), BackupKind: req.Kind, Encryption: req.Encrypt.Encryption(),
	}
	if err := writeMeta(ctx, req, info); err != nil {
		return nil, err
	}
	return info, nil
}

// postgresPod finds the pod and container pg_dump runs in.
func (b *base) postgresPod(ctx context.Context, cs kubernetes.Interface) (*corev1.Pod, string, error) {
	pod, container, err := PostgresPod(ctx, cs, b.Namespace)
	if err != nil {
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			return nil, "", err
		}
		return nil, "", cli.Failedf("%v", err).WithHint("is the app deployed? check: kubectl get pods -n %s -l app=postgres", b.Namespace)
	}
	return pod, container, nil
}

// streamKind names a stream out of the postgres pod in messages.
type streamKind struct {
	// What is the noun ("dump", "base backup"), Tool the program in the pod.
	What, Tool string
}

var (
	streamDump = streamKind{What: "dump", Tool: "pg_dump"}
	streamBase = streamKind{What: "base backup", Tool: "pg_basebackup"}
)

// checkStreamed judges a finished stream out of the postgres pod:
// interrupted, the target not written, the tool failed, or a stream that is
// not whole (got is what arrived, as the pod hashed it) is an error.
func (b *base) checkStreamed(ctx context.Context, req dumpRequest, k streamKind, sink *watchedSink, execErr error, stderr *StderrCollector, got *Counter, scan streamScan) error {
	st, haveStatus := stderr.Status()
	if ctx.Err() != nil {
		return interrupted(req.Target.Location(req.Name), isS3(req.Target))
	}
	if err := b.streamErr(ctx, k.What, sink, req.Target.Location(req.Name), execErr); err != nil {
		return err
	}
	if execErr != nil && !haveStatus {
		if apierrors.IsForbidden(execErr) || apierrors.IsUnauthorized(execErr) {
			return execErr
		}
		msg := output.FirstLine(execErr.Error())
		if last := stderr.Last(); last != "" {
			msg += ": " + last
		}
		return cli.Failedf("%s failed, nothing written: %s", k.What, msg)
	}
	if err := checkStream(k.Tool, st, haveStatus, got, scan, stderr.Last()); err != nil {
		return cli.Failedf("%s rejected, nothing written: %v", k.What, err)
	}
	if execErr != nil {
		return cli.Failedf("%s rejected, nothing written: the exec stream failed: %s", k.What, output.FirstLine(execErr.Error()))
	}
	return nil
}

// writeMeta writes the metadata next to the stored backup.
func writeMeta(ctx context.Context, req dumpRequest, info *BackupInfo) error {
	data, err := info.Marshal()
	if err != nil {
		return err
	}
	if err := req.Target.WriteMeta(ctx, req.Name, data); err != nil {
		if ctx.Err() != nil {
			return cli.Interruptedf("interrupted after %s was written, before its metadata %s: without it the backup cannot be verified or restored; the database was not changed", info.Location, info.Location+MetadataSuffix).
				WithHint("take the backup again")
		}
		return cli.Failedf("backup %s written but its metadata could not be: %v", info.Location, err)
	}
	return nil
}

// streamErr explains a copy out of a pod that failed because the target
// could not be written (exit 1, naming where) or the connection to the API
// server was lost (exit 3); nil when it was neither.
func (b *base) streamErr(ctx context.Context, what string, sink *watchedSink, location string, execErr error) error {
	if werr := sink.writeErr(); werr != nil {
		return cli.Failedf("cannot write %s: %s; nothing was kept", location, errnoText(werr)).
			WithHint("free space there (or raise the file size limit, ulimit -f), or write the backup elsewhere (--dir, -f or --to)")
	}
	if execErr != nil && ctx.Err() == nil && kube.IsConnectionError(execErr) {
		return (&cli.Error{Code: cli.ExitCluster, Msg: fmt.Sprintf("cannot reach the cluster%s: the connection was lost during the %s (%s); nothing was written",
			atServer(b.Server()), what, kube.Cause(execErr))}).WithHint("run the command again once the cluster answers")
	}
	return nil
}

// errnoText is the system's text of a write error ("no space left on
// device", "file too large") without the temporary file's name.
func errnoText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func atServer(server string) string {
	if server == "" {
		return ""
	}
	return " at " + server
}

// isNotExist reports a missing file or object.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
