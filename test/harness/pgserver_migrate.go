package harness

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/rand"
)

// MigratePG is the PostgreSQL fixture (StartPostgres) as the migrate tests
// use it: database piyasa_db owned by user piyasa_user with a password, TCP
// on 127.0.0.1:Port with scram-sha-256, and a superuser (postgres, a random
// password) for the tests' own queries.
type MigratePG struct {
	Port     int
	Password string
	// Server is the underlying server (its superuser is postgres).
	Server *Postgres
}

// MigratePGBinDir returns the directory of the PostgreSQL server binaries
// (PostgresBinDir), or an error saying how to install them.
func MigratePGBinDir() (string, error) {
	if bin := PostgresBinDir(); bin != "" {
		return bin, nil
	}
	return "", fmt.Errorf("%s", errNoPostgres)
}

// MigratePGStart starts a fresh server for one test (StartPostgres) and
// stops it when the test ends; password is piyasa_user's. The test fails
// when PostgreSQL is not installed.
func MigratePGStart(t testing.TB, password string) *MigratePG {
	t.Helper()
	srv := StartPostgres(t, "postgres", "superuser-"+rand.String(16), "")
	p := &MigratePG{Port: srv.Port, Password: password, Server: srv}
	p.Superuser(t, fmt.Sprintf("CREATE USER piyasa_user PASSWORD '%s'", strings.ReplaceAll(password, "'", "''")))
	p.Superuser(t, "CREATE DATABASE piyasa_db OWNER piyasa_user")
	return p
}

// Superuser runs SQL as the superuser in database postgres and returns psql's
// unaligned output (fields separated by |).
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
	out, err := p.Server.psql(db, sql, "|") // psql's default separator, as the migrate tests read it
	if err != nil {
		t.Fatalf("psql %q: %v", sql, err)
	}
	return strings.TrimSpace(out)
}

// URL is the ConfigMap-style DATABASE_URL (no password) of the server.
func (p *MigratePG) URL() string {
	return fmt.Sprintf("postgresql://piyasa_user@127.0.0.1:%d/piyasa_db", p.Port)
}
