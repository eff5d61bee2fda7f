package backup

import (
	"bytes"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// FuzzParseInfo: the reader of a backup's metadata (<backup>.json, local,
// in the cluster or on S3: anyone may have written it) never panics, and
// what it accepts it writes back and reads again as the same document.
func FuzzParseInfo(f *testing.F) {
	sum := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	info := &BackupInfo{Name: "piyasa_db-ns-20261201T020000Z.sql.zst", Location: "backups/x", Namespace: "ns", Environment: "dev",
		Format: FormatPgDump, Database: app.DatabaseName, ServerVersion: "16.4", PgDumpVersion: "16.4", Images: Images{API: "a:1", Worker: "w:1"},
		AlembicRevision: "0003", StartTime: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC), EndTime: time.Date(2026, 12, 1, 2, 0, 5, 123, time.FixedZone("x", 3600)),
		Compression: "zstd", RawBytes: 10, RawSHA256: sum, StoredBytes: 5, StoredSHA256: sum,
		Tables: []TableRows{{Name: "public.users", Rows: 3}}, Verification: &Verification{Time: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), RestoreTest: true}}
	raw, err := info.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(bytes.Replace(raw, []byte(`"zstd"`), []byte(`"lz4"`), 1))
	f.Add(bytes.Replace(raw, []byte(`"rawBytes": 10`), []byte(`"rawBytes": -1`), 1))
	f.Add([]byte(`{"apiVersion":"` + app.APIVersion + `","kind":"BackupInfo","compression":"none","rawBytes":1,"storedBytes":1,"startTime":"2026-13-01T00:00:00Z"}`))
	f.Add([]byte(`{"kind":"BackupInfo"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := ParseInfo(raw)
		if err != nil {
			if b != nil {
				t.Fatal("an error and a document")
			}
			return
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatalf("an accepted document does not marshal: %v", err)
		}
		b2, err := ParseInfo(out)
		if err != nil {
			t.Fatalf("written back, it is refused: %v\n%s", err, out)
		}
		out2, err := b2.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("not the same document read again:\n%s\n%s", out, out2)
		}
		_ = b.TableMap()
		_ = b.IsRedis()
	})
}
