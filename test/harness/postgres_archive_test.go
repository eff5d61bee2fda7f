package harness

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A server started WithWALArchive archives each finished segment into
// WALArchive with the manifests' archive_command, keeps doing so across a
// Stop and Start, and never leaves a .part file behind.
func TestWithWALArchive(t *testing.T) {
	if PostgresBinDir() == "" {
		t.Skip(errNoPostgres)
	}
	p := StartPostgres(t, "piyasa_user", "pw-archive", "piyasa_db", WithWALArchive(1))
	p.MustPsql(t, "piyasa_db", "CREATE TABLE t(x int); INSERT INTO t VALUES (1)")
	first := strings.TrimSpace(p.MustPsql(t, "piyasa_db", "SELECT pg_walfile_name(pg_switch_wal())"))
	waitArchived(t, p, first)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	p.MustPsql(t, "piyasa_db", "INSERT INTO t VALUES (2)")
	second := strings.TrimSpace(p.MustPsql(t, "piyasa_db", "SELECT pg_walfile_name(pg_switch_wal())"))
	if second <= first {
		t.Fatalf("second segment %s does not follow %s", second, first)
	}
	waitArchived(t, p, second)
	parts, _ := filepath.Glob(filepath.Join(p.WALArchive, "*.part"))
	if len(parts) != 0 {
		t.Fatalf("partial files left in the archive: %v", parts)
	}
	if n := p.MustPsql(t, "piyasa_db", "SELECT failed_count FROM pg_stat_archiver"); n != "0" {
		t.Fatalf("archiver failures: %s", n)
	}
}

var segmentName = regexp.MustCompile(`^[0-9A-F]{24}$`)

func waitArchived(t *testing.T, p *Postgres, seg string) {
	t.Helper()
	if !segmentName.MatchString(seg) {
		t.Fatalf("not a segment name: %q", seg)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(p.WALArchive, seg)); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("segment %s not archived in 30s", seg)
}
