package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const sampleDump = `--
-- PostgreSQL database dump
--

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

COPY public.alembic_version (version_num) FROM stdin;
abc123
\.

COPY public."Weird (Name)" (id, "a b") FROM stdin;
1	x
2	y\nz
\.

COPY public.empty (id) FROM stdin;
\.

--
-- PostgreSQL database dump complete
--

\unrestrict abc

`

// feed writes s in chunks of n bytes (lines split across writes).
func feed(s string, n int) *DumpScanner {
	sc := NewDumpScanner()
	for len(s) > 0 {
		k := min(n, len(s))
		sc.Write([]byte(s[:k]))
		s = s[k:]
	}
	return sc
}

func TestDumpScannerCountsRowsAcrossChunks(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64, 1 << 20} {
		sc := feed(sampleDump, n)
		if p := sc.Problem(); p != "" {
			t.Fatalf("chunk %d: %s", n, p)
		}
		want := map[string]int64{"public.alembic_version": 1, `public."Weird (Name)"`: 2, "public.empty": 0}
		if len(sc.Tables) != len(want) {
			t.Fatalf("chunk %d: tables %v", n, sc.Tables)
		}
		for k, v := range want {
			if sc.Tables[k] != v {
				t.Errorf("chunk %d: %s = %d, want %d", n, k, sc.Tables[k], v)
			}
		}
		if sc.AlembicRevision() != "abc123" || !strings.HasPrefix(sc.ServerVersion, "15.18") || !strings.HasPrefix(sc.PgDumpVersion, "15.18") {
			t.Errorf("chunk %d: alembic %q server %q pg_dump %q", n, sc.AlembicRevision(), sc.ServerVersion, sc.PgDumpVersion)
		}
	}
}

func TestDumpScannerFindsTruncation(t *testing.T) {
	i := strings.Index(sampleDump, "2\ty")
	if p := feed(sampleDump[:i], 5).Problem(); !strings.Contains(p, "inside the data of table") {
		t.Errorf("cut in a COPY block: %q", p)
	}
	j := strings.Index(sampleDump, "-- PostgreSQL database dump complete")
	if p := feed(sampleDump[:j], 5).Problem(); !strings.Contains(p, "completion trailer") {
		t.Errorf("cut before the trailer: %q", p)
	}
	if p := feed("", 5).Problem(); p == "" {
		t.Error("empty dump accepted")
	}
}

func TestStderrCollectorAndCheckDump(t *testing.T) {
	raw := NewCounter()
	raw.Write([]byte(sampleDump))
	sum := sha256.Sum256([]byte(sampleDump))
	h := hex.EncodeToString(sum[:])
	c := &StderrCollector{}
	c.Write([]byte("pg_dump: warning: x\nPIYASA-DUMP-STATUS rc=0 tee=0 by"))
	c.Write([]byte("tes=" + strconv.Itoa(len(sampleDump)) + " sha256=" + h + "\n"))
	st, ok := c.Status()
	if !ok || st.RC != 0 || st.Bytes != int64(len(sampleDump)) || st.SHA256 != h {
		t.Fatalf("status %+v %v", st, ok)
	}
	if c.Last() != "pg_dump: warning: x" {
		t.Errorf("last %q", c.Last())
	}
	sc := feed(sampleDump, 100)
	if err := CheckDump(st, true, raw, sc, ""); err != nil {
		t.Fatal(err)
	}
	bad := st
	bad.RC = 1
	if err := CheckDump(bad, true, raw, sc, "pg_dump: error: connection failed"); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("rc=1: %v", err)
	}
	bad = st
	bad.Bytes++
	if err := CheckDump(bad, true, raw, sc, ""); err == nil || !strings.Contains(err.Error(), "lost data") {
		t.Errorf("bytes: %v", err)
	}
	bad = st
	bad.SHA256 = strings.Repeat("0", 64)
	if err := CheckDump(bad, true, raw, sc, ""); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("sha: %v", err)
	}
	if err := CheckDump(st, false, raw, sc, ""); err == nil {
		t.Error("missing status accepted")
	}
}

func TestCompressionRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte(sampleDump), 2000)
	for _, c := range []Compression{Zstd, Gzip, None} {
		var buf bytes.Buffer
		w, err := c.NewCompressor(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := c.NewDecompressor(&buf)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: round trip failed: %v", c, err)
		}
		if CompressionForName("x"+c.Ext()) != c {
			t.Errorf("%s: extension %s not recognised", c, c.Ext())
		}
	}
}

func TestFileSinkLeavesNothingOnAbort(t *testing.T) {
	dir := t.TempDir()
	d := DirTarget{Dir: dir}
	s, _ := d.Create(context.Background(), "a.sql.zst")
	s.Write([]byte("partial"))
	s.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("abort left %v", ents)
	}
	s, _ = d.Create(context.Background(), "b.sql.zst")
	s.Write([]byte("whole"))
	if err := s.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "b.sql.zst")); string(b) != "whole" {
		t.Fatalf("commit wrote %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("commit left %v", ents)
	}
}

func TestParseRefs(t *testing.T) {
	l, err := ParseBackupRef("s3://bkt/a/b/x.sql.gz", &S3Flags{})
	if err != nil || l.Name != "x.sql.gz" || l.Target.Location(l.Name) != "s3://bkt/a/b/x.sql.gz" {
		t.Fatalf("%+v %v", l, err)
	}
	if _, err := ParseBackupRef("s3://bkt/", &S3Flags{}); err == nil {
		t.Error("s3://bkt/ accepted as a backup")
	}
	tg, err := ParseTargetRef("s3://bkt/pre/", &S3Flags{})
	if err != nil || tg.Location("n.sql") != "s3://bkt/pre/n.sql" {
		t.Fatalf("%v %v", tg, err)
	}
}
