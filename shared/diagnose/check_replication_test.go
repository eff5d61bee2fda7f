package diagnose

import (
	"strings"
	"testing"
)

// TestCheckProbesReplication: a standby whose replay lags over 16 MiB or
// 60 s, or a primary's standby that does, is PIY983 (read by
// shared/replication); a caught-up standby of an idle primary is not; an
// unreadable answer is PIY979.
func TestCheckProbesReplication(t *testing.T) {
	const now = "1786000000000"
	node := func(role, cur, recv, replay, last, paused string) string {
		return "node\t" + role + "\t" + cur + "\t" + recv + "\t" + replay + "\t" + last + "\t" + now + "\t" + paused + "\t\n"
	}
	receiver := "receiver\tstreaming\t10.0.0.5\t5432\t0/9000000\t\t\t\t\n"
	sender := func(replay, lagMS string) string {
		return "sender\tstandby-eu\t10.0.0.6\tstreaming\t0/9000000\t0/9000000\t0/9000000\t" + replay + "\t" + lagMS + "\n"
	}
	for name, c := range map[string]struct {
		out, want, says string
	}{
		"idle standby, an hour since the last commit": {node("standby", "", "0/9000000", "0/9000000", "1785996400000", "false") + receiver, "", ""},
		"standby paused, 32 MiB behind": {node("standby", "", "0/9000000", "0/7000000", "1785999990000", "true") + receiver, "PIY983",
			"replay lag 32.0 MiB / 10s (limits 16.0 MiB / 1m0s)"},
		"standby 2 minutes behind":       {node("standby", "", "0/9000000", "0/8FFF000", "1785999880000", "false") + receiver, "PIY983", "/ 2m0s"},
		"primary, standby caught up":     {node("primary", "0/9000000", "", "", "", "") + sender("0/9000000", ""), "", ""},
		"primary, standby 20 MiB behind": {node("primary", "0/9000000", "", "", "", "") + sender("0/7C00000", "1500"), "PIY983", "standby standby-eu: replay lag 20.0 MiB"},
		"primary, standby 90 s behind":   {node("primary", "0/9000000", "", "", "", "") + sender("0/9000000", "90000"), "PIY983", "/ 1m30s"},
		"unreadable":                     {"psql: error: connection refused\n", "PIY979", "pg_stat_replication"},
	} {
		p := healthyProber()
		p.exec["pg_stat_replication"] = c.out
		got := probe(t, p)
		n := 0
		for _, fs := range got {
			n += len(fs)
		}
		if c.want == "" && n != 0 || c.want != "" && (len(got[c.want]) != 1 || n != 1) {
			t.Errorf("%s: want %q, got %+v", name, c.want, got)
			continue
		}
		if c.want != "" && !strings.Contains(got[c.want][0].Message, c.says) {
			t.Errorf("%s: message lacks %q: %s", name, c.says, got[c.want][0].Message)
		}
		if f := got["PIY983"]; len(f) == 1 && strings.Contains(c.out, "\ttrue\t") != strings.Contains(f[0].Fix, "pg_wal_replay_resume") {
			t.Errorf("%s: the fix names the paused replay only when paused: %s", name, f[0].Fix)
		}
	}
}
