package logs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// Bounds of the delay before a follow stream that ended while its container
// still runs (an API server or kubelet restart) is resumed, and before a
// failed watch of the pods is re-opened.
const (
	minResume = time.Second
	maxResume = 30 * time.Second
)

type followKey struct {
	uid       types.UID
	container string
}

// followStream is the state of one container's log under -f.
type followStream struct {
	pod, container string
	// instance identifies the container instance streamed (a restart is a new one).
	instance string
	gen      int
	running  bool
	stopped  bool // stopped by us (the pod went): its end is not reported
	cancel   context.CancelFunc
	// alive: the instance streamed still runs (as the watch last said); a
	// stream that ends meanwhile is resumed by kube.FollowLogs.
	alive atomic.Bool
}

type streamEnd struct {
	key followKey
	gen int
	err error
}

// follower is the single goroutine that owns the state of -f: the pods seen
// by the watch and the streams started for them. Streams send their lines to
// out, which one writer drains; status lines go the same way, so nothing is
// ever interleaved mid-line.
type follower struct {
	o       *Options
	cs      kubernetes.Interface
	mask    *masker
	ctx     context.Context
	out     chan logLine
	ends    chan streamEnd
	wg      sync.WaitGroup
	pods    map[types.UID]*corev1.Pod
	streams map[followKey]*followStream
	// masked: pods whose Secrets were read when they started.
	masked map[types.UID]bool
}

// follow prints the current pods' logs and follows them, and the pods that
// appear or go, until ctx ends (exit 130) or an error that retrying cannot
// cure (a right is missing).
func (o *Options) follow(ctx context.Context, cs kubernetes.Interface, rv string, pods []*corev1.Pod, m *masker, w *logWriter) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := &follower{o: o, cs: cs, mask: m, ctx: ctx, out: make(chan logLine, 256), ends: make(chan streamEnd),
		pods: map[types.UID]*corev1.Pod{}, streams: map[followKey]*followStream{}, masked: map[types.UID]bool{}}
	werr := make(chan error, 1)
	go func() {
		var err error
		for l := range f.out {
			if err == nil {
				if err = w.write(l, len(f.out) == 0); err != nil {
					cancel()
				}
			}
		}
		if err == nil {
			err = w.Flush()
		}
		werr <- err
	}()
	err := f.run(rv, pods)
	cancel()
	f.wg.Wait()
	close(f.out)
	if werr := <-werr; werr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return werr
	}
	if err == nil || errors.Is(err, context.Canceled) {
		return cli.ExitCode(cli.ExitInterrupted) // Ctrl-C: silent, as scale status -w
	}
	return err
}

func (f *follower) status(format string, args ...any) {
	select {
	case f.out <- logLine{status: fmt.Sprintf(format, args...)}:
	case <-f.ctx.Done():
	}
}

// run is the follower's loop: the initial pods, then the watch's events
// and the streams' ends, until ctx ends or a fatal error.
func (f *follower) run(rv string, initial []*corev1.Pod) error {
	o := f.o
	for _, p := range initial {
		f.pods[p.UID] = p
		f.masked[p.UID] = true // their Secrets were read before the first line
		if err := f.sync(p, true); err != nil {
			return err
		}
	}
	if len(initial) == 0 {
		f.status("waiting for pods of %s (%s) in namespace %s", o.component.Name, o.component.Selector(), o.Namespace)
	}
	pw := &podWatch{f: f, rv: rv, delay: minResume}
	defer pw.stop()
	if err := pw.open(); err != nil {
		return err
	}
	for {
		select {
		case <-f.ctx.Done():
			return f.ctx.Err()
		case <-pw.retry:
			pw.retry = nil
			if err := pw.open(); err != nil {
				return err
			}
		case ev, ok := <-pw.events:
			if err := pw.event(ev, ok); err != nil {
				return err
			}
		case e := <-f.ends:
			if err := f.ended(e); err != nil {
				return err
			}
		}
	}
}

// podWatch is the watch of the component's pods, re-opened from the last
// version seen when it ends or fails (after a backoff), the pods listed
// again when that version has expired.
type podWatch struct {
	f      *follower
	rv     string
	w      watch.Interface
	events <-chan watch.Event
	retry  <-chan time.Time
	delay  time.Duration
}

func (pw *podWatch) stop() {
	if pw.w != nil {
		pw.w.Stop()
		pw.w, pw.events = nil, nil
	}
}

// open (re-)opens the watch; a missing right is returned.
func (pw *podWatch) open() error {
	f, o := pw.f, pw.f.o
	pw.stop()
	var err error
	pw.w, err = f.cs.CoreV1().Pods(o.Namespace).Watch(f.ctx, metav1.ListOptions{LabelSelector: o.component.Selector(), ResourceVersion: pw.rv, AllowWatchBookmarks: true})
	switch {
	case err == nil:
		pw.events = pw.w.ResultChan()
		return nil
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return err
	case apierrors.IsGone(err) || apierrors.IsResourceExpired(err):
		return f.relist(&pw.rv)
	case f.ctx.Err() != nil:
		return f.ctx.Err()
	}
	pw.retry = time.After(pw.delay)
	pw.delay = min(2*pw.delay, maxResume)
	return nil
}

// event handles one event of the watch (ok false: the watch ended).
func (pw *podWatch) event(ev watch.Event, ok bool) error {
	f := pw.f
	if !ok { // the API server ended the watch: go on from the last version seen
		return pw.open()
	}
	if ev.Type == watch.Error {
		err := apierrors.FromObject(ev.Object)
		switch {
		case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
			return err
		case apierrors.IsGone(err) || apierrors.IsResourceExpired(err):
			if err := f.relist(&pw.rv); err != nil {
				return err
			}
		}
		return pw.open()
	}
	if acc, err := meta.Accessor(ev.Object); err == nil && acc.GetResourceVersion() != "" {
		pw.rv = acc.GetResourceVersion()
	}
	p, ok := ev.Object.(*corev1.Pod)
	if !ok || ev.Type == watch.Bookmark {
		return nil // a bookmark carries only the version
	}
	pw.delay = minResume
	if ev.Type == watch.Deleted {
		f.gone(p)
		return nil
	}
	f.pods[p.UID] = p
	return f.sync(p, false)
}

// relist lists the pods again after the watch's version expired: pods gone
// meanwhile are dropped, the others synced.
func (f *follower) relist(rv *string) error {
	o := f.o
	list, err := f.cs.CoreV1().Pods(o.Namespace).List(f.ctx, metav1.ListOptions{LabelSelector: o.component.Selector()})
	if err != nil {
		return err
	}
	*rv = list.ResourceVersion
	seen := map[types.UID]bool{}
	for i := range list.Items {
		p := &list.Items[i]
		seen[p.UID] = true
		f.pods[p.UID] = p
		if err := f.sync(p, false); err != nil {
			return err
		}
	}
	for uid, p := range f.pods {
		if !seen[uid] {
			f.gone(p)
		}
	}
	return nil
}

// containerInstance identifies the running instance of a container: its ID,
// else (kwok sets none) its restart count and start time.
func containerInstance(p *corev1.Pod, container string) (string, bool) {
	cs := containerStatus(p, container)
	if cs == nil || cs.State.Running == nil {
		return "", false
	}
	if cs.ContainerID != "" {
		return cs.ContainerID, true
	}
	return fmt.Sprintf("%d@%s", cs.RestartCount, cs.State.Running.StartedAt.UTC().Format(time.RFC3339)), true
}

// sync starts a stream for each running container of p that has none: a
// container seen for the first time, or a new instance after a restart.
func (f *follower) sync(p *corev1.Pod, initial bool) error {
	for _, c := range f.o.containers(p) {
		if st := f.streams[followKey{p.UID, c}]; st != nil {
			inst, running := containerInstance(p, c)
			st.alive.Store(running && inst == st.instance)
		}
	}
	if p.DeletionTimestamp != nil && !initial {
		return nil // going away: a running stream goes on until it ends, no new one
	}
	for _, c := range f.o.containers(p) {
		inst, running := containerInstance(p, c)
		if !running {
			continue
		}
		k := followKey{p.UID, c}
		st := f.streams[k]
		if st != nil && (st.running || st.instance == inst) {
			continue
		}
		if !f.masked[p.UID] && !f.o.NoMask {
			// A pod that starts now may come with a rotated Secret: read
			// its Secrets again before its first line.
			if err := f.mask.readSecrets(f.ctx, f.cs, f.o.Namespace, append(kube.PodSecrets(p), f.o.Env.Secret()), true); err != nil {
				return err
			}
		}
		f.masked[p.UID] = true
		switch {
		case initial:
			f.status("+ %s %s", p.Name, c)
		case st != nil:
			f.status("+ %s %s (container restarted)", p.Name, c)
		default:
			f.status("+ %s %s (new pod)", p.Name, c)
		}
		if st == nil {
			st = &followStream{pod: p.Name, container: c}
			f.streams[k] = st
		}
		st.instance = inst
		f.start(k, p, st, initial)
	}
	return nil
}

// start follows the log of k's instance in a goroutine: fresh applies
// --tail and --since; its end is sent to ends.
func (f *follower) start(k followKey, p *corev1.Pod, st *followStream, fresh bool) {
	sctx, cancel := context.WithCancel(f.ctx)
	st.gen++
	st.running, st.cancel = true, cancel
	st.alive.Store(true)
	opts := f.o.logOptions(k.container, fresh, true)
	gen := st.gen
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		err := f.o.stream(sctx, p.Name, k.container, opts, true, st.alive.Load, func(l logLine) bool {
			select {
			case f.out <- l:
				return true
			case <-sctx.Done():
				return false
			}
		})
		select {
		case f.ends <- streamEnd{key: k, gen: gen, err: err}:
		case <-f.ctx.Done():
		}
	}()
}

// gone stops the streams of a deleted pod, with a line saying so.
func (f *follower) gone(p *corev1.Pod) {
	var keys []followKey
	for k := range f.streams {
		if k.uid == p.UID {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].container < keys[j].container })
	for _, k := range keys {
		st := f.streams[k]
		if st.running {
			st.stopped = true
			st.cancel()
			f.status("- %s %s (pod deleted)", st.pod, st.container)
		}
		delete(f.streams, k)
	}
	delete(f.pods, p.UID)
	delete(f.masked, p.UID)
}

// ended handles a stream's end (kube.FollowLogs resumed it while its
// container ran): reported, a missing right is fatal.
func (f *follower) ended(e streamEnd) error {
	st := f.streams[e.key]
	if st == nil || st.gen != e.gen {
		return nil // the pod went: already reported
	}
	st.running = false
	st.cancel()
	if st.stopped || errors.Is(e.err, context.Canceled) {
		return nil
	}
	if apierrors.IsForbidden(e.err) || apierrors.IsUnauthorized(e.err) {
		return e.err
	}
	if e.err != nil {
		f.status("- %s %s: cannot read the log: %s", st.pod, st.container, output.FirstLine(e.err.Error()))
	} else {
		f.status("- %s %s (log ended)", st.pod, st.container)
	}
	if p := f.pods[e.key.uid]; p != nil {
		return f.sync(p, false) // a restarted container has a new instance to follow
	}
	return nil
}
