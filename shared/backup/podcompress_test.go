package backup

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// gzipPodExec plays a pg_dump that compresses in the pod: with -Z 1 among
// its arguments it writes the dump gzipped (or garbage when bad is set), and
// the wrapper's status describes what it wrote.
type gzipPodExec struct {
	bad  bool
	sent []byte
}

func (g *gzipPodExec) Exec(_ context.Context, _ *corev1.Pod, _ string, cmd []string, _ io.Reader, stdout, stderr io.Writer) error {
	out := []byte(sampleDump)
	if strings.Join(cmd[len(cmd)-2:], " ") == "-Z 1" {
		var buf bytes.Buffer
		z, _ := gzip.NewWriterLevel(&buf, 1)
		z.Write(out)
		z.Close()
		out = buf.Bytes()
		if g.bad {
			out = append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, bytes.Repeat([]byte("not deflate"), 40)...)
		}
	}
	g.sent = out
	stdout.Write(out)
	io.WriteString(stderr, StatusMarker+" rc=0 tee=0 bytes="+strconv.Itoa(len(out))+" sha256="+sha(out)+"\n")
	return nil
}

// TestCompressInPod: pg_dump's gzip is stored as it came when the backup is
// gzip, recompressed otherwise; either way the BackupInfo's raw sum is the
// plain dump's, the rows are counted and the backup verifies. A stream that
// arrives whole but does not expand is rejected, nothing written.
func TestCompressInPod(t *testing.T) {
	for _, c := range []struct {
		stored  string
		encrypt bool
	}{{"gzip", false}, {"zstd", false}, {"none", false}, {"gzip", true}} {
		t.Run(c.stored+map[bool]string{true: "+age"}[c.encrypt], func(t *testing.T) {
			dir := t.TempDir()
			ex := &gzipPodExec{}
			o, _ := newCreate(t, ex, "--dir", dir, "--compress", c.stored, "--compress-in-pod", "gzip")
			o.CompressInPod = "gzip"
			key := newTestKey(t)
			if c.encrypt {
				o.Encrypt.To = []string{key.recipient}
			}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			info, err := o.take(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if info.RawSHA256 != sha([]byte(sampleDump)) || info.RawBytes != int64(len(sampleDump)) || info.TableMap()["public.alembic_version"] != 1 {
				t.Errorf("info %+v", info)
			}
			stored, _ := os.ReadFile(filepath.Join(dir, info.Name))
			if c.stored == "gzip" && !c.encrypt && !bytes.Equal(stored, ex.sent) {
				t.Error("pg_dump's gzip was not stored as it came")
			}
			ids := &Identities{ids: nil}
			if c.encrypt {
				ids, _ = (&IdentityFlags{Files: []string{key.file}}).Load()
			}
			if res, err := checkStored(context.Background(), Location{Target: DirTarget{Dir: dir}, Name: info.Name}, ids); err != nil || len(res.Problems) != 0 {
				t.Errorf("check: %v %v", err, res)
			}
		})
	}
	dir := t.TempDir()
	o, _ := newCreate(t, &gzipPodExec{bad: true}, "--dir", dir)
	o.CompressInPod = "gzip"
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := o.take(context.Background())
	if exitCode(err) != cli.ExitFailed || !strings.Contains(err.Error(), "the gzip stream pg_dump compressed in the pod does not expand") {
		t.Errorf("bad stream: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
	o, _ = newCreate(t, &gzipPodExec{}, "--dir", dir, "--redis")
	o.CompressInPod, o.Redis = "zstd", true
	if err := o.Validate(); exitCode(err) != cli.ExitUsage {
		t.Errorf("--redis with --compress-in-pod: %v", err)
	}
	if _, err := ParsePodCompression("lz4"); err == nil {
		t.Error("lz4 accepted")
	}
}
