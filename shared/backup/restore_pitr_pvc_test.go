package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// TestPITRWithoutFrom: without --from the restore takes its base backups
// from the backup volume: no usage error, no --from in its record, and the
// restore Job mounts the backup PVC read-only where the lay-down script
// reads it; with --from the Job does not mount it.
func TestPITRWithoutFrom(t *testing.T) {
	for _, from := range []string{"", "/tmp/bk"} {
		tg := clitest.New(devNS)
		o := NewRestoreOptions(tg.Global)
		o.pitr.ToTime, o.pitr.From = "2026-12-06 17:00:05", from
		if err := o.Global.Complete(); err != nil {
			t.Fatal(err)
		}
		if err := o.validatePITR(); err != nil {
			t.Fatalf("--from %q: %v", from, err)
		}
		if got := o.pitrRecord(); (from == "") != !strings.Contains(got, "--from") {
			t.Errorf("--from %q: record %q", from, got)
		}
		spec := o.restoreJob("j").Spec.Template.Spec
		mounted := false
		for _, m := range spec.Containers[0].VolumeMounts {
			mounted = mounted || (m.MountPath == browseRoot && m.ReadOnly)
		}
		claim := ""
		for _, v := range spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ReadOnly {
				claim = v.PersistentVolumeClaim.ClaimName
			}
		}
		if want := from == ""; mounted != want || (want && claim != "dev-"+app.BackupPVC) {
			t.Errorf("--from %q: backup volume mounted %v (claim %q), want %v", from, mounted, claim, want)
		}
	}
}

// TestLayPVCScript runs the in-pod lay-down with sh: a base backup on the
// volume matching its BackupInfo is extracted into PGDATA and the status
// line carries the tar's byte count and sha256; a file that does not match
// its BackupInfo is refused before anything is extracted.
func TestLayPVCScript(t *testing.T) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for name, body := range map[string]string{"backup_label": "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n", "PG_VERSION": "16\n"} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body))})
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(raw.Bytes())
	_ = zw.Close()
	root, pgdata := t.TempDir(), t.TempDir()
	name := "base/piyasa_db-ns-20261206T033000Z.tar.gz"
	if err := os.MkdirAll(filepath.Join(root, "base"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, name), gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	hexSum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	owner := strconv.Itoa(os.Getuid()) + ":" + strconv.Itoa(os.Getgid())
	run := func(size int, sum string) (string, error) {
		cmd := exec.Command("sh", "-c", pitrLayPVCScript, "piyasa-pitr", name, strconv.Itoa(size), sum, owner, "gzip")
		cmd.Env = append(os.Environ(), "BACKUP_DIR="+root, "PGDATA="+pgdata, "TMPDIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(gz.Len(), strings.Repeat("0", 64))
	if err == nil || !strings.Contains(out, "its BackupInfo says") {
		t.Fatalf("a mismatching file: %v %s", err, out)
	}
	if des, _ := os.ReadDir(pgdata); len(des) != 0 {
		t.Fatalf("a refused file was extracted: %v", des)
	}
	out, err = run(gz.Len(), hexSum(gz.Bytes()))
	want := pitrStatusMarker + " rc=0 bytes=" + strconv.Itoa(raw.Len()) + " sha256=" + hexSum(raw.Bytes())
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("lay-down: %v\n%s\nwant %s", err, out, want)
	}
	if b, err := os.ReadFile(filepath.Join(pgdata, "PG_VERSION")); err != nil || string(b) != "16\n" {
		t.Errorf("PG_VERSION %q %v", b, err)
	}
}
