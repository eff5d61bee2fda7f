package backup_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
)

// TestRoundTrip: create -> verify --restore-test -> restore over the live
// database -> every table and row equal to the source, the app scaled back.
func TestRoundTrip(t *testing.T) {
	e := e2ebackup.Setup(t)
	source := e2ebackup.Digest(t, e.PG, app.DatabaseName)

	r := e.Backup(t, "create", "--dir", e.Dir, "-o", "json").RunOK()
	e2ebackup.NoSecret(t, e, r)
	info := e2ebackup.ParseInfo(t, r.Stdout)
	file := filepath.Join(e.Dir, info.Name)
	want := map[string]int64{"public.users": 2000, "public.messages": 40000, "public.settings": 2, `public."Audit Log"`: 300,
		"public.empty_table": 0, "public.alembic_version": 1}
	got := info.TableMap()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("BackupInfo rows of %s = %d, want %d", k, got[k], v)
		}
	}
	if info.AlembicRevision != "3f2a1b9c0d4e" || info.Namespace != e.NS || info.Environment != "dev" || info.Database != app.DatabaseName {
		t.Errorf("BackupInfo: alembic %q namespace %q env %q db %q", info.AlembicRevision, info.Namespace, info.Environment, info.Database)
	}
	if !strings.HasSuffix(info.Images.API, ":1.4.2") || !strings.HasSuffix(info.Images.Worker, ":1.4.2") || info.ServerVersion == "" || info.PgDumpVersion == "" {
		t.Errorf("BackupInfo: images %+v versions %q %q", info.Images, info.ServerVersion, info.PgDumpVersion)
	}
	if info.RawBytes < 3<<20 || info.StoredBytes >= info.RawBytes || info.Compression != "zstd" || !strings.HasSuffix(info.Name, ".sql.zst") {
		t.Errorf("BackupInfo: raw %d stored %d compression %s name %s", info.RawBytes, info.StoredBytes, info.Compression, info.Name)
	}
	if fs := e2ebackup.Files(t, e.Dir); len(fs) != 2 {
		t.Fatalf("backup dir holds %v, want the backup and its .json", fs)
	}

	r = e.Backup(t, "verify", file, "--restore-test").RunOK()
	if !strings.Contains(r.Stdout, "OK") || !strings.Contains(r.Stdout, "restore test") {
		t.Errorf("verify output: %s", r.Stdout)
	}
	if s := scratchDatabases(t, e.PG); s != "" {
		t.Errorf("scratch databases left: %s", s)
	}

	// Change the live database, then restore over it.
	e.PG.MustPsql(t, app.DatabaseName, `DELETE FROM messages WHERE id % 3 = 0; UPDATE users SET name = 'changed' WHERE id < 100;
		INSERT INTO settings VALUES ('new', '{}'); DROP TABLE empty_table`)
	r = e.Backup(t, "restore", file, "--yes").RunOK()
	e2ebackup.NoSecret(t, e, r)
	e2ebackup.SameDigest(t, "after restore", source, e2ebackup.Digest(t, e.PG, app.DatabaseName))
	e2ebackup.WaitApp(t, e.NS, 1, 2)
	// Sequences continue: the app's next INSERTs work.
	e.PG.MustPsql(t, app.DatabaseName, `INSERT INTO users (name) VALUES ('after'); INSERT INTO messages (user_id, body, created) VALUES (1, 'x', now());
		INSERT INTO "Audit Log" (entry) VALUES ('after')`)

	// The safety backup sits beside the backup, and list shows both.
	r = e.Backup(t, "list", "--dir", e.Dir, "-o", "json").RunOK()
	var list backup.BackupList
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("list: %d items, want 2 (backup and safety backup):\n%s", len(list.Items), r.Stdout)
	}
	var safety string
	for _, it := range list.Items {
		if it.Status != "ok" || it.Info == nil {
			t.Errorf("list item %s: status %s", it.Name, it.Status)
		}
		if it.Name == info.Name && (it.Info.Verification == nil || !it.Info.Verification.RestoreTest) {
			t.Errorf("list: %s not marked restore-tested", it.Name)
		}
		if strings.Contains(it.Name, "pre-restore") {
			safety = it.Location
		}
	}
	if safety == "" {
		t.Fatalf("no safety backup in the list:\n%s", r.Stdout)
	}
	// Retention: the safety copy is of kind pre-restore, so the backup just
	// restored from stays the newest of its kind (never "expired" by it).
	r = e.Backup(t, "prune", "--dir", e.Dir, "--keep-daily", "1", "--keep-weekly", "0", "--keep-monthly", "0", "--dry-run=client", "-o", "json").RunOK()
	if got := decisions(parsePrune(t, r.Stdout)); got[info.Name] != "KEEP newest manual" || !strings.HasPrefix(got[filepath.Base(safety)], "KEEP newest pre-restore") {
		t.Errorf("prune after the restore: %v", got)
	}
	r = e.Backup(t, "list", "--dir", e.Dir).RunOK()
	if !strings.Contains(r.Stdout, "restore-test") || !strings.Contains(r.Stdout, "VERIFIED") {
		t.Errorf("list table:\n%s", r.Stdout)
	}
	// The safety backup holds the changed database.
	e.Backup(t, "verify", safety).RunOK()
}

// TestRestoreToDatabase restores into a new database and leaves the app alone.
func TestRestoreToDatabase(t *testing.T) {
	e := e2ebackup.Setup(t)
	source := e2ebackup.Digest(t, e.PG, app.DatabaseName)
	file := filepath.Join(e.Dir, "copy.sql.gz")
	e.Backup(t, "create", "-f", file, "--compress", "gzip").RunOK()
	e.PG.MustPsql(t, app.DatabaseName, "DELETE FROM users WHERE id > 1000 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.user_id = users.id)")
	r := e.Backup(t, "restore", file, "--to-database", "piyasa_copy").RunOK()
	if strings.TrimSpace(r.Stdout) != "piyasa_copy" {
		t.Errorf("stdout %q", r.Stdout)
	}
	e2ebackup.SameDigest(t, "piyasa_copy", source, e2ebackup.Digest(t, e.PG, "piyasa_copy"))
	if api, worker := e2ebackup.Replicas(t, e.NS); api != 1 || worker != 2 {
		t.Errorf("app touched: api=%d worker=%d", api, worker)
	}
	// It must be a new database.
	r = e.Backup(t, "restore", file, "--to-database", "piyasa_copy").ExpectCode(2) // bad input: an existing database (R6)
	if !strings.Contains(r.Stderr, "piyasa_copy") {
		t.Errorf("stderr: %s", r.Stderr)
	}
	e.Backup(t, "restore", file, "--to-database", app.DatabaseName).ExpectCode(2)
}
