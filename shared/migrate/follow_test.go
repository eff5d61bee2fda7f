package migrate

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
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

// TestResumeNeitherRepeatsNorLoses: a follow stream cut in the middle of a
// line, resumed from the second of its last line (as sinceTime asks: the API
// has whole seconds), prints every line once, in order, with two lines of the
// same timestamp and a line of the same second before the cut.
func TestResumeNeitherRepeatsNorLoses(t *testing.T) {
	var out bytes.Buffer
	f := newFollower(nil, "ns", "job", "migrate", &out, func(string, ...any) {})
	ctx := context.Background()
	first := "2026-01-01T00:00:01.100000000Z one\n" +
		"2026-01-01T00:00:01.500000000Z two\n" +
		"2026-01-01T00:00:01.500000000Z two again\n" +
		"2026-01-01T00:00:02.000000000Z thr" // cut here
	pos, cut := f.read(ctx, &cutReader{strings.NewReader(first)}, logPos{}, true)
	if !cut {
		t.Fatal("a stream broken by the connection is not reported as cut")
	}
	if pos.lines != 3 || pos.same != 2 {
		t.Fatalf("position after the cut: %+v", pos)
	}
	// The resumed stream starts at 00:00:01 (sinceTime), so it repeats lines already printed.
	resumed := "2026-01-01T00:00:01.100000000Z one\n" +
		"2026-01-01T00:00:01.500000000Z two\n" +
		"2026-01-01T00:00:01.500000000Z two again\n" +
		"2026-01-01T00:00:02.000000000Z three\n" +
		"2026-01-01T00:00:02.000000000Z four\n"
	pos, cut = f.read(ctx, strings.NewReader(resumed), pos, true)
	if cut {
		t.Fatal("a stream that ended is reported as cut")
	}
	want := "one\ntwo\ntwo again\nthree\nfour\n"
	if got := out.String(); got != want {
		t.Fatalf("printed:\n%s\nwant:\n%s", got, want)
	}
	if pos.lines != 5 || pos.same != 2 {
		t.Errorf("final position: %+v", pos)
	}
}

// TestFinalReadPrintsLastLineWithoutNewline: the last read of a terminated
// pod prints a last line that has no newline; a follow stream does not (it
// may be cut off, and is read again).
func TestFinalReadPrintsLastLineWithoutNewline(t *testing.T) {
	var out bytes.Buffer
	f := newFollower(nil, "ns", "job", "migrate", &out, func(string, ...any) {})
	log := "2026-01-01T00:00:01Z a\n2026-01-01T00:00:02Z b"
	pos, _ := f.read(context.Background(), strings.NewReader(log), logPos{}, true)
	if out.String() != "a\n" {
		t.Fatalf("follow printed %q", out.String())
	}
	f.read(context.Background(), strings.NewReader(log), pos, false)
	if out.String() != "a\nb\n" {
		t.Fatalf("final read printed %q", out.String())
	}
}

// TestUntimedLinesCountFromTheStart: without timestamps the position is a count.
func TestUntimedLinesCountFromTheStart(t *testing.T) {
	var out bytes.Buffer
	f := newFollower(nil, "ns", "job", "migrate", &out, func(string, ...any) {})
	pos, _ := f.read(context.Background(), &cutReader{strings.NewReader("a\nb\n")}, logPos{}, true)
	f.read(context.Background(), strings.NewReader("a\nb\nc\n"), pos, true)
	if out.String() != "a\nb\nc\n" {
		t.Fatalf("printed %q", out.String())
	}
}

// TestCancelledStreamIsNotCut: a stream ended by the command (ctx) is no outage.
func TestCancelledStreamIsNotCut(t *testing.T) {
	f := newFollower(nil, "ns", "job", "migrate", io.Discard, func(string, ...any) {})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, cut := f.read(ctx, &cutReader{strings.NewReader("x\n")}, logPos{}, true); cut {
		t.Error("cancelled stream reported as cut")
	}
}
