package backup_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// ageKey is an age identity file, written as age-keygen writes it.
type ageKey struct {
	secret, recipient, file string
}

func newAgeKey(t *testing.T, dir, name string) ageKey {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	k := ageKey{secret: id.String(), recipient: id.Recipient().String(), file: filepath.Join(dir, name)}
	body := "# created: 2026-12-06T10:00:00Z\n# public key: " + k.recipient + "\n" + k.secret + "\n"
	if err := os.WriteFile(k.file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// noKey fails when a command printed an identity.
func noKey(t *testing.T, r harness.Result, keys ...ageKey) {
	t.Helper()
	for _, k := range keys {
		if strings.Contains(strings.ToUpper(r.Stdout+r.Stderr), k.secret) {
			t.Fatalf("output shows the identity of %s", k.recipient)
		}
	}
}

// TestEncryptedBackups: create --encrypt-to (a directory) and
// --recipients-file (S3) store only age ciphertext: piyasa_db holds a canary
// row, and the harness scans every file the commands write for it. verify
// --restore-test with a right identity restores the plaintext into a
// scratch database of the real PostgreSQL and compares the row counts;
// restore --to-database gives back every row; a wrong identity is refused
// (verify exit 1; restore exit 2 before the app is stopped), no identity is
// asked for (exit 2), and no identity is ever printed.
func TestEncryptedBackups(t *testing.T) {
	s3 := harness.StartS3(t, "backups")
	e := setup(t)
	e.pg.MustPsql(t, app.DatabaseName, "CREATE TABLE canary_rows (v text); INSERT INTO canary_rows VALUES ('"+harness.CanaryValue("row")+"')")
	source := digest(t, e.pg, app.DatabaseName)
	keys := t.TempDir()
	ops, dr, stranger := newAgeKey(t, keys, "ops.txt"), newAgeKey(t, keys, "dr.txt"), newAgeKey(t, keys, "stranger.txt")
	recipients := filepath.Join(keys, "recipients.txt")
	if err := os.WriteFile(recipients, []byte("# on-call\n"+ops.recipient+"\n\n# disaster recovery\n"+dr.recipient+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	all := []ageKey{ops, dr, stranger}

	r := e.bk(t, "create", "--dir", e.dir, "--encrypt-to", ops.recipient, "-o", "json").RunOK()
	noKey(t, r, all...)
	info := parseInfo(t, r.Stdout)
	if !strings.HasSuffix(info.Name, ".sql.zst.age") || info.Encryption == nil || info.Encryption.Method != "age" ||
		strings.Join(info.Encryption.Recipients, ",") != ops.recipient {
		t.Fatalf("BackupInfo: %s", r.Stdout)
	}
	file := filepath.Join(e.dir, info.Name)
	stored, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")) || int64(len(stored)) != info.StoredBytes {
		t.Errorf("stored file: %d bytes, want an age file of %d", len(stored), info.StoredBytes)
	}
	if got := files(t, e.dir); len(got) != 2 {
		t.Errorf("files in the target: %v, want the backup and its BackupInfo", got)
	}

	r = e.bk(t, "create", "--to", "s3://backups/enc", "--recipients-file", recipients, "-o", "json").WithEnv(s3.Env()...).RunOK()
	noKey(t, r, all...)
	s3info := parseInfo(t, r.Stdout)
	if strings.Join(s3info.Encryption.Recipients, ",") != ops.recipient+","+dr.recipient {
		t.Fatalf("recipients of the S3 backup: %v", s3info.Encryption.Recipients)
	}

	// The right identities: the restore test loads the plaintext into a scratch database.
	r = e.bk(t, "verify", file, "--restore-test", "--identity", ops.file).RunOK()
	noKey(t, r, all...)
	if !strings.Contains(r.Stdout, "restore test") {
		t.Errorf("verify: %s", r.Stdout)
	}
	r = e.bk(t, "verify", "s3://backups/enc/"+s3info.Name, "--restore-test", "--identity", stranger.file, "--identity", dr.file).WithEnv(s3.Env()...).RunOK()
	noKey(t, r, all...)
	if s := scratchDatabases(t, e.pg); s != "" {
		t.Errorf("scratch databases left: %s", s)
	}
	r = e.bk(t, "restore", file, "--to-database", "enc_copy", "--identity", ops.file).RunOK()
	noKey(t, r, all...)
	sameDigest(t, "enc_copy", source, digest(t, e.pg, "enc_copy"))

	// A wrong identity, and none.
	r = e.bk(t, "verify", file, "--identity", stranger.file).ExpectCode(1)
	noKey(t, r, all...)
	if !strings.Contains(r.Stderr, "cannot decrypt "+file+" (encrypted to "+ops.recipient+"): no identity in "+stranger.file+" is one of its recipients") {
		t.Errorf("wrong identity: %s", r.Stderr)
	}
	r = e.bk(t, "verify", file).ExpectCode(2)
	if !strings.Contains(r.Stderr, "give --identity FILE") {
		t.Errorf("no identity: %s", r.Stderr)
	}
	r = e.bk(t, "restore", file, "--yes", "--identity", dr.file).ExpectCode(2)
	noKey(t, r, all...)
	if !strings.Contains(r.Stderr, "nothing was changed") {
		t.Errorf("restore with a wrong identity: %s", r.Stderr)
	}
	if api, worker := replicas(t, e.ns); api != 1 || worker != 2 {
		t.Errorf("the app was touched: api=%d worker=%d", api, worker)
	}
	// The identity file is not a recipients file, and a key is never echoed.
	r = e.bk(t, "create", "--dir", e.dir, "--recipients-file", ops.file).ExpectCode(2)
	noKey(t, r, all...)
	if !strings.Contains(r.Stderr, ops.file+" line 3: a secret key") {
		t.Errorf("identity as recipients: %s", r.Stderr)
	}
}
