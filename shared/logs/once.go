package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// stream reads a container's log with kube.FollowLogs and sends its lines
// (a line without a time keeps the time of the line before): once to its
// end, or with follow while running says the container runs.
func (o *Options) stream(ctx context.Context, pod, container string, opts *corev1.PodLogOptions, follow bool, running func() bool, send func(logLine) bool) error {
	var prev time.Time
	var cur kube.LogCursor
	return kube.FollowLogs(ctx, kube.LogFollow{
		Open: func(ctx context.Context, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
			return o.open(ctx, pod, opts)
		},
		Options: *opts, Follow: follow, Running: running, MinBackoff: minResume, MaxBackoff: maxResume,
		Line: func(l kube.LogLine) bool {
			if !l.Time.IsZero() {
				prev = l.Time
			}
			return send(logLine{pod: pod, container: container, time: prev, msg: l.Text})
		},
	}, &cur)
}

// noLog says why a container has no log to read now ("" when it has one).
func (o *Options) noLog(p *corev1.Pod, container string) string {
	cs := containerStatus(p, container)
	if o.Previous {
		if cs == nil || cs.LastTerminationState.Terminated == nil {
			return "no previous container (it has not restarted)"
		}
		return ""
	}
	switch {
	case cs == nil:
		return fmt.Sprintf("not started (pod %s)", p.Status.Phase)
	case cs.State.Waiting != nil && cs.RestartCount == 0 && cs.LastTerminationState.Terminated == nil:
		return "not started (" + cs.State.Waiting.Reason + ")"
	}
	return ""
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// logSource is one container's log being read for the merge.
type logSource struct {
	pod, container string
	lines          chan logLine
	err            error // set before lines is closed
}

// once prints the logs of the current pods merged in time order: every
// container's log is read as a stream, and the line with the earliest time
// among the streams' next lines is written next, so memory stays bounded.
func (o *Options) once(ctx context.Context, pods []*corev1.Pod, w *logWriter) error {
	if len(pods) == 0 {
		return cli.Failedf("no pod of %s (%s) in namespace %s", o.component.Name, o.component.Selector(), o.Namespace).
			WithHint("kubectl piyasa deploy status -n %s", o.Namespace)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var srcs []*logSource
	for _, p := range pods {
		for _, c := range o.containers(p) {
			if why := o.noLog(p, c); why != "" {
				if err := w.write(logLine{status: fmt.Sprintf("%s %s: %s", p.Name, c, why)}, false); err != nil {
					return err
				}
				continue
			}
			s := &logSource{pod: p.Name, container: c, lines: make(chan logLine, 128)}
			srcs = append(srcs, s)
			go func(s *logSource) {
				defer close(s.lines)
				s.err = o.stream(ctx, s.pod, s.container, o.logOptions(s.container, true, false), false, nil, func(l logLine) bool {
					select {
					case s.lines <- l:
						return true
					case <-ctx.Done():
						return false
					}
				})
			}(s)
		}
	}
	heads := make([]*logLine, len(srcs))
	failed := 0
	var fatal error
	next := func(i int) error {
		l, ok := <-srcs[i].lines
		if ok {
			heads[i] = &l
			return nil
		}
		heads[i] = nil
		err := srcs[i].err
		switch {
		case err == nil || errors.Is(err, context.Canceled):
			return nil
		case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
			fatal = err
			return err
		}
		failed++
		return w.write(logLine{status: fmt.Sprintf("warning: %s %s: cannot read the log: %s", srcs[i].pod, srcs[i].container, output.FirstLine(err.Error()))}, false)
	}
	for i := range srcs {
		if err := next(i); err != nil {
			return interrupted(ctx, err)
		}
	}
	for {
		best := -1
		for i, h := range heads {
			if h != nil && (best < 0 || h.time.Before(heads[best].time)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		if err := w.write(*heads[best], false); err != nil {
			return err
		}
		if err := next(best); err != nil {
			if fatal != nil {
				return interrupted(ctx, fatal)
			}
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return interrupted(ctx, ctx.Err())
	}
	if failed > 0 {
		return cli.Failedf("the logs of %d of %s could not be read (see the warnings above)", failed, cli.Plural(len(srcs), "container", "containers"))
	}
	return nil
}
