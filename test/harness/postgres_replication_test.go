package harness

import (
	"strings"
	"testing"
	"time"
)

// A primary started WithReplication and its StartStandby stream: rows
// written on the primary are read on the standby, which refuses writes;
// only ReplicationUser may replicate; a paused replay lags in bytes and
// catches up when resumed; a switchover (Promote the standby, Follow with the
// old primary) swaps the roles and keeps every row.
func TestReplicationPair(t *testing.T) {
	if PostgresBinDir() == "" {
		t.Skip(errNoPostgres)
	}
	p := StartPostgres(t, "piyasa_user", "pw-primary", "piyasa_db", WithReplication())
	s := p.StartStandby(t, "standby-b")
	if in, err := s.InRecovery(); err != nil || !in {
		t.Fatalf("standby in recovery: %v %v", in, err)
	}
	p.MustPsql(t, "piyasa_db", "CREATE TABLE t(x int); INSERT INTO t SELECT generate_series(1, 100)")
	p.WaitReplayed(t, s, 30*time.Second)
	if got := s.MustPsql(t, "piyasa_db", "SELECT count(*) FROM t"); got != "100" {
		t.Fatalf("rows on the standby: %s", got)
	}
	if _, err := s.Psql("piyasa_db", "INSERT INTO t VALUES (0)"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("a write on the standby: %v", err)
	}
	// The app's user (a superuser) may not replicate: pg_hba lets only ReplicationUser in.
	other := newPostgres(t, p.User, p.Password)
	err := other.run([]string{"PGPASSWORD=" + p.Password}, "pg_basebackup", "-d", strings.Replace(p.conninfo("x"), "user="+ReplicationUser, "user="+p.User, 1), "-D", other.Data, "-X", "none")
	if err == nil || !strings.Contains(err.Error(), "pg_hba.conf") {
		t.Fatalf("pg_basebackup as the app's user: %v", err)
	}

	s.PauseReplay(t)
	p.MustPsql(t, "piyasa_db", "INSERT INTO t SELECT generate_series(1, 10000)")
	time.Sleep(200 * time.Millisecond) // received, not replayed: the lag stays
	if lag, err := p.ReplayLag(s); err != nil || lag <= 0 {
		t.Fatalf("lag while paused: %d %v", lag, err)
	}
	s.ResumeReplay(t)
	p.WaitReplayed(t, s, 30*time.Second)
	if lag, err := p.ReplayLag(s); err != nil || lag != 0 {
		t.Fatalf("lag after resume: %d %v", lag, err)
	}

	// Switchover: stop the primary, promote the standby, the old primary follows.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Promote(); err != nil {
		t.Fatal(err)
	}
	s.MustPsql(t, "piyasa_db", "INSERT INTO t VALUES (-1)")
	how, err := p.Follow(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the old primary follows the new one after %s", how)
	s.waitStreaming(t, "old-primary")
	s.WaitReplayed(t, p, 30*time.Second)
	if got := p.MustPsql(t, "piyasa_db", "SELECT count(*) FROM t"); got != "10101" {
		t.Fatalf("rows on the old primary: %s", got)
	}
	if in, err := p.InRecovery(); err != nil || !in {
		t.Fatalf("the old primary is not a standby: %v %v", in, err)
	}
}
