package kube

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// LogCursor is how far a container's log has been read: the time of the
// last line, how many lines had exactly that time, how many lines in all
// and how many of them had no timestamp. A stream resumed from it asks for
// the log since that second (sinceTime has whole seconds) and skips what was
// read, so that no line is repeated or lost; lines without a timestamp fall
// back to counting from the start of the log.
type LogCursor struct {
	Last    time.Time
	AtLast  int
	Lines   int
	Untimed int
}

// LogLine is one line of a container's log, without its timestamp and newline.
type LogLine struct {
	// Time is the line's timestamp; zero when it had none.
	Time time.Time
	Text string
}

// LogOpener opens the log stream of one container with opts.
type LogOpener func(ctx context.Context, opts *corev1.PodLogOptions) (io.ReadCloser, error)

// PodLogs returns the LogOpener of a pod's logs.
func PodLogs(cs kubernetes.Interface, ns, pod string) LogOpener {
	return func(ctx context.Context, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
		return cs.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
	}
}

// LogFollow says what FollowLogs reads and how.
type LogFollow struct {
	Open LogOpener
	// Options of the first open (Container, Previous, TailLines,
	// SinceSeconds); from a cursor already set, SinceTime replaces TailLines
	// and SinceSeconds. FollowLogs sets Follow and Timestamps.
	Options corev1.PodLogOptions
	// Follow keeps the stream open for the lines to come; without it the
	// log is read once to its end.
	Follow bool
	// Running says whether the container read still runs: a stream that
	// ends while it does (an API server or kubelet restart; without Follow,
	// only a connection cut off) is resumed after a backoff. nil: never.
	Running func() bool
	// Line receives each line not read before; false stops FollowLogs.
	Line func(LogLine) bool
	// MinBackoff and MaxBackoff bound the delay before a resume (1 s and
	// 30 s when zero); it doubles while resumed streams bring nothing.
	MinBackoff, MaxBackoff time.Duration
}

// FollowLogs reads one container's log from cur, which it advances, until
// the log ends: with Follow, when its stream ends and the container no
// longer runs. It returns nil then, ctx's error when ctx ends (or Line
// stopped it), else the error of the last stream (a missing right, a
// container that has no log) when it is not resumed.
func FollowLogs(ctx context.Context, f LogFollow, cur *LogCursor) error {
	lo, hi := f.MinBackoff, f.MaxBackoff
	if lo <= 0 {
		lo = time.Second
	}
	if hi < lo {
		hi = max(lo, 30*time.Second)
	}
	wait := lo
	for {
		before := cur.Lines
		r := &logReader{from: *cur, line: f.Line}
		partial, err := r.stream(ctx, f.Open, f.options(cur), cur)
		switch {
		case r.stopped || ctx.Err() != nil:
			return ctx.Err()
		case !resumable(err, f.Follow):
			return err
		case (err != nil || f.Follow) && f.Running != nil && f.Running():
			if cur.Lines > before {
				wait = lo
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait = min(2*wait, hi)
			continue
		}
		if err == nil && partial != "" {
			r.send(partial, cur) // the log has ended: its last line has no newline
		}
		return err
	}
}

// options are those of the next open: from the cursor's second once a line
// was read.
func (f *LogFollow) options(cur *LogCursor) *corev1.PodLogOptions {
	opts := f.Options
	opts.Follow, opts.Timestamps = f.Follow, true
	if !cur.Last.IsZero() {
		since := metav1.NewTime(cur.Last.Truncate(time.Second))
		opts.SinceTime, opts.SinceSeconds, opts.TailLines = &since, nil, nil
	}
	return &opts
}

// resumable tells whether the end of a stream (err nil: its end) may be
// resumed: not for a missing right or a container without a log; without
// Follow only a connection cut off is.
func resumable(err error, follow bool) bool {
	switch {
	case err == nil:
		return true
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err), apierrors.IsBadRequest(err), apierrors.IsNotFound(err):
		return false
	}
	return follow || IsConnectionError(err) || errors.Is(err, errCut)
}

// errCut marks a stream that failed while it was read (not at its open).
var errCut = errors.New("log stream cut off")

// logReader reads one stream of a container's log, from a cursor.
type logReader struct {
	from LogCursor // where the stream was asked from
	// same and untimed count the lines of this stream stamped from.Last and
	// without a stamp.
	same, untimed int
	line          func(LogLine) bool
	stopped       bool
}

// stream opens a stream and sends its whole lines that cur has not seen,
// advancing cur. It returns the text after the last newline at the end of
// the stream (a last line without newline: sent when the log has ended,
// else read again on resume) and the error of the open or, wrapping errCut,
// of the read (nil at the stream's end).
func (r *logReader) stream(ctx context.Context, open LogOpener, opts *corev1.PodLogOptions, cur *LogCursor) (string, error) {
	rc, err := open(ctx, opts)
	if err != nil {
		return "", err
	}
	stop := context.AfterFunc(ctx, func() { _ = rc.Close() })
	defer func() {
		stop()
		_ = rc.Close()
	}()
	br := bufio.NewReaderSize(rc, 64*1024)
	for {
		s, err := br.ReadString('\n')
		switch {
		case err == io.EOF:
			return s, nil
		case err != nil:
			return "", errors.Join(errCut, err)
		}
		if !r.send(s, cur) {
			return "", nil
		}
	}
}

// send sends a line that pos has not seen and advances pos; false when
// Line stopped the reading.
func (r *logReader) send(s string, pos *LogCursor) bool {
	l := parseStamp(s)
	if t := l.Time; t.IsZero() {
		r.untimed++
		if r.from.Last.IsZero() && r.untimed <= r.from.Untimed {
			return true
		}
	} else if !r.from.Last.IsZero() {
		if t.Before(r.from.Last) {
			return true
		}
		if t.Equal(r.from.Last) {
			if r.same++; r.same <= r.from.AtLast {
				return true
			}
		}
	}
	pos.Lines++
	switch {
	case l.Time.IsZero():
		pos.Untimed++
	case l.Time.Equal(pos.Last):
		pos.AtLast++
	default:
		pos.Last, pos.AtLast = l.Time, 1
	}
	if !r.line(l) {
		r.stopped = true
		return false
	}
	return true
}

// parseStamp splits "<RFC 3339 time> <text>" (Timestamps: true).
func parseStamp(s string) LogLine {
	s = strings.TrimRight(s, "\r\n")
	if ts, rest, ok := strings.Cut(s, " "); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return LogLine{Time: t, Text: rest}
		}
	}
	return LogLine{Text: s}
}
