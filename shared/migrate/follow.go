package migrate

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
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

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func started(p *corev1.Pod) bool { return p.Status.Phase != corev1.PodPending && p.Status.Phase != "" }

// jobPods is the state of run: the Job's pods seen, those read, and the
// stream of the one being read (cur).
type jobPods struct {
	pods      map[string]*corev1.Pod
	done      map[string]bool
	finishing bool
	cur       string
	pos       kube.LogCursor // how far cur's log was printed (when no stream runs)
	running   atomic.Bool    // cur has not terminated (what its stream asks)
	cancel    context.CancelFunc
	ended     chan struct{}
}

// run follows until the Job has finished (finish) and every pod is read, or ctx ends.
func (f *follower) run(ctx context.Context) {
	j := &jobPods{pods: map[string]*corev1.Pod{}, done: map[string]bool{}}
	var events <-chan watch.Event
	var w watch.Interface
	defer func() {
		if w != nil {
			w.Stop()
		}
		if j.cancel != nil {
			j.cancel()
		}
	}()
	rewatch := func() {
		if w != nil {
			w.Stop()
		}
		var err error
		if w, err = f.cs.CoreV1().Pods(f.ns).Watch(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + f.job}); err != nil {
			w, events = nil, nil
			return
		}
		events = w.ResultChan()
	}
	rewatch()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if j.cur == "" && !f.nextPod(ctx, j) {
			return
		}
		if j.cur != "" && (terminal(j.pods[j.cur]) || j.finishing) {
			if !f.readRest(ctx, j) {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-f.finishing:
			if !j.finishing {
				j.finishing = true
				// a last look at the pods (the watch may lag)
				if list, err := f.cs.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + f.job}); err == nil {
					for i := range list.Items {
						j.pods[list.Items[i].Name] = &list.Items[i]
					}
				}
			}
		case <-j.ended:
			// the stream gave up (a log that cannot be read yet): again after what was printed
			time.Sleep(100 * time.Millisecond)
			f.startStream(ctx, j, !terminal(j.pods[j.cur]))
		case ev, ok := <-events:
			if !ok {
				rewatch()
				continue
			}
			f.seen(j, ev)
		case <-tick.C:
			if events == nil {
				rewatch()
			}
		}
	}
}

// nextPod starts reading the oldest pod not read yet that has started (any
// once the Job is finishing); false when there is none left to read.
func (f *follower) nextPod(ctx context.Context, j *jobPods) bool {
	var cands []*corev1.Pod
	for n, p := range j.pods {
		if !j.done[n] && (started(p) || j.finishing) {
			cands = append(cands, p)
		}
	}
	sort.Slice(cands, func(a, b int) bool {
		x, y := cands[a].CreationTimestamp, cands[b].CreationTimestamp
		if x.Equal(&y) {
			return cands[a].Name < cands[b].Name
		}
		return x.Before(&y)
	})
	if len(cands) == 0 {
		return !j.finishing
	}
	j.cur, j.pos = cands[0].Name, kube.LogCursor{}
	f.mu.Lock()
	f.pods = append(f.pods, j.cur)
	n := len(f.pods)
	f.mu.Unlock()
	if n > 1 {
		f.info("--- log of pod %s (attempt %d) ---\n", j.cur, n)
	}
	f.startStream(ctx, j, !j.finishing && !terminal(j.pods[j.cur]))
	return true
}

// readRest ends the stream of a pod whose container has ended: it gives it
// a moment to end by itself (a kubelet ends it; kwok's never does), closes
// it and reads the rest of the log once. False when ctx ended.
func (f *follower) readRest(ctx context.Context, j *jobPods) bool {
	j.running.Store(false)
	select {
	case <-j.ended:
	case <-time.After(300 * time.Millisecond):
		j.cancel()
		<-j.ended
	case <-ctx.Done():
		return false
	}
	f.startStream(ctx, j, false)
	select {
	case <-j.ended:
	case <-ctx.Done():
		return false
	}
	j.cancel()
	j.done[j.cur] = true
	j.cur, j.cancel, j.ended = "", nil, nil
	return true
}

// seen takes in a watch event of the Job's pods: a deleted pod counts as
// failed; a pending pod that cannot start is reported on problems.
func (f *follower) seen(j *jobPods, ev watch.Event) {
	p, ok := ev.Object.(*corev1.Pod)
	if !ok {
		return
	}
	if ev.Type == watch.Deleted {
		if j.cur != p.Name {
			j.done[p.Name] = true
		}
		p = p.DeepCopy()
		if !terminal(p) {
			p.Status.Phase = corev1.PodFailed
		}
	}
	j.pods[p.Name] = p
	if p.Name == j.cur && terminal(p) {
		j.running.Store(false)
	}
	if p.Status.Phase == corev1.PodPending {
		if pr, ok := kube.FatalProblem(p); ok {
			select {
			case f.problems <- pr:
			default:
			}
		}
	}
}

// startStream reads the log of j.cur from j.pos in a goroutine, following
// it while the pod runs (a stream that ends early, the API server gone, is
// resumed) or once to its end (read again where a cut connection stopped
// it); j.ended is closed when it returns, j.pos then holds how far it got.
func (f *follower) startStream(ctx context.Context, j *jobPods, follow bool) {
	sctx, cancel := context.WithCancel(ctx)
	ended := make(chan struct{})
	j.cancel, j.ended = cancel, ended
	j.running.Store(follow)
	lf := kube.LogFollow{Open: kube.PodLogs(f.cs, f.ns, j.cur), Options: corev1.PodLogOptions{Container: f.container}, Follow: follow,
		Running: j.running.Load, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
		Line: func(l kube.LogLine) bool { f.emit(l.Text, l.Time); return true }}
	if !follow {
		lf.Running = func() bool { return true }
	}
	go func() {
		defer close(ended)
		_ = kube.FollowLogs(sctx, lf, &j.pos)
	}()
}
