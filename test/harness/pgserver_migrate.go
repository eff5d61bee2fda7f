package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// MigratePG is a real PostgreSQL server on loopback for the migrate tests
// (Debian's postgresql package): database piyasa_db, user piyasa_user with a
// password, TCP on 127.0.0.1:Port with scram-sha-256, and a superuser on a
// private Unix socket for the tests' own queries.
type MigratePG struct {
	Port     int
	Password string
	dir      string
	bin      string
}

// MigratePGBinDir returns the directory of Debian's PostgreSQL server binaries.
func MigratePGBinDir() (string, error) {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(m) == 0 {
		return "", fmt.Errorf("no PostgreSQL server: install Debian's postgresql package")
	}
	sort.Strings(m)
	return filepath.Dir(m[len(m)-1]), nil
}

// MigratePGStart starts a fresh server for one test and stops it when the test ends.
func MigratePGStart(t testing.TB, password string) *MigratePG {
	t.Helper()
	bin, err := MigratePGBinDir()
	if err != nil {
		t.Skip(err)
	}
	dir, err := os.MkdirTemp("", "piyasa-migrate-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &MigratePG{Password: password, dir: dir, bin: bin, Port: migratePGFreePort(t)}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root: run them as Debian's postgres user.
		if u, err := user.Lookup("postgres"); err == nil {
			var uid, gid int
			fmt.Sscan(u.Uid, &uid)
			fmt.Sscan(u.Gid, &gid)
			if err := os.Chown(dir, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() {
		_ = p.pgCmd("pg_ctl", "-D", p.data(), "-m", "immediate", "stop").Run()
		os.RemoveAll(dir)
	})
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte("unused-superuser\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := p.pgCmd("initdb", "-D", p.data(), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
		"--pwfile", pwfile, "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -F -c fsync=off", p.Port, dir)
	if out, err := p.pgCmd("pg_ctl", "-D", p.data(), "-o", opts, "-l", filepath.Join(dir, "server.log"), "-w", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	p.Superuser(t, fmt.Sprintf("CREATE USER piyasa_user PASSWORD '%s'", strings.ReplaceAll(password, "'", "''")))
	p.Superuser(t, "CREATE DATABASE piyasa_db OWNER piyasa_user")
	return p
}

func (p *MigratePG) data() string { return filepath.Join(p.dir, "data") }

// pgCmd runs one of the server's programs, as the postgres user when we are root.
func (p *MigratePG) pgCmd(name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// Superuser runs SQL as the superuser in database postgres and returns psql's unaligned output.
func (p *MigratePG) Superuser(t testing.TB, sql string) string {
	t.Helper()
	return p.psql(t, "postgres", sql)
}

// Query runs SQL in piyasa_db (as the superuser) and returns the unaligned, tuples-only output.
func (p *MigratePG) Query(t testing.TB, sql string) string {
	t.Helper()
	return p.psql(t, "piyasa_db", sql)
}

func (p *MigratePG) psql(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := p.pgCmd("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", p.dir, "-p", fmt.Sprint(p.Port), "-U", "postgres", "-d", db, "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// URL is the ConfigMap-style DATABASE_URL (no password) of the server.
func (p *MigratePG) URL() string {
	return fmt.Sprintf("postgresql://piyasa_user@127.0.0.1:%d/piyasa_db", p.Port)
}

func migratePGFreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
