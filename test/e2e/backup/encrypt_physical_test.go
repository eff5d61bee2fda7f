package backup_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestEncryptedPhysical: create --physical --encrypt-to through the real
// pg_basebackup stores only an age file (*.tar.zst.age) with its
// BackupInfo (the stored sums of the ciphertext); verify --restore-test
// with the identity starts a local PostgreSQL on the decrypted tar; without
// one it is refused (exit 2), with a wrong one it fails (exit 1).
func TestEncryptedPhysical(t *testing.T) {
	e := setupPG(t, []harness.PostgresOption{harness.WithWALArchive(1)}, nil)
	keys := t.TempDir()
	ops, stranger := newAgeKey(t, keys, "ops.txt"), newAgeKey(t, keys, "stranger.txt")
	dir := filepath.Join(e.dir, "base")
	r := e.bk(t, "create", "--physical", "--dir", dir, "--encrypt-to", ops.recipient, "-o", "json").RunOK()
	noKey(t, r, ops, stranger)
	info := parseInfo(t, r.Stdout)
	if info.Format != backup.FormatBaseBackup || info.WAL == nil || !strings.HasSuffix(info.Name, ".tar.zst.age") ||
		info.Encryption == nil || strings.Join(info.Encryption.Recipients, ",") != ops.recipient {
		t.Fatalf("BackupInfo: %s", r.Stdout)
	}
	stored, err := os.ReadFile(info.Location)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stored)
	if !bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")) || int64(len(stored)) != info.StoredBytes || hex.EncodeToString(sum[:]) != info.StoredSHA256 {
		t.Errorf("stored file: %d bytes, want an age file of %d with the stored sha256", len(stored), info.StoredBytes)
	}
	r = e.bk(t, "verify", info.Location, "--restore-test", "--identity", ops.file).RunOK()
	noKey(t, r, ops, stranger)
	if !strings.Contains(r.Stdout, "restore test") {
		t.Errorf("verify --restore-test: %s", r.Stdout)
	}
	r = e.bk(t, "verify", info.Location).ExpectCode(2)
	if !strings.Contains(r.Stderr, "give --identity FILE") {
		t.Errorf("no identity: %s", r.Stderr)
	}
	r = e.bk(t, "verify", info.Location, "--identity", stranger.file).ExpectCode(1)
	noKey(t, r, ops, stranger)
	if !strings.Contains(r.Stderr, "no identity in "+stranger.file+" is one of its recipients") {
		t.Errorf("wrong identity: %s", r.Stderr)
	}
	e.bk(t, "restore", info.Location, "--yes", "--identity", ops.file).ExpectCode(2)
}

// encryptBase re-stores a base backup written by baseBackup as
// create --physical --encrypt-to does: the age file under .age, its
// BackupInfo with the stored sums of the ciphertext and the recipient.
func encryptBase(t *testing.T, e *env, info *backup.BackupInfo, k ageKey) {
	t.Helper()
	plain := filepath.Join(e.dir, info.Name)
	data, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := age.ParseX25519Recipient(k.recipient)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rc)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	sum := sha256.Sum256(buf.Bytes())
	info.Name += backup.EncryptedSuffix
	info.StoredBytes, info.StoredSHA256 = int64(buf.Len()), hex.EncodeToString(sum[:])
	info.Encryption = &backup.Encryption{Method: backup.AgeMethod, Recipients: []string{k.recipient}}
	doc, err := info.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{plain, plain + backup.MetadataSuffix} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(e.dir, info.Name), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, info.Name+backup.MetadataSuffix), doc, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPITREncryptedBase: restore --to-latest from an age-encrypted base
// backup is refused before anything stops without --identity or with one
// that does not fit (exit 2, the app untouched), and with the identity it
// restores every archived row.
func TestPITREncryptedBase(t *testing.T) {
	e := setupPITR(t)
	keys := t.TempDir()
	ops, stranger := newAgeKey(t, keys, "ops.txt"), newAgeKey(t, keys, "stranger.txt")
	info := baseBackup(t, e)
	encryptBase(t, e, info, ops)
	e.pg.MustPsql(t, app.DatabaseName, "INSERT INTO ticks DEFAULT VALUES")
	switchAndArchive(t, e.pg)
	want := idsText(t, e.pg, "")

	r := e.bk(t, "restore", "--to-latest", "--from", e.dir, "--yes").ExpectCode(2)
	if !strings.Contains(r.Stderr, "give --identity FILE") || !strings.Contains(r.Stderr, "nothing was changed") {
		t.Errorf("no identity: %s", r.Stderr)
	}
	r = e.bk(t, "restore", "--to-latest", "--from", e.dir, "--yes", "--identity", stranger.file).ExpectCode(2)
	noKey(t, r, ops, stranger)
	if !strings.Contains(r.Stderr, "no identity in "+stranger.file+" is one of its recipients") {
		t.Errorf("wrong identity: %s", r.Stderr)
	}
	if api, worker := replicas(t, e.ns); api != 1 || worker != 2 {
		t.Fatalf("the app was touched by a refused restore: api=%d worker=%d", api, worker)
	}
	r = e.bk(t, "restore", "--to-latest", "--from", e.dir, "--yes", "--identity", ops.file).Run()
	if r.Code != 0 {
		t.Fatalf("restore exit %d:\n%s\n%s\nserver log:\n%s", r.Code, r.Stdout, r.Stderr, tail(e.pg.ServerLog(), 30))
	}
	noKey(t, r, ops, stranger)
	if got := idsText(t, e.pg, ""); got != want {
		t.Errorf("rows after the restore: %s, want %s", got, want)
	}
	waitApp(t, e.ns, 1, 2)
}
