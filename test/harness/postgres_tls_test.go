package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A WithReplication server and its standby accept TLS, replication
// connections included, with a certificate that verifies for 127.0.0.1;
// plain connections still work; the standby streams over TLS.
func TestReplicationTLS(t *testing.T) {
	if PostgresBinDir() == "" {
		t.Skip(errNoPostgres)
	}
	p := StartPostgres(t, "piyasa_user", "pw-tls", "piyasa_db", WithReplication())
	if fi, err := os.Stat(p.TLSKey()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	repl := func(p *Postgres, conninfo, sql string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "psql"), "-X", "-At",
			fmt.Sprintf("host=%s port=%d user=%s dbname=replication replication=true %s", p.Host, p.Port, ReplicationUser, conninfo), "-c", sql)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "PGPASSWORD=" + p.ReplicationPassword}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	for _, mode := range []string{"sslmode=require", "sslmode=verify-full sslrootcert=" + p.TLSCert(), "sslmode=disable"} {
		if out, err := repl(p, mode, "IDENTIFY_SYSTEM"); err != nil || !strings.Contains(out, "|") {
			t.Fatalf("IDENTIFY_SYSTEM with %s: %v\n%s", mode, err, out)
		}
	}
	ssl := func(p *Postgres, mode string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(p.BinDir, "psql"), "-X", "-At", "-d", "postgres", "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "PGSSLMODE=" + mode}, p.Env()...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("psql sslmode=%s: %v\n%s", mode, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := ssl(p, "require"); got != "t" {
		t.Fatalf("ssl over sslmode=require: %q", got)
	}
	if got := ssl(p, "disable"); got != "f" {
		t.Fatalf("ssl over sslmode=disable: %q", got)
	}

	s := p.StartStandby(t, "standby-tls")
	if got := ssl(s, "require"); got != "t" {
		t.Fatalf("ssl on the standby over sslmode=require: %q", got)
	}
	if got := p.MustPsql(t, "postgres", "SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = 'standby-tls'"); got != "t" {
		t.Fatalf("the standby streams over TLS: %q", got)
	}

	// Switchover: the old primary follows over TLS and still serves it.
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Promote(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Follow(s); err != nil {
		t.Fatal(err)
	}
	s.waitStreaming(t, "old-primary")
	if got := s.MustPsql(t, "postgres", "SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = 'old-primary'"); got != "t" {
		t.Fatalf("the old primary streams over TLS: %q", got)
	}
	if got := ssl(p, "require"); got != "t" {
		t.Fatalf("ssl on the old primary over sslmode=require: %q", got)
	}
}
