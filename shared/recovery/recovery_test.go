package recovery

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func seg(n int) string { return fmt.Sprintf("0000000100000000%08X", n) }

func seenOf(nos ...int) Seen {
	s := Seen{}
	for i, n := range nos {
		s.Add(seg(n), t0.Add(time.Duration(i)*time.Minute))
	}
	return s
}

func TestCheck(t *testing.T) {
	base := &Base{Name: "base-1", EndTime: t0.Add(30 * time.Second), StartSegment: seg(3), EndLSN: "0/4000100"}
	cases := []struct {
		name     string
		seen     Seen
		base     *Base
		gaps     int
		problems int
		window   string // LastSegment of the window, "" for none
	}{
		{"whole chain with base", seenOf(2, 3, 4, 5), base, 0, 0, seg(5)},
		{"base's own WAL missing", seenOf(2, 3, 5), base, 1, 2, ""},
		{"base's start missing", seenOf(4, 5), base, 1, 2, ""},
		{"chain ends before the base's end", seenOf(3), base, 0, 1, ""},
		{"gap after the window", seenOf(3, 4, 6), base, 1, 1, seg(4)},
		{"no base: from the oldest", seenOf(2, 3, 5), nil, 1, 1, ""},
		{"nothing at all", Seen{}, nil, 0, 0, ""},
	}
	for _, c := range cases {
		r := Check(c.seen, c.base)
		got := ""
		if r.Window != nil {
			got = r.Window.LastSegment
		}
		if len(r.Gaps) != c.gaps || len(r.Problems) != c.problems || got != c.window {
			t.Errorf("%s: gaps %v problems %q window %q", c.name, r.Gaps, r.Problems, got)
		}
	}
	// The window starts at the base backup's end and ends when its last segment was archived.
	r := Check(seenOf(2, 3, 4, 5), base)
	if !r.Window.From.Equal(base.EndTime) || !r.Window.To.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("window %+v", r.Window)
	}
}

func TestSeenKeepsEarliest(t *testing.T) {
	s := Seen{}
	s.Add(seg(1), t0.Add(time.Hour))
	s.Add(seg(1), t0)
	s.Add(seg(1), t0.Add(2*time.Hour))
	if !s[seg(1)].Equal(t0) || s.OldestSegment() != seg(1) || len(s.Names()) != 1 {
		t.Fatalf("%v", s)
	}
}

func TestReadArchiveAndLine(t *testing.T) {
	listing := fmt.Sprintf("16777216 %d %s\n16777216 %d %s\n41 %d 00000002.history\n16777216 %d %s\n16777216 %d %s.part\n%s\n",
		t0.Unix(), seg(2), t0.Add(time.Minute).Unix(), seg(3), t0.Unix(), t0.Add(5*time.Minute).Unix(), seg(6), t0.Unix(), seg(7), ListEnd)
	files, err := ParseList([]byte(listing))
	if err != nil || len(files) != 4 {
		t.Fatalf("%v %v", files, err)
	}
	a := ReadArchive(files)
	if a.Files != 4 || a.Oldest != seg(2) || a.Newest != seg(6) || len(a.Gaps) != 1 || a.Gaps[0].Missing != seg(4) || a.Span() != 5*time.Minute {
		t.Fatalf("%+v", a)
	}
	ago := func(d time.Duration) string { return d.String() }
	line := a.Line(t0.Add(7*time.Minute), ago)
	if !strings.Contains(line, "WAL "+seg(2)+" to "+seg(6)+" (4 files), last archived 2m0s ago, 1 gap: missing WAL from "+seg(4)) {
		t.Errorf("line %q", line)
	}
	if l := ReadArchive(files[:2]).Line(t0.Add(time.Minute), ago); !strings.HasSuffix(l, "last archived 0s ago, no gap") {
		t.Errorf("line %q", l)
	}
	if l := ReadArchive(nil).Line(t0, ago); l != "the WAL archive holds no segment yet (0 files)" {
		t.Errorf("line %q", l)
	}
	for _, bad := range []string{"garbage\n" + ListEnd + "\n", "1 2 " + seg(1) + "\n", "x 2 " + seg(1) + "\n" + ListEnd} {
		if _, err := ParseList([]byte(bad)); err == nil {
			t.Errorf("listing %q taken", bad)
		}
	}
}
