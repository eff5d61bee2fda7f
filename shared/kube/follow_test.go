package kube

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// cutReader returns its text, then fails as a connection cut off does.
type cutReader struct{ r io.Reader }

func (c *cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// streams serves the given streams one per open, records each open's
// options, and says the container runs until the last stream was opened.
type streams struct {
	logs  []io.Reader
	opens []corev1.PodLogOptions
}

func (s *streams) open(_ context.Context, o *corev1.PodLogOptions) (io.ReadCloser, error) {
	s.opens = append(s.opens, *o)
	if len(s.opens) > len(s.logs) {
		return nil, errors.New("no more streams")
	}
	return io.NopCloser(s.logs[len(s.opens)-1]), nil
}

func (s *streams) running() bool { return len(s.opens) < len(s.logs) }

// follow runs FollowLogs over s with Follow and returns the lines' texts.
func follow(t *testing.T, ctx context.Context, s *streams, cur *LogCursor) ([]string, error) {
	t.Helper()
	var got []string
	err := FollowLogs(ctx, LogFollow{Open: s.open, Options: corev1.PodLogOptions{Container: "c"}, Follow: true, Running: s.running,
		MinBackoff: time.Millisecond, Line: func(l LogLine) bool { got = append(got, l.Text); return true }}, cur)
	return got, err
}

// A follow stream cut in the middle of a line, resumed from the second of
// its last line (as sinceTime asks: the API has whole seconds), gives every
// line once, in order, with two lines of the same timestamp and a line of
// the same second before the cut.
func TestFollowLogsResumeNeitherRepeatsNorLoses(t *testing.T) {
	s := &streams{logs: []io.Reader{
		&cutReader{strings.NewReader("2026-01-01T00:00:01.100000000Z one\n" +
			"2026-01-01T00:00:01.500000000Z two\n" +
			"2026-01-01T00:00:01.500000000Z two again\n" +
			"2026-01-01T00:00:02.000000000Z thr")}, // cut here
		strings.NewReader("2026-01-01T00:00:01.100000000Z one\n" +
			"2026-01-01T00:00:01.500000000Z two\n" +
			"2026-01-01T00:00:01.500000000Z two again\n" +
			"2026-01-01T00:00:02.000000000Z three\n" +
			"2026-01-01T00:00:02.000000000Z four\n"),
	}}
	var cur LogCursor
	got, err := follow(t, context.Background(), s, &cur)
	if err != nil || strings.Join(got, ",") != "one,two,two again,three,four" {
		t.Fatalf("lines %q, err %v", got, err)
	}
	if len(s.opens) != 2 || s.opens[1].SinceTime == nil || !s.opens[1].SinceTime.Time.Equal(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)) ||
		!s.opens[1].Follow || !s.opens[1].Timestamps || s.opens[1].Container != "c" {
		t.Errorf("opens %+v", s.opens)
	}
	if cur.Lines != 5 || cur.AtLast != 2 || !cur.Last.Equal(time.Date(2026, 1, 1, 0, 0, 2, 0, time.UTC)) {
		t.Errorf("cursor %+v", cur)
	}
}

// A follow stream gives a last line without newline only once the log has
// ended (the container no longer runs): before, it may be cut off, and is
// read again. A resumed stream from a cursor drops --tail and --since.
func TestFollowLogsLastLineWithoutNewline(t *testing.T) {
	log := "2026-01-01T00:00:01Z a\n2026-01-01T00:00:02Z b"
	s := &streams{logs: []io.Reader{strings.NewReader(log), strings.NewReader(log)}}
	tail, since := int64(5), int64(60)
	var got []string
	err := FollowLogs(context.Background(), LogFollow{Open: s.open, Options: corev1.PodLogOptions{TailLines: &tail, SinceSeconds: &since}, Follow: true,
		Running: s.running, MinBackoff: time.Millisecond, Line: func(l LogLine) bool { got = append(got, l.Text); return true }}, &LogCursor{})
	if err != nil || strings.Join(got, ",") != "a,b" {
		t.Fatalf("lines %q, err %v", got, err)
	}
	if s.opens[0].TailLines == nil || s.opens[1].TailLines != nil || s.opens[1].SinceSeconds != nil {
		t.Errorf("opens %+v", s.opens)
	}
}

// Without timestamps the cursor is a count from the start of the log.
func TestFollowLogsUntimedLinesCountFromTheStart(t *testing.T) {
	s := &streams{logs: []io.Reader{&cutReader{strings.NewReader("a\nb\n")}, strings.NewReader("a\nb\nc\n")}}
	got, err := follow(t, context.Background(), s, &LogCursor{})
	if err != nil || strings.Join(got, ",") != "a,b,c" || s.opens[1].SinceTime != nil {
		t.Fatalf("lines %q, err %v, opens %+v", got, err, s.opens)
	}
}

// A stream ended by the command (ctx) is not resumed; neither is a stream
// refused for a missing right, nor, without Follow, one that ended.
func TestFollowLogsStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &streams{logs: []io.Reader{&cutReader{strings.NewReader("x\n")}, strings.NewReader("y\n")}}
	if _, err := follow(t, ctx, s, &LogCursor{}); !errors.Is(err, context.Canceled) || len(s.opens) != 1 {
		t.Errorf("cancelled: err %v, %d opens", err, len(s.opens))
	}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "pods/log"}, "p", errors.New("no"))
	opens := 0
	err := FollowLogs(context.Background(), LogFollow{Open: func(context.Context, *corev1.PodLogOptions) (io.ReadCloser, error) {
		opens++
		return nil, forbidden
	}, Follow: true, Running: func() bool { return true }, MinBackoff: time.Millisecond, Line: func(LogLine) bool { return true }}, &LogCursor{})
	if !apierrors.IsForbidden(err) || opens != 1 {
		t.Errorf("forbidden: err %v, %d opens", err, opens)
	}
	s = &streams{logs: []io.Reader{strings.NewReader("x\n"), strings.NewReader("y\n")}}
	var got []string
	err = FollowLogs(context.Background(), LogFollow{Open: s.open, Running: s.running, MinBackoff: time.Millisecond,
		Line: func(l LogLine) bool { got = append(got, l.Text); return true }}, &LogCursor{})
	if err != nil || strings.Join(got, ",") != "x" || len(s.opens) != 1 || s.opens[0].Follow {
		t.Errorf("once: lines %q, err %v, opens %+v", got, err, s.opens)
	}
}

// Without Follow, a read cut off by the connection is read again from
// where it stopped while Running says so, else its error is returned.
func TestFollowLogsOnceResumesACut(t *testing.T) {
	s := &streams{logs: []io.Reader{&cutReader{strings.NewReader("2026-01-01T00:00:01Z a\n")}, strings.NewReader("2026-01-01T00:00:01Z a\n2026-01-01T00:00:02Z b")}}
	var got []string
	line := func(l LogLine) bool { got = append(got, l.Text); return true }
	err := FollowLogs(context.Background(), LogFollow{Open: s.open, Running: func() bool { return true }, MinBackoff: time.Millisecond, Line: line}, &LogCursor{})
	if err != nil || strings.Join(got, ",") != "a,b" {
		t.Errorf("lines %q, err %v", got, err)
	}
	got = nil
	s = &streams{logs: []io.Reader{&cutReader{strings.NewReader("a\n")}}}
	err = FollowLogs(context.Background(), LogFollow{Open: s.open, Line: line}, &LogCursor{})
	if !errors.Is(err, io.ErrUnexpectedEOF) || strings.Join(got, ",") != "a" {
		t.Errorf("not resumed: lines %q, err %v", got, err)
	}
}
