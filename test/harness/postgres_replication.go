package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A streaming-replication pair on loopback: StartPostgres(...,
// WithReplication()) is the primary, its StartStandby a hot standby made by
// pg_basebackup -R that streams from it as ReplicationUser (a role of its
// own, the only one pg_hba lets in for replication). Map each to its
// cluster's postgres pod with ClusterExecIn, so that `kubectl exec` into the
// postgres pod of one cluster reaches the primary and of the other the
// standby. Promote, Stop, Crash and Follow play a switchover or a failover;
// ReplayLag, WaitReplayed and PauseReplay measure and hold the standby.

// ReplicationUser is the role the standbys stream as (not the app's user).
const ReplicationUser = "piyasa_replicator"

// WithReplication makes the server a primary that standbys can stream from:
// wal_level replica, WAL senders, 256 MB of WAL kept for a standby that falls
// behind, wal_log_hints and full page writes (pg_rewind needs them), TLS with
// a self-signed certificate (TLSCert; plain connections still work), and the
// role ReplicationUser with a fresh canary password (ReplicationPassword),
// the only role pg_hba.conf lets connect for replication (from 127.0.0.1).
func WithReplication() PostgresOption {
	return func(o *postgresOptions) { o.replication = true }
}

// replicationHBA lets only ReplicationUser connect for replication.
func (p *Postgres) replicationHBA() error {
	path := filepath.Join(p.Data, "pg_hba.conf")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && !strings.HasPrefix(f[0], "#") && f[1] == "replication" {
			continue
		}
		keep = append(keep, l)
	}
	keep = append(keep, fmt.Sprintf("host replication %s 127.0.0.1/32 scram-sha-256", ReplicationUser), "")
	return os.WriteFile(path, []byte(strings.Join(keep, "\n")), 0o600)
}

// createReplicationRole creates ReplicationUser with a fresh canary password.
func (p *Postgres) createReplicationRole(t testing.TB) {
	t.Helper()
	p.ReplicationPassword = CanaryValue("repl")
	p.MustPsql(t, "postgres", fmt.Sprintf("CREATE ROLE %s WITH REPLICATION LOGIN PASSWORD '%s'", ReplicationUser, p.ReplicationPassword))
}

// conninfo is the libpq connection string a standby named name streams with
// from p, over TLS (sslmode=require).
func (p *Postgres) conninfo(name string) string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s application_name=%s sslmode=require", p.Host, p.Port, ReplicationUser, p.ReplicationPassword, name)
}

// StartStandby makes a hot standby of p (a primary started WithReplication)
// with pg_basebackup -R as ReplicationUser, application_name name, starts
// it on its own port and returns once p's pg_stat_replication shows it
// streaming. Its User and Password are p's (the data directory is a copy);
// it is stopped and removed when the test ends.
func (p *Postgres) StartStandby(t testing.TB, name string) *Postgres {
	t.Helper()
	if p.ReplicationPassword == "" {
		t.Fatal("harness: StartStandby of a server started without WithReplication")
	}
	s := newPostgres(t, p.User, p.Password)
	s.Name, s.ReplicationPassword, s.DB = name, p.ReplicationPassword, p.DB
	if err := s.cloneFrom(p); err != nil {
		t.Fatal(err)
	}
	s.serverOpts = s.options(postgresOptions{replication: true})
	if err := s.withTLS(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("%v\n%s", err, s.ServerLog())
	}
	s.watchdog()
	p.waitStreaming(t, name)
	return s
}

// cloneFrom replaces s's data directory by a base backup of primary that
// streams from it (pg_basebackup -R: standby.signal and primary_conninfo).
func (s *Postgres) cloneFrom(primary *Postgres) error {
	if err := os.RemoveAll(s.Data); err != nil {
		return err
	}
	return s.run(nil, "pg_basebackup", "-d", primary.conninfo(s.Name), "-D", s.Data, "-R", "-X", "stream", "-c", "fast", "--no-sync")
}

// waitStreaming waits until p's pg_stat_replication shows the standby name streaming.
func (p *Postgres) waitStreaming(t testing.TB, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := p.Psql("postgres", fmt.Sprintf("SELECT state FROM pg_stat_replication WHERE application_name = '%s'", name))
		if err == nil && strings.TrimSpace(out) == "streaming" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("harness: standby %s not streaming from port %d after 60s (%q, %v)", name, p.Port, out, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Promote promotes a standby to a primary (pg_ctl promote, waiting until it
// accepts writes).
func (p *Postgres) Promote() error {
	return p.run(nil, "pg_ctl", "-D", p.Data, "-w", "-t", "60", "promote")
}

// Follow makes p, a former primary, a standby of primary (a promoted standby):
// it stops p if it runs, rewinds its data directory to where their
// timelines parted (pg_rewind, as p's superuser against primary) or, when
// that fails, takes a fresh base backup of primary, points it at primary as
// ReplicationUser (application_name p.Name, or "old-primary") and starts it.
// It returns how: "pg_rewind" or "pg_basebackup".
func (p *Postgres) Follow(primary *Postgres) (string, error) {
	if p.Name == "" {
		p.Name = "old-primary"
	}
	p.ReplicationPassword = primary.ReplicationPassword
	_ = p.Stop() // already stopped, or crashed: pg_rewind recovers it first
	how := "pg_rewind"
	source := fmt.Sprintf("host=%s port=%d user=%s dbname=postgres", primary.Host, primary.Port, primary.User)
	if err := p.run([]string{"PGPASSWORD=" + primary.Password}, "pg_rewind", "--target-pgdata", p.Data, "--source-server", source); err != nil {
		how = "pg_basebackup"
		if err := p.cloneFrom(primary); err != nil {
			return how, fmt.Errorf("pg_rewind failed, and so did a fresh base backup: %v", err)
		}
	}
	// pg_rewind copies primary's own configuration: its old primary_conninfo is overridden (the last line wins).
	auto := filepath.Join(p.Data, "postgresql.auto.conf")
	f, err := os.OpenFile(auto, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return how, err
	}
	_, err = fmt.Fprintf(f, "primary_conninfo = '%s'\n", primary.conninfo(p.Name))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return how, err
	}
	if err := p.writeFile(filepath.Join(p.Data, "standby.signal"), ""); err != nil {
		return how, err
	}
	if err := p.withTLS(); err != nil {
		return how, err
	}
	if err := p.Start(); err != nil {
		return how, fmt.Errorf("%v\n%s", err, p.ServerLog())
	}
	return how, nil
}

// ReplayLag is how many bytes of p's WAL (a primary) the standby has not replayed.
func (p *Postgres) ReplayLag(standby *Postgres) (int64, error) {
	replayed, err := standby.Psql("postgres", "SELECT pg_last_wal_replay_lsn()")
	if err != nil {
		return 0, err
	}
	out, err := p.Psql("postgres", fmt.Sprintf("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '%s')::bigint", strings.TrimSpace(replayed)))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(out), 10, 64)
}

// WaitReplayed waits until the standby has replayed p's WAL up to where it
// is now, and fails t after timeout.
func (p *Postgres) WaitReplayed(t testing.TB, standby *Postgres, timeout time.Duration) {
	t.Helper()
	target := strings.TrimSpace(p.MustPsql(t, "postgres", "SELECT pg_current_wal_lsn()"))
	deadline := time.Now().Add(timeout)
	for {
		out, err := standby.Psql("postgres", fmt.Sprintf("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '%s') >= 0", target))
		if err == nil && strings.TrimSpace(out) == "t" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("harness: standby on port %d has not replayed up to %s after %s (%q, %v)", standby.Port, target, timeout, out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PauseReplay pauses a standby's replay (pg_wal_replay_pause): it keeps
// receiving WAL and replays none until ResumeReplay.
func (p *Postgres) PauseReplay(t testing.TB) {
	t.Helper()
	p.MustPsql(t, "postgres", "SELECT pg_wal_replay_pause()")
}

// ResumeReplay resumes a paused standby's replay.
func (p *Postgres) ResumeReplay(t testing.TB) {
	t.Helper()
	p.MustPsql(t, "postgres", "SELECT pg_wal_replay_resume()")
}

// InRecovery tells whether the server is a standby (pg_is_in_recovery).
func (p *Postgres) InRecovery() (bool, error) {
	out, err := p.Psql("postgres", "SELECT pg_is_in_recovery()")
	return strings.TrimSpace(out) == "t", err
}
