package walarchive

import (
	"math/rand"
	"reflect"
	"testing"
)

func TestParseLSN(t *testing.T) {
	tests := []struct {
		in      string
		want    LSN
		wantErr bool
	}{
		{"0/3000028", 0x3000028, false},
		{"0/0", 0, false},
		{"16/B374D848", 0x16B374D848, false},
		{"ffffffff/ffffffff", ^LSN(0), false},
		{"0/", 0, true},
		{"/1", 0, true},
		{"03000028", 0, true},
		{"1/123456789", 0, true},
		{"0/xyz", 0, true},
		{"-1/0", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseLSN(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseLSN(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestLSNString(t *testing.T) {
	for _, s := range []string{"0/3000028", "0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF"} {
		l, err := ParseLSN(s)
		if err != nil || l.String() != s {
			t.Errorf("ParseLSN(%q).String() = %q, %v", s, l.String(), err)
		}
	}
}

func TestParseSegment(t *testing.T) {
	tests := []struct {
		name    string
		want    Segment
		wantErr bool
	}{
		{"000000010000000000000003", Segment{1, 0, 3}, false},
		{"0000000200000016000000B3", Segment{2, 0x16, 0xB3}, false},
		{"00000001000000000000000a", Segment{}, true}, // PostgreSQL writes upper case
		{"000000000000000000000003", Segment{}, true}, // timeline 0
		{"000000010000000000000100", Segment{}, true}, // past 16 MiB segments' range
		{"00000001000000000000003", Segment{}, true},
		{"000000010000000000000003.partial", Segment{}, true},
		{"000000010000000000000003.00000028.backup", Segment{}, true},
		{"00000002.history", Segment{}, true},
	}
	for _, tc := range tests {
		got, err := ParseSegment(tc.name)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseSegment(%q) = %v, %v; want %v, err %v", tc.name, got, err, tc.want, tc.wantErr)
		}
		if IsSegmentName(tc.name) == tc.wantErr {
			t.Errorf("IsSegmentName(%q) = %v", tc.name, !tc.wantErr)
		}
		if !tc.wantErr && got.Name() != tc.name {
			t.Errorf("ParseSegment(%q).Name() = %q", tc.name, got.Name())
		}
	}
}

func TestNextAndSegmentOf(t *testing.T) {
	tests := []struct {
		seg, next Segment
	}{
		{Segment{1, 0, 3}, Segment{1, 0, 4}},
		{Segment{1, 0, 0xFE}, Segment{1, 0, 0xFF}},
		{Segment{1, 0, 0xFF}, Segment{1, 1, 0}},
		{Segment{3, 0x16, 0xFF}, Segment{3, 0x17, 0}},
	}
	for _, tc := range tests {
		if got := tc.seg.Next(); got != tc.next {
			t.Errorf("%v.Next() = %v, want %v", tc.seg, got, tc.next)
		}
	}
	lsns := []struct {
		lsn  string
		want Segment
	}{
		{"0/3000028", Segment{1, 0, 3}},
		{"0/2FFFFFF", Segment{1, 0, 2}},
		{"0/FF000000", Segment{1, 0, 0xFF}},
		{"1/0", Segment{1, 1, 0}},
		{"16/B374D848", Segment{1, 0x16, 0xB3}},
	}
	for _, tc := range lsns {
		l, _ := ParseLSN(tc.lsn)
		got := SegmentOf(1, l)
		if got != tc.want {
			t.Errorf("SegmentOf(1, %s) = %v, want %v", tc.lsn, got, tc.want)
		}
		if got.StartLSN() > l || l-got.StartLSN() >= SegmentSize {
			t.Errorf("%v.StartLSN() = %v does not hold %s", got, got.StartLSN(), tc.lsn)
		}
	}
}

func TestHistoryNames(t *testing.T) {
	tests := []struct {
		name string
		tli  uint32
		ok   bool
	}{
		{"00000002.history", 2, true},
		{"0000000A.history", 10, true},
		{"00000000.history", 0, false},
		{"0000000a.history", 0, false},
		{"2.history", 0, false},
		{"00000002.history.sha256", 0, false},
		{"000000020000000000000003", 0, false},
	}
	for _, tc := range tests {
		tli, ok := HistoryTimeline(tc.name)
		if tli != tc.tli || ok != tc.ok || IsHistoryName(tc.name) != tc.ok {
			t.Errorf("HistoryTimeline(%q) = %d, %v; want %d, %v", tc.name, tli, ok, tc.tli, tc.ok)
		}
	}
	if HistoryName(2) != "00000002.history" {
		t.Errorf("HistoryName(2) = %q", HistoryName(2))
	}
}

func seg(name string) Segment {
	s, err := ParseSegment(name)
	if err != nil {
		panic(err)
	}
	return s
}

func TestCheckChain(t *testing.T) {
	from := seg("000000010000000000000003")
	tests := []struct {
		desc  string
		from  Segment
		names []string
		want  Chain
	}{
		{"empty archive", from, nil, Chain{From: from}},
		{"single segment", from, []string{"000000010000000000000003"},
			Chain{From: from, Found: true, Last: from, Newest: from}},
		{"unbroken run, older segments and other files ignored", from, []string{
			"000000010000000000000001", "000000010000000000000002", "000000010000000000000003",
			"000000010000000000000004", "000000010000000000000005", "000000010000000000000003.00000028.backup",
			"000000010000000000000006.sha256", "junk"},
			Chain{From: from, Found: true, Last: seg("000000010000000000000005"), Newest: seg("000000010000000000000005")}},
		{"one gap", from, []string{
			"000000010000000000000005", "000000010000000000000003", "000000010000000000000004",
			"000000010000000000000007", "000000010000000000000008"},
			Chain{From: from, Found: true, Last: seg("000000010000000000000005"), Newest: seg("000000010000000000000008"),
				Gaps: []Gap{{After: seg("000000010000000000000005"), Missing: seg("000000010000000000000006"), Resume: seg("000000010000000000000007")}}}},
		{"from missing", from, []string{"000000010000000000000004", "000000010000000000000005"},
			Chain{From: from, Newest: seg("000000010000000000000005"),
				Gaps: []Gap{{Missing: from, Resume: seg("000000010000000000000004")}}}},
		{"two gaps", from, []string{"000000010000000000000003", "000000010000000000000005", "000000010000000000000009"},
			Chain{From: from, Found: true, Last: from, Newest: seg("000000010000000000000009"), Gaps: []Gap{
				{After: from, Missing: seg("000000010000000000000004"), Resume: seg("000000010000000000000005")},
				{After: seg("000000010000000000000005"), Missing: seg("000000010000000000000006"), Resume: seg("000000010000000000000009")},
			}}},
		{"across a log boundary", seg("0000000100000000000000FE"), []string{
			"0000000100000000000000FE", "0000000100000000000000FF", "000000010000000100000000"},
			Chain{From: seg("0000000100000000000000FE"), Found: true, Last: seg("000000010000000100000000"), Newest: seg("000000010000000100000000")}},
		{"timeline switch with its history file", from, []string{
			"000000010000000000000003", "000000010000000000000004", "000000010000000000000005.partial",
			"00000002.history", "000000020000000000000005", "000000020000000000000006"},
			Chain{From: from, Found: true, Last: seg("000000020000000000000006"), Newest: seg("000000020000000000000006")}},
		{"timeline switch without its history file is not followed", from, []string{
			"000000010000000000000003", "000000010000000000000004",
			"000000020000000000000005", "000000020000000000000006"},
			Chain{From: from, Found: true, Last: seg("000000010000000000000004"), Newest: seg("000000010000000000000004")}},
		{"old timeline's later segments lose to the new timeline", from, []string{
			"000000010000000000000003", "000000010000000000000004", "000000010000000000000005", "000000010000000000000006",
			"00000002.history", "000000020000000000000005", "000000020000000000000007"},
			Chain{From: from, Found: true, Last: seg("000000020000000000000005"), Newest: seg("000000020000000000000007"),
				Gaps: []Gap{{After: seg("000000020000000000000005"), Missing: seg("000000020000000000000006"), Resume: seg("000000020000000000000007")}}}},
		{"earlier timelines are ignored", seg("000000020000000000000005"), []string{
			"000000010000000000000005", "000000010000000000000006", "00000002.history", "000000020000000000000005"},
			Chain{From: seg("000000020000000000000005"), Found: true, Last: seg("000000020000000000000005"), Newest: seg("000000020000000000000005")}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := CheckChain(tc.from, tc.names)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CheckChain(%v, %v)\n got %+v\nwant %+v", tc.from, tc.names, got, tc.want)
			}
			if got.Unbroken() != (tc.want.Found && len(tc.want.Gaps) == 0) {
				t.Errorf("Unbroken() = %v", got.Unbroken())
			}
		})
	}
}

// TestCheckChainProperties checks CheckChain against its definition on many
// random single-timeline archives (a fixed seed: the same archives every run).
func TestCheckChainProperties(t *testing.T) {
	r := rand.New(rand.NewSource(21))
	for i := 0; i < 2000; i++ {
		base := uint64(r.Intn(600))
		present := map[uint64]bool{}
		var names []string
		for no := base; no < base+uint64(r.Intn(40)); no++ {
			if r.Intn(5) > 0 {
				present[no] = true
				names = append(names, segmentAt(1, no).Name())
			}
		}
		r.Shuffle(len(names), func(a, b int) { names[a], names[b] = names[b], names[a] })
		from := segmentAt(1, base+uint64(r.Intn(10)))
		checkProperties(t, from, present, CheckChain(from, names))
	}
}

func checkProperties(t *testing.T, from Segment, present map[uint64]bool, c Chain) {
	t.Helper()
	var newest uint64
	for no := range present {
		if no >= from.No() && no > newest {
			newest = no
		}
	}
	if c.Found != present[from.No()] {
		t.Fatalf("from %v: Found = %v", from, c.Found)
	}
	if c.Found {
		for no := from.No(); no <= c.Last.No(); no++ {
			if !present[no] {
				t.Fatalf("from %v: Last %v but %v missing", from, c.Last, segmentAt(1, no))
			}
		}
		if present[c.Last.No()+1] {
			t.Fatalf("from %v: Last %v but the next is present", from, c.Last)
		}
	}
	if newest >= from.No() && present[newest] && c.Newest.No() != newest {
		t.Fatalf("from %v: Newest %v, want %v", from, c.Newest, segmentAt(1, newest))
	}
	missing := 0
	for no := from.No(); no <= c.Newest.No() && !c.Newest.IsZero(); no++ {
		if !present[no] && (no == from.No() || present[no-1]) {
			missing++
		}
	}
	if len(c.Gaps) != missing {
		t.Fatalf("from %v: %d gaps, want %d: %+v", from, len(c.Gaps), missing, c.Gaps)
	}
	for _, g := range c.Gaps {
		if present[g.Missing.No()] || !present[g.Resume.No()] || (!g.After.IsZero() && !present[g.After.No()]) {
			t.Fatalf("from %v: wrong gap %+v", from, g)
		}
		for no := g.Missing.No(); no < g.Resume.No(); no++ {
			if present[no] {
				t.Fatalf("from %v: gap %+v hides present %v", from, g, segmentAt(1, no))
			}
		}
	}
}
