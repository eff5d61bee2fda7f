package backup_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// TestCompressInPod: pg_dump compresses in the pod (-Z 1, gzip: the local
// PostgreSQL is 15) and the stream is stored as it came (gzip) or
// recompressed (zstd); the BackupInfo's raw sum is the plain dump's, the
// backup verifies by a restore test, and a restore gives back every row.
// zstd in the pod needs pg_dump 16: pg_dump 15's refusal is said, exit 1.
func TestCompressInPod(t *testing.T) {
	e := setup(t)
	source := digest(t, e.pg, app.DatabaseName)
	plain := parseInfo(t, e.bk(t, "create", "--dir", e.dir, "--compress", "none", "-o", "json").RunOK().Stdout)
	for _, stored := range []string{"gzip", "zstd"} {
		r := e.bk(t, "create", "--dir", e.dir, "--compress", stored, "--compress-in-pod", "gzip", "-o", "json").RunOK()
		info := parseInfo(t, r.Stdout)
		if info.Compression != stored || info.RawBytes != plain.RawBytes || len(info.Tables) != len(plain.Tables) {
			t.Errorf("%s: info %+v, want the plain dump's %d bytes", stored, info, plain.RawBytes)
		}
		e.bk(t, "verify", filepath.Join(e.dir, info.Name), "--restore-test").RunOK()
		e.bk(t, "restore", filepath.Join(e.dir, info.Name), "--to-database", "from_pod_"+stored).RunOK()
		sameDigest(t, "from_pod_"+stored, source, digest(t, e.pg, "from_pod_"+stored))
		if stored == "gzip" {
			b, err := os.ReadFile(filepath.Join(e.dir, info.Name))
			if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b || int64(len(b)) != info.StoredBytes {
				t.Errorf("stored gzip: %d bytes %v", len(b), err)
			}
		}
	}
	r := e.bk(t, "create", "--dir", e.dir, "--compress-in-pod", "zstd").ExpectCode(1)
	if !strings.Contains(r.Stderr, "pg_dump failed in the pod") {
		t.Errorf("zstd on pg_dump 15: %s", r.Stderr)
	}
}
