package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

const testLabel = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nCHECKPOINT LOCATION: 0/2000060\n" +
	"BACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-12-06 13:49:16 UTC\nLABEL: piyasa\nSTART TIMELINE: 1\n"

const testLog = "pg_basebackup: initiating base backup, waiting for checkpoint to complete\npg_basebackup: checkpoint completed\n" +
	"pg_basebackup: write-ahead log start point: 0/2000028 on timeline 1\npg_basebackup: write-ahead log end point: 0/2000100\n" +
	"pg_basebackup: base backup completed\n"

// testTar is a small data directory as pg_basebackup -Ft -X fetch writes it.
func testTar(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, name := range []string{"backup_label", "base/1/1259", "pg_wal/000000010000000000000002", "backup_manifest"} {
		body, ok := files[name]
		if !ok {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func goodTarFiles() map[string]string {
	return map[string]string{"backup_label": testLabel, "base/1/1259": strings.Repeat("x", 9000),
		"pg_wal/000000010000000000000002": strings.Repeat("w", 4096), "backup_manifest": "{}"}
}

func compressed(t testing.TB, c Compression, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := c.NewCompressor(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// baseExec plays the postgres pod: pg_basebackup writes stream (its
// messages log and a status line computed from stream unless status is
// set); psql answers the version, table list and count queries.
type baseExec struct {
	stream, log, status string
	cmds                [][]string
}

func (f *baseExec) Exec(_ context.Context, _ *corev1.Pod, _ string, cmd []string, _ io.Reader, stdout, stderr io.Writer) error {
	f.cmds = append(f.cmds, cmd)
	if len(cmd) > 3 && cmd[3] == "piyasa-psql" {
		sql := cmd[len(cmd)-1]
		switch {
		case strings.HasPrefix(sql, "SELECT current_setting('server_version')"):
			io.WriteString(stdout, "16.4\tabc123\n")
		case sql == extraTablesSQL:
			io.WriteString(stdout, "public.alembic_version\npublic.messages\n")
		case strings.Contains(sql, "count(*)"):
			io.WriteString(stdout, "public.alembic_version\t1\npublic.messages\t42\n")
		default:
			return fmt.Errorf("unexpected SQL %q", sql)
		}
		return nil
	}
	io.WriteString(stdout, f.stream)
	io.WriteString(stderr, f.log)
	st := f.status
	if st == "" {
		sum := sha256.Sum256([]byte(f.stream))
		st = fmt.Sprintf("%s rc=0 tee=0 bytes=%d sha256=%s", StatusMarker, len(f.stream), hex.EncodeToString(sum[:]))
	}
	io.WriteString(stderr, st+"\n")
	return nil
}

func newPhysical(t *testing.T, ex Executor, dir string, args ...string) *CreateOptions {
	t.Helper()
	o, _ := newCreate(t, ex, append([]string{"--dir", dir}, args...)...)
	o.Physical = true
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestBaseBackupWritesTarAndInfo(t *testing.T) {
	for _, c := range []Compression{Zstd, Gzip, None} {
		t.Run(string(c), func(t *testing.T) {
			dir := t.TempDir()
			plain := testTar(t, goodTarFiles())
			ex := &baseExec{stream: string(compressed(t, c, plain)), log: testLog}
			o := newPhysical(t, ex, dir, "--compress", string(c))
			if err := o.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			cmd := strings.Join(ex.cmds[0][4:], " ")
			if want := "-D - -Ft -X fetch --checkpoint=fast -v --compress=" + pgCompress(c); !strings.HasPrefix(cmd, want) {
				t.Errorf("pg_basebackup %q, want %q...", cmd, want)
			}
			name := strings.TrimSuffix(DefaultName("piyasa-chatbot-dev", clitest.Fixed, c), c.Ext()) + c.TarExt()
			raw, err := os.ReadFile(filepath.Join(dir, name+MetadataSuffix))
			if err != nil {
				t.Fatal(err)
			}
			info, err := ParseInfo(raw)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(plain)
			want := WALRange{Timeline: 1, StartLSN: "0/2000028", EndLSN: "0/2000100", StartSegment: "000000010000000000000002"}
			if info.Format != FormatBaseBackup || info.WAL == nil || *info.WAL != want || info.RawBytes != int64(len(plain)) ||
				info.RawSHA256 != hex.EncodeToString(sum[:]) || info.StoredBytes != int64(len(ex.stream)) ||
				info.TableMap()["public.messages"] != 42 || info.AlembicRevision != "abc123" || info.ServerVersion != "16.4" {
				t.Errorf("info %+v wal %+v", info, info.WAL)
			}
			res, err := checkStored(context.Background(), Location{Target: DirTarget{Dir: dir}, Name: name}, nil)
			if err != nil || len(res.Problems) != 0 {
				t.Fatalf("check: %v %v", err, res)
			}
		})
	}
}

func TestBaseBackupRejectsAndLeavesNothing(t *testing.T) {
	good := goodTarFiles()
	noLabel := goodTarFiles()
	delete(noLabel, "backup_label")
	noWAL := goodTarFiles()
	delete(noWAL, "pg_wal/000000010000000000000002")
	plain := testTar(t, good)
	stream := string(compressed(t, Zstd, plain))
	cut := string(compressed(t, Zstd, plain[:len(plain)-1536]))
	for name, tc := range map[string]struct {
		ex   *baseExec
		want string
	}{
		"pg_basebackup failed": {&baseExec{stream: stream, log: "pg_basebackup: error: could not connect\n",
			status: StatusMarker + " rc=1 tee=0 bytes=0 sha256=" + strings.Repeat("0", 64)}, "pg_basebackup failed in the pod (exit status 1): pg_basebackup: error: could not connect"},
		"bytes lost":    {&baseExec{stream: stream[:len(stream)/2], log: testLog, status: statusOf(stream)}, "the stream lost data"},
		"no status":     {&baseExec{stream: stream, log: testLog, status: "killed"}, "status line never arrived"},
		"tar cut":       {&baseExec{stream: cut, log: testLog}, "the tar"},
		"no label":      {&baseExec{stream: string(compressed(t, Zstd, testTar(t, noLabel))), log: testLog}, "no backup_label"},
		"no WAL":        {&baseExec{stream: string(compressed(t, Zstd, testTar(t, noWAL))), log: testLog}, "no WAL segment"},
		"not zstd":      {&baseExec{stream: string(plain), log: testLog}, "zstd decompression failed"},
		"no end point":  {&baseExec{stream: stream, log: strings.ReplaceAll(testLog, "end point", "end")}, "did not report its write-ahead log end point"},
		"start differs": {&baseExec{stream: stream, log: strings.ReplaceAll(testLog, "0/2000028", "0/3000028")}, "backup_label says 0/2000028"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			err := newPhysical(t, tc.ex, dir).Run(context.Background())
			var e *cli.Error
			if err == nil || !asError(err, &e) || e.Code != cli.ExitFailed || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want exit 1 with %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left %v", ents)
			}
		})
	}
}

func statusOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%s rc=0 tee=0 bytes=%d sha256=%s", StatusMarker, len(s), hex.EncodeToString(sum[:]))
}

func TestCreatePhysicalValidation(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" = valid
	}{
		{[]string{"--dir", "d", "--redis"}, "exclude each other"},
		{[]string{"--dir", "d", "--kind", KindPreMigration}, "--physical takes --kind manual or scheduled"},
		{[]string{"-f", "b.sql.zst"}, "does not end in .tar.zst, .tar.gz or .tar"},
		{[]string{"-f", "b.tar.gz"}, ""},
		{[]string{"--dir", "d", "--kind", KindScheduled}, ""},
	} {
		cmd := NewCmdCreate(clitest.New("ns").Global)
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		o := NewCreateOptions(clitest.New("ns").Global)
		f := cmd.Flags()
		o.File, _ = f.GetString("file")
		o.Dir, _ = f.GetString("dir")
		o.Redis, _ = f.GetBool("redis")
		o.Kind, _ = f.GetString("kind")
		o.Physical = true
		_ = o.Complete(cmd, nil)
		err := o.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
		if tc.want == "" && tc.args[0] == "-f" && o.compression != Gzip {
			t.Errorf("%v: compression %s from the name, want gzip", tc.args, o.compression)
		}
	}
}

func TestRestoreRefusesBaseBackup(t *testing.T) {
	o := NewRestoreOptions(clitest.New("ns").Global)
	o.Ref = "b/piyasa_db-ns-20261206T134916.123Z.tar.zst"
	err := o.Validate()
	var e *cli.Error
	if err == nil || !asError(err, &e) || e.Code != cli.ExitUsage || !strings.Contains(err.Error(), "is a base backup") {
		t.Fatalf("err %v", err)
	}
}

func TestVerifyBaseRestoreTestWithoutServer(t *testing.T) {
	dir := t.TempDir()
	ex := &baseExec{stream: string(compressed(t, Zstd, testTar(t, goodTarFiles()))), log: testLog}
	o := newPhysical(t, ex, dir)
	info, err := o.take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	old := PostgresRoot
	PostgresRoot = t.TempDir()
	defer func() { PostgresRoot = old }()
	tg := clitest.New("piyasa-chatbot-dev")
	_ = tg.Global.Complete()
	v := NewVerifyOptions(tg.Global)
	v.Ref, v.RestoreTest = info.Location, true
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	err = v.Run(context.Background())
	var e *cli.Error
	if err == nil || !asError(err, &e) || e.Code != cli.ExitUsage || !strings.Contains(err.Error(), "starts a local PostgreSQL 16 and none is installed") {
		t.Fatalf("err %v", err)
	}
	v.RestoreTest = false
	if err := v.Run(context.Background()); err != nil {
		t.Fatalf("verify without --restore-test: %v", err)
	}
	if out := tg.Stdout.String(); !strings.Contains(out, "backup_label") || !strings.Contains(out, "WAL included") {
		t.Errorf("verify said %q", out)
	}
}

// The ustar reader reads what archive/tar writes (and pg_basebackup, in the
// e2e tests), and rejects a bad checksum, a cut archive and a pax header.
func TestTarReader(t *testing.T) {
	good := testTar(t, goodTarFiles())
	var names []string
	tr := newTarReader(bytes.NewReader(good))
	for {
		e, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if int64(len(body)) != e.Size || !e.IsFile() {
			t.Errorf("%s: %d bytes read, size %d", e.Name, len(body), e.Size)
		}
		names = append(names, e.Name)
	}
	if strings.Join(names, " ") != "backup_label base/1/1259 pg_wal/000000010000000000000002 backup_manifest" {
		t.Errorf("names %v", names)
	}
	badSum := append([]byte(nil), good...)
	badSum[0] ^= 1
	var pax bytes.Buffer
	tw := tar.NewWriter(&pax)
	tw.WriteHeader(&tar.Header{Name: "x", Size: 0, Typeflag: tar.TypeReg, PAXRecords: map[string]string{"comment": "c"}, Format: tar.FormatPAX})
	tw.Close()
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"checksum": {badSum, "bad checksum"},
		"cut":      {good[:len(good)-1024-100], io.ErrUnexpectedEOF.Error()},
		"pax":      {pax.Bytes(), "unsupported type"},
	} {
		tr := newTarReader(bytes.NewReader(tc.data))
		var err error
		for err == nil {
			_, err = tr.Next()
		}
		if err == io.EOF || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if n, _ := parseTarNumber([]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1}); n != 513 {
		t.Errorf("base-256 size %d", n)
	}
}

// cancelBaseExec writes half of a base backup's stream, then cancels the
// command's context (Ctrl-C) and fails as a broken exec stream does.
type cancelBaseExec struct {
	cancel context.CancelFunc
	part   string
}

func (f *cancelBaseExec) Exec(_ context.Context, _ *corev1.Pod, _ string, _ []string, _ io.Reader, stdout, _ io.Writer) error {
	io.WriteString(stdout, f.part)
	f.cancel()
	return context.Canceled
}

func TestBaseBackupInterruptedLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := compressed(t, Zstd, testTar(t, goodTarFiles()))
	err := newPhysical(t, &cancelBaseExec{cancel: cancel, part: string(stream[:len(stream)/2])}, dir).Run(ctx)
	var e *cli.Error
	if err == nil || !asError(err, &e) || e.Code != cli.ExitInterrupted || !strings.Contains(err.Error(), "the database was not changed") {
		t.Fatalf("err %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}
