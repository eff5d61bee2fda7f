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
// Job has several), as they come. A follow stream that ends early is resumed
// without repeating lines; when a pod has terminated its stream is closed
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

func (f *follower) emit(line string) {
	now := time.Now()
	text := line
	var stamp time.Time
	if ts, rest, ok := strings.Cut(line, " "); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			text, stamp = rest, t
		}
	}
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
	var curDone chan int
	var seen int // lines of cur already printed
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
		curCancel, curDone = cancel, make(chan int, 1)
		skip := seen
		go func() { curDone <- f.stream(sctx, name, skip, follow) }()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if cur == "" {
			if cur = next(); cur != "" {
				seen = 0
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
			case n := <-curDone:
				seen = n
			case <-time.After(300 * time.Millisecond):
				curCancel()
				seen = <-curDone
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
		case n := <-curDone:
			// the stream ended early (connection closed): resume after what was printed
			seen = n
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

// stream reads a pod's log and prints the lines after the first skip; it
// returns how many lines it has seen in all. A log that cannot be read yet
// is retried while following.
func (f *follower) stream(ctx context.Context, pod string, skip int, follow bool) int {
	seen := 0
	for {
		req := f.cs.CoreV1().Pods(f.ns).GetLogs(pod, &corev1.PodLogOptions{Container: f.container, Follow: follow, Timestamps: true})
		rc, err := req.Stream(ctx)
		if err != nil {
			if !follow || ctx.Err() != nil {
				return skip
			}
			select {
			case <-ctx.Done():
				return skip
			case <-time.After(100 * time.Millisecond):
				continue
			}
		}
		r := bufio.NewReaderSize(rc, 64*1024)
		for {
			line, err := r.ReadString('\n')
			if line != "" && (err == nil || !follow || ctx.Err() == nil) {
				if line = strings.TrimRight(line, "\r\n"); true {
					seen++
					if seen > skip {
						f.emit(line)
					}
				}
			}
			if err != nil {
				break
			}
		}
		rc.Close()
		if seen < skip {
			seen = skip
		}
		return seen
	}
}
