package migrate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// TailKeep is how many last log lines a failure report repeats.
const TailKeep = 20

// follower streams the logs of a Job's pods one after the other (a retried
// Job has several), as they come. A follow stream that ends early (the API
// server went away) is resumed from the last line's time, without repeating
// or losing lines; when a pod has terminated its stream is closed
// (kwok's never ends by itself) and the rest of its log fetched once.
type follower struct {
	cs        kubernetes.Interface
	ns, job   string
	container string
	out       io.Writer // the log lines
	info      func(format string, args ...any)

	mu        sync.Mutex
	tail      []string
	lines     int
	pods      []string
	firstLine time.Duration // from the line's timestamp to printed; -1 when unknown
	sawFirst  bool
	finishing chan struct{}
	once      sync.Once
	// problems receives a pod of the Job that cannot start (image pull,
	// configuration, scheduling): its container never ran.
	problems chan kube.PodProblem
}

func newFollower(cs kubernetes.Interface, ns, job, container string, out io.Writer, info func(string, ...any)) *follower {
	return &follower{cs: cs, ns: ns, job: job, container: container, out: out, info: info, firstLine: -1, finishing: make(chan struct{}), problems: make(chan kube.PodProblem, 1)}
}

// finish tells the follower the Job has ended: read what is left and return.
func (f *follower) finish() { f.once.Do(func() { close(f.finishing) }) }

// Tail returns the last lines printed.
func (f *follower) Tail() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tail...)
}

// Pods returns the pods followed, in order.
func (f *follower) Pods() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.pods...)
}

// emit prints one log line (its timestamp taken off).
func (f *follower) emit(text string, stamp time.Time) {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.sawFirst {
		f.sawFirst = true
		if !stamp.IsZero() {
			f.firstLine = now.Sub(stamp)
		}
	}
	fmt.Fprintln(f.out, text)
	f.lines++
	f.tail = append(f.tail, text)
	if len(f.tail) > TailKeep {
		f.tail = f.tail[len(f.tail)-TailKeep:]
	}
}

// logPos is how far a pod's log has been printed: the timestamp of the last
// line, how many lines had exactly that timestamp, and how many lines were
// printed in all. A stream resumed after a broken connection asks for the
// log since that second (sinceTime has whole seconds) and skips what was
// printed, so that no line is repeated or lost; lines without a timestamp
// fall back to counting from the start.
type logPos struct {
	last  time.Time
	same  int
	lines int
}

// splitStamp splits "<RFC 3339 time> <text>" (Timestamps: true).
func splitStamp(line string) (string, time.Time) {
	if ts, rest, ok := strings.Cut(line, " "); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return rest, t
		}
	}
	return line, time.Time{}
}

// reader reads one stream of a pod's log from pos, printing what pos has not.
type reader struct {
	from logPos // where the stream was asked from
	pos  logPos // what has been printed
	// sameSeen counts the lines stamped from.last, untimed those without a stamp.
	sameSeen, untimed int
}

func (r *reader) line(f *follower, line string) {
	text, stamp := splitStamp(line)
	if stamp.IsZero() {
		r.untimed++
		if r.from.last.IsZero() && r.untimed <= r.from.lines {
			return
		}
	} else if !r.from.last.IsZero() {
		if stamp.Before(r.from.last) {
			return
		}
		if stamp.Equal(r.from.last) {
			r.sameSeen++
			if r.sameSeen <= r.from.same {
				return
			}
		}
	}
	f.emit(text, stamp)
	r.pos.lines++
	if !stamp.IsZero() {
		if stamp.Equal(r.pos.last) {
			r.pos.same++
		} else {
			r.pos.last, r.pos.same = stamp, 1
		}
	}
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func started(p *corev1.Pod) bool { return p.Status.Phase != corev1.PodPending && p.Status.Phase != "" }

// run follows until the Job has finished (finish) and every pod is read, or ctx ends.
func (f *follower) run(ctx context.Context) {
	pods := map[string]*corev1.Pod{}
	done := map[string]bool{}
	var events <-chan watch.Event
	var w watch.Interface
	defer func() {
		if w != nil {
			w.Stop()
		}
	}()
	rewatch := func() {
		if w != nil {
			w.Stop()
		}
		var err error
		w, err = f.cs.CoreV1().Pods(f.ns).Watch(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + f.job})
		if err != nil {
			w, events = nil, nil
			return
		}
		events = w.ResultChan()
	}
	rewatch()
	finishing := false
	var cur string
	var curCancel context.CancelFunc
	var curDone chan logPos
	var pos logPos // how far cur's log was printed
	next := func() string {
		var cands []*corev1.Pod
		for n, p := range pods {
			if !done[n] && (started(p) || finishing) {
				cands = append(cands, p)
			}
		}
		sort.Slice(cands, func(i, j int) bool {
			a, b := cands[i].CreationTimestamp, cands[j].CreationTimestamp
			if a.Equal(&b) {
				return cands[i].Name < cands[j].Name
			}
			return a.Before(&b)
		})
		if len(cands) == 0 {
			return ""
		}
		return cands[0].Name
	}
	startStream := func(name string, follow bool) {
		sctx, cancel := context.WithCancel(ctx)
		curCancel, curDone = cancel, make(chan logPos, 1)
		from := pos
		go func() { curDone <- f.stream(sctx, name, from, follow) }()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if cur == "" {
			if cur = next(); cur != "" {
				pos = logPos{}
				f.mu.Lock()
				f.pods = append(f.pods, cur)
				n := len(f.pods)
				f.mu.Unlock()
				if n > 1 {
					f.info("--- log of pod %s (attempt %d) ---\n", cur, n)
				}
				startStream(cur, !finishing && !terminal(pods[cur]))
			} else if finishing {
				return
			}
		}
		if cur != "" && (terminal(pods[cur]) || finishing) {
			// The container has ended: give the stream a moment to end by
			// itself (a kubelet ends it), then close it and read the rest once.
			select {
			case p := <-curDone:
				pos = p
			case <-time.After(300 * time.Millisecond):
				curCancel()
				pos = <-curDone
			case <-ctx.Done():
				curCancel()
				return
			}
			startStream(cur, false)
			select {
			case <-curDone:
			case <-ctx.Done():
				curCancel()
				return
			}
			done[cur] = true
			cur = ""
			continue
		}
		select {
		case <-ctx.Done():
			if curCancel != nil {
				curCancel()
			}
			return
		case <-f.finishing:
			if !finishing {
				finishing = true
				// a last look at the pods (the watch may lag)
				if list, err := f.cs.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + f.job}); err == nil {
					for i := range list.Items {
						pods[list.Items[i].Name] = &list.Items[i]
					}
				}
			}
		case p := <-curDone:
			// the stream ended early (connection closed): resume after what was printed
			pos = p
			time.Sleep(100 * time.Millisecond)
			startStream(cur, !terminal(pods[cur]))
		case ev, ok := <-events:
			if !ok {
				rewatch()
				continue
			}
			if p, ok := ev.Object.(*corev1.Pod); ok {
				if ev.Type == watch.Deleted {
					if cur != p.Name {
						done[p.Name] = true
					}
					p = p.DeepCopy()
					if !terminal(p) {
						p.Status.Phase = corev1.PodFailed
					}
				}
				pods[p.Name] = p
				if p.Status.Phase == corev1.PodPending {
					if pr, ok := kube.FatalProblem(p); ok {
						select {
						case f.problems <- pr:
						default:
						}
					}
				}
			}
		case <-tick.C:
			if events == nil {
				rewatch()
			}
		}
	}
}

// stream reads a pod's log from pos and prints what pos has not; it
// returns the position reached. While following, a log that cannot be read
// yet is retried; a final read (!follow) cut off by the connection is read
// again from where it stopped, until it ends or ctx does.
func (f *follower) stream(ctx context.Context, pod string, pos logPos, follow bool) logPos {
	wait := 100 * time.Millisecond
	for {
		opts := &corev1.PodLogOptions{Container: f.container, Follow: follow, Timestamps: true}
		if !pos.last.IsZero() {
			since := metav1.NewTime(pos.last.Truncate(time.Second))
			opts.SinceTime = &since
		}
		rc, err := f.cs.CoreV1().Pods(f.ns).GetLogs(pod, opts).Stream(ctx)
		if err == nil {
			var cut bool
			pos, cut = f.read(ctx, rc, pos, follow)
			rc.Close()
			if !cut || follow {
				return pos // (a follow stream that ended is resumed by run)
			}
		} else if ctx.Err() != nil || (!follow && !kube.IsConnectionError(err)) {
			return pos
		}
		if kube.IsConnectionError(err) || err == nil {
			wait = min(2*wait, time.Second) // the API server is away: retry less often
		}
		select {
		case <-ctx.Done():
			return pos
		case <-time.After(wait):
		}
	}
}

// read prints the lines of one log stream after pos; cut reports a stream
// broken by the connection (not its end, nor ctx's). Only whole lines are
// printed while following: a line cut off is read again on resume.
func (f *follower) read(ctx context.Context, rc io.Reader, pos logPos, follow bool) (_ logPos, cut bool) {
	r := &reader{from: pos, pos: pos}
	br := bufio.NewReaderSize(rc, 64*1024)
	for {
		line, err := br.ReadString('\n')
		whole := err == nil || (err == io.EOF && !follow)
		if line != "" && whole && ctx.Err() == nil {
			r.line(f, strings.TrimRight(line, "\r\n"))
		}
		if err != nil {
			return r.pos, err != io.EOF && ctx.Err() == nil
		}
	}
}
