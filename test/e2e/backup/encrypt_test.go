package backup_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

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
	e := e2ebackup.Setup(t)
	e.PG.MustPsql(t, app.DatabaseName, "CREATE TABLE canary_rows (v text); INSERT INTO canary_rows VALUES ('"+harness.CanaryValue("row")+"')")
	source := e2ebackup.Digest(t, e.PG, app.DatabaseName)
	keys := t.TempDir()
	ops, dr, stranger := e2ebackup.NewAgeKey(t, keys, "ops.txt"), e2ebackup.NewAgeKey(t, keys, "dr.txt"), e2ebackup.NewAgeKey(t, keys, "stranger.txt")
	recipients := filepath.Join(keys, "recipients.txt")
	if err := os.WriteFile(recipients, []byte("# on-call\n"+ops.Recipient+"\n\n# disaster recovery\n"+dr.Recipient+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	all := []e2ebackup.AgeKey{ops, dr, stranger}

	r := e.Backup(t, "create", "--dir", e.Dir, "--encrypt-to", ops.Recipient, "-o", "json").RunOK()
	e2ebackup.NoKey(t, r, all...)
	info := e2ebackup.ParseInfo(t, r.Stdout)
	if !strings.HasSuffix(info.Name, ".sql.zst.age") || info.Encryption == nil || info.Encryption.Method != "age" ||
		strings.Join(info.Encryption.Recipients, ",") != ops.Recipient {
		t.Fatalf("BackupInfo: %s", r.Stdout)
	}
	file := filepath.Join(e.Dir, info.Name)
	stored, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")) || int64(len(stored)) != info.StoredBytes {
		t.Errorf("stored file: %d bytes, want an age file of %d", len(stored), info.StoredBytes)
	}
	if got := e2ebackup.Files(t, e.Dir); len(got) != 2 {
		t.Errorf("files in the target: %v, want the backup and its BackupInfo", got)
	}

	r = e.Backup(t, "create", "--to", "s3://backups/enc", "--recipients-file", recipients, "-o", "json").WithEnv(s3.Env()...).RunOK()
	e2ebackup.NoKey(t, r, all...)
	s3info := e2ebackup.ParseInfo(t, r.Stdout)
	if strings.Join(s3info.Encryption.Recipients, ",") != ops.Recipient+","+dr.Recipient {
		t.Fatalf("recipients of the S3 backup: %v", s3info.Encryption.Recipients)
	}

	// The right identities: the restore test loads the plaintext into a scratch database.
	r = e.Backup(t, "verify", file, "--restore-test", "--identity", ops.File).RunOK()
	e2ebackup.NoKey(t, r, all...)
	if !strings.Contains(r.Stdout, "restore test") {
		t.Errorf("verify: %s", r.Stdout)
	}
	r = e.Backup(t, "verify", "s3://backups/enc/"+s3info.Name, "--restore-test", "--identity", stranger.File, "--identity", dr.File).WithEnv(s3.Env()...).RunOK()
	e2ebackup.NoKey(t, r, all...)
	if s := scratchDatabases(t, e.PG); s != "" {
		t.Errorf("scratch databases left: %s", s)
	}
	r = e.Backup(t, "restore", file, "--to-database", "enc_copy", "--identity", ops.File).RunOK()
	e2ebackup.NoKey(t, r, all...)
	e2ebackup.SameDigest(t, "enc_copy", source, e2ebackup.Digest(t, e.PG, "enc_copy"))

	// A wrong identity, and none.
	r = e.Backup(t, "verify", file, "--identity", stranger.File).ExpectCode(1)
	e2ebackup.NoKey(t, r, all...)
	if !strings.Contains(r.Stderr, "cannot decrypt "+file+" (encrypted to "+ops.Recipient+"): no identity in "+stranger.File+" is one of its recipients") {
		t.Errorf("wrong identity: %s", r.Stderr)
	}
	r = e.Backup(t, "verify", file).ExpectCode(2)
	if !strings.Contains(r.Stderr, "give --identity FILE") {
		t.Errorf("no identity: %s", r.Stderr)
	}
	r = e.Backup(t, "restore", file, "--yes", "--identity", dr.File).ExpectCode(2)
	e2ebackup.NoKey(t, r, all...)
	if !strings.Contains(r.Stderr, "nothing was changed") {
		t.Errorf("restore with a wrong identity: %s", r.Stderr)
	}
	if api, worker := e2ebackup.Replicas(t, e.NS); api != 1 || worker != 2 {
		t.Errorf("the app was touched: api=%d worker=%d", api, worker)
	}
	// The identity file is not a recipients file, and a key is never echoed.
	r = e.Backup(t, "create", "--dir", e.Dir, "--recipients-file", ops.File).ExpectCode(2)
	e2ebackup.NoKey(t, r, all...)
	if !strings.Contains(r.Stderr, ops.File+" line 3: a secret key") {
		t.Errorf("identity as recipients: %s", r.Stderr)
	}
}
