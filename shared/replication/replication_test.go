package replication

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// row joins the 9 fields of one row as psql prints them.
func row(f ...string) string {
	for len(f) < fields {
		f = append(f, "")
	}
	return strings.Join(f, "\t") + "\n"
}

var now = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func TestParseLSN(t *testing.T) {
	for in, want := range map[string]uint64{"0/3000000": 0x3000000, "16/B374D848": 0x16<<32 | 0xB374D848, "0/0": 0} {
		got, err := ParseLSN(in)
		if err != nil || got != want {
			t.Errorf("ParseLSN(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "3000000", "x/1", "1/", "100000000/0"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q): no error", bad)
		}
	}
}

func nowMS() string { return itoa(now.UnixMilli()) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestParsePrimary(t *testing.T) {
	out := row("node", "primary", "0/3003000", "", "", "", nowMS()) +
		row("sender", "standby-us", "10.0.0.7", "catchup", "0/3000000", "0/3000000", "0/2000000", "0/1000000", "2500") +
		row("sender", "standby-eu", "10.0.0.6", "streaming", "0/3003000", "0/3003000", "0/3003000", "0/3000000", "")
	s, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Role != RolePrimary || !s.Replicating() || len(s.Standbys) != 2 {
		t.Fatalf("%+v", s)
	}
	eu, us := s.Standbys[0], s.Standbys[1]
	if eu.Name != "standby-eu" || eu.LagBytes != 0x3000 || eu.LagSeconds != 0 || eu.Client != "10.0.0.6" {
		t.Errorf("standby-eu: %+v", eu)
	}
	if us.LagBytes != 0x2003000 || us.LagSeconds != 2.5 {
		t.Errorf("standby-us: %+v", us)
	}
	if s.LagBytes != us.LagBytes || s.LagSeconds != 2.5 {
		t.Errorf("the worst lag: %d %v", s.LagBytes, s.LagSeconds)
	}
	want := "primary, 2 standbys (standby-eu streaming, lag 12.0 KiB; standby-us catchup, lag 32.0 MiB / 3s)"
	if s.Message != want {
		t.Errorf("line\n got %q\nwant %q", s.Message, want)
	}
	if b := s.Behind(DefaultLimits); len(b) != 1 || !strings.HasPrefix(b[0], "standby standby-us: replay lag 32.0 MiB / 3s") {
		t.Errorf("behind: %q", b)
	}
}

func TestParsePrimaryAlone(t *testing.T) {
	s, err := Parse(row("node", "primary", "0/3003000", "", "", "", nowMS()))
	if err != nil {
		t.Fatal(err)
	}
	if s.Replicating() || s.Message != "primary, no standby connected" || s.Behind(DefaultLimits) != nil {
		t.Fatalf("%+v", s)
	}
}

// The rules of a standby's lag, the idle primary among them.
func TestParseStandbyLag(t *testing.T) {
	hourAgo := itoa(now.Add(-time.Hour).UnixMilli())
	tenAgo := itoa(now.Add(-10 * time.Second).UnixMilli())
	recv := func(status, end string) string { return row("receiver", status, "10.0.0.5", "5432", end) }
	cases := []struct {
		name       string
		out        string
		bytes      int64
		secs       float64
		line       string
		behind     bool
		noReceiver bool
	}{
		{"idle primary, caught up: 0 s although the last commit is an hour old",
			row("node", "standby", "", "0/5000000", "0/5000000", hourAgo, nowMS(), "false") + recv("streaming", "0/5000000"),
			0, 0, "standby of 10.0.0.5, replay lag 0 B / 0s, streaming", false, false},
		{"no keepalive yet (latest_end_lsn empty): what was received counts",
			row("node", "standby", "", "0/5000000", "0/5000000", "", nowMS(), "false") + recv("streaming", ""),
			0, 0, "standby of 10.0.0.5, replay lag 0 B / 0s, streaming", false, false},
		{"replay paused while the primary writes",
			row("node", "standby", "", "0/7000000", "0/5000000", tenAgo, nowMS(), "true") + recv("streaming", "0/7100000"),
			0x2100000, 10, "standby of 10.0.0.5, replay lag 33.0 MiB / 10s, streaming, replay paused", true, false},
		{"received all, the primary has more: behind by the primary's end",
			row("node", "standby", "", "0/5000000", "0/5000000", tenAgo, nowMS(), "false") + recv("streaming", "0/5001000"),
			0x1000, 10, "standby of 10.0.0.5, replay lag 4.0 KiB / 10s, streaming", false, false},
		{"no WAL receiver: seconds count from the last replayed transaction",
			row("node", "standby", "", "0/5000000", "0/5000000", hourAgo, nowMS(), "false"),
			0, 3600, "standby, replay lag 0 B / 1h0m0s, not streaming (no WAL receiver)", true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse(c.out)
			if err != nil {
				t.Fatal(err)
			}
			if s.Role != RoleStandby || !s.Replicating() || s.LagBytes != c.bytes || s.LagSeconds != c.secs {
				t.Fatalf("lag %d B %v s, want %d B %v s (%+v)", s.LagBytes, s.LagSeconds, c.bytes, c.secs, s)
			}
			if s.Message != c.line {
				t.Errorf("line\n got %q\nwant %q", s.Message, c.line)
			}
			if got := len(s.Behind(DefaultLimits)) > 0; got != c.behind {
				t.Errorf("behind %v, want %v: %q", got, c.behind, s.Behind(DefaultLimits))
			}
			if !c.noReceiver && (s.SenderHost != "10.0.0.5" || s.SenderPort != 5432) {
				t.Errorf("sender %q %d", s.SenderHost, s.SenderPort)
			}
		})
	}
}

func TestParseMasksServerText(t *testing.T) {
	out := row("node", "primary", "0/3000000", "", "", "", nowMS()) +
		row("sender", "postgresql://u:hunter2hunter2@db/x", "", "streaming", "0/3000000", "", "", "0/3000000", "")
	s, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.Message+s.Standbys[0].Name, "hunter2") {
		t.Fatalf("not masked: %q", s.Message)
	}
}

func TestParseRejects(t *testing.T) {
	for _, out := range []string{
		"",
		"ERROR:  permission denied\n",
		row("node", "primary", "0/1", "", "", "", nowMS())[:10],
		row("node", "leader", "0/1", "", "", "", nowMS()),
		row("node", "primary", "0/1", "", "", "", ""),
		row("node", "primary", "zz", "", "", "", nowMS()),
		row("node", "primary", "0/1", "", "", "", nowMS()) + row("other"),
		row("node", "primary", "0/1", "", "", "", nowMS()) + row("sender", "a", "", "streaming", "0/1", "", "", "0/1", "x"),
		row("node", "standby", "", "0/1", "0/1", "", nowMS(), "false") + row("receiver", "streaming", "h", "port"),
	} {
		if s, err := Parse(out); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", out, s)
		}
	}
}
