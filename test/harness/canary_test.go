package harness

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func scan(t *testing.T, data []byte) string {
	t.Helper()
	form, _, err := scanStream(needlesFor(Canary), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return form
}

// Every encoding of a value holding the canary is found, whatever precedes
// the canary in the encoded blob (the 3 base64 and 5 base32 alignments).
func TestCanaryFoundInEveryEncoding(t *testing.T) {
	encodings := map[string]func([]byte) string{
		"std":     base64.StdEncoding.EncodeToString,
		"url":     base64.URLEncoding.EncodeToString,
		"raw std": base64.RawStdEncoding.EncodeToString,
		"base32":  base32.StdEncoding.EncodeToString,
	}
	for name, enc := range encodings {
		for prefix := 0; prefix < 7; prefix++ {
			blob := append(append(randomBytes(t, prefix), CanaryValue("k")...), randomBytes(t, 5)...)
			text := []byte("data:\n  API_KEY: " + enc(blob) + "\n")
			if form := scan(t, text); form == "" {
				t.Errorf("%s with %d bytes before the canary: not found", name, prefix)
			}
		}
	}
	if form := scan(t, []byte("password="+CanaryValue("db"))); form != "raw" {
		t.Errorf("raw: %q", form)
	}
}

// A needle cut across two writes is still found.
func TestCanaryFoundAcrossWrites(t *testing.T) {
	data := []byte("prefix " + base64.StdEncoding.EncodeToString([]byte("xx"+Canary+"yy")) + " suffix")
	for cut := 1; cut < len(data); cut++ {
		s := newLeakScanner(needlesFor(Canary))
		_, _ = s.Write(data[:cut])
		_, _ = s.Write(data[cut:])
		if s.hit == "" {
			t.Fatalf("cut at %d: not found", cut)
		}
	}
}

// A canary inside a gzip (a bundle) or zstd stream is found.
func TestCanaryFoundInCompressedData(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	tw := tar.NewWriter(zw)
	body := []byte("objects/secrets/piyasa-secrets.yaml\nDATABASE_PASSWORD: " + base64.StdEncoding.EncodeToString([]byte(CanaryValue("db"))) + "\n")
	_ = tw.WriteHeader(&tar.Header{Name: "bundle/secret.yaml", Mode: 0o600, Size: int64(len(body))})
	_, _ = tw.Write(body)
	_ = tw.Close()
	_ = zw.Close()
	if form := scan(t, gz.Bytes()); !strings.Contains(form, "inside the gzip data") {
		t.Errorf("gzip: %q", form)
	}
	var zs bytes.Buffer
	enc, _ := zstd.NewWriter(&zs)
	// letters enough for zstd to Huffman-code its literals: the raw bytes do not show the canary
	letters := randomBytes(t, 64<<10)
	for i := range letters {
		letters[i] = 'a' + letters[i]%4
	}
	_, _ = enc.Write(append(letters, " log line with "+CanaryValue("x")...))
	_ = enc.Close()
	if form := scan(t, zs.Bytes()); !strings.Contains(form, "inside the zstd data") {
		t.Errorf("zstd: %q", form)
	}
}

// Random data, base64 of random data and a .env of init-env hold no canary.
func TestCanaryNoFalseAlarm(t *testing.T) {
	content, err := envfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	for i, data := range [][]byte{randomBytes(t, 1<<20), []byte(base64.StdEncoding.EncodeToString(randomBytes(t, 1<<20))), []byte(content),
		[]byte("piyasa-canary-7f3a9 piyasa-canary"), {0x1f, 0x8b, 0x00}} {
		if form := scan(t, data); form != "" {
			t.Errorf("input %d: found %q", i, form)
		}
	}
}

// CanaryEnv gives every secret value of an init-env .env the canary and
// keeps the file deployable.
func TestCanaryEnv(t *testing.T) {
	content, err := envfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	CanaryEnv(t, p)
	f, err := envfile.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if probs := envfile.Validate(f, envfile.RulesFor(app.Environments["dev"], "")); len(probs) != 0 {
		t.Fatalf("not deployable after CanaryEnv: %v", probs)
	}
	changed := 0
	for _, e := range f.Entries {
		v := e.Value.Reveal()
		has := scan(t, []byte(v)) != ""
		if !has && (v == "" || e.Key == app.KeyDefaultAdminUsername || strings.Contains(v, "your-")) {
			continue
		}
		if !has {
			t.Errorf("%s holds no canary", e.Key)
		}
		changed++
	}
	if changed != 6 {
		t.Errorf("%d values hold the canary, want 6 (API_KEY, the Fernet key, the passwords, the admin key, the MFA secret)", changed)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if data, _ := os.ReadFile(p); !strings.HasPrefix(string(data), "# piyasa chat bot secrets") {
		t.Errorf("comments lost:\n%s", data)
	}
}

// withCanaryLog runs the test on a fresh scan log whose leaks are recorded,
// not failed.
func withCanaryLog(t *testing.T) (*canaryLog, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var reported []string
	l := newCanaryLog()
	l.report = func(_ testing.TB, msg string) { mu.Lock(); reported = append(reported, msg); mu.Unlock() }
	saved := canary
	canary = l
	t.Cleanup(func() { canary = saved })
	return l, &reported
}

// The harness finds a planted leak in a command's output and in the files
// it writes, says which command or file, and fails the package for it.
func TestCanaryCatchesPlantedLeaks(t *testing.T) {
	l, reported := withCanaryLog(t)
	sb := NewSandbox(t)
	dir := t.TempDir()
	secret := CanaryValue("api-key")
	shifted := base64.StdEncoding.EncodeToString([]byte("k:" + Canary + "-x")) // the canary at byte offset 2

	// clean commands: nothing reported
	sb.Command(t, "sh", "-c", "echo ok; echo warn >&2").RunOK()
	sb.Command(t, "sh", "-c", `printf 'name: x\n' > "$1"`, "_", filepath.Join(dir, "clean.json")).RunOK()
	// the .env and a backup are not scanned
	sb.Command(t, "sh", "-c", `printf '%s\n' "$1" > "$2"; printf '%s\n' "$1" > "$3"`, "_", "API_KEY="+secret, filepath.Join(dir, ".env"), filepath.Join(dir, "piyasa_db-x-20260101T000000Z.sql.gz")).RunOK()
	if len(*reported) != 0 {
		t.Fatalf("false alarm: %v", *reported)
	}

	sb.Command(t, "sh", "-c", `echo "$1"`, "_", secret).RunOK()                                              // raw on stdout
	sb.Command(t, "sh", "-c", `echo "$1" >&2`, "_", shifted).Run()                                           // shifted base64 on stderr
	sb.Command(t, "sh", "-c", `printf '%s' "$1" > report.md`, "_", shifted).InDir(dir).RunOK()               // a file in the working directory
	sb.Command(t, "sh", "-c", `mkdir -p "$1/b"; echo "$2" > "$1/b/x.json"`, "_", dir+"/out", secret).RunOK() // a file under a directory argument
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(shifted))
	_ = zw.Close()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// src is the test's input, not the command's output: written before it.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(src, old, old); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "bundle.tar.gz")
	sb.Command(t, "cp", src, bundle).RunOK() // inside a gzip file the command wrote (-f FILE)
	t.Run("started", func(t *testing.T) {
		var out bytes.Buffer
		cmd := sb.Command(t, "sh", "-c", `echo "$1"`, "_", secret).Start(&out, nil)
		_ = cmd.Wait()
	})

	want := []string{
		`echo \"$1\"" _ <value holding the canary>: stdout holds the canary (raw)`,
		`: stderr holds the canary (base64 at byte offset 2)`,
		`report.md holds the canary (base64 at byte offset 2)`,
		`/out/b/x.json holds the canary (raw)`,
		`bundle.tar.gz holds the canary (base64 at byte offset 2 inside the gzip data)`,
		`TestCanaryCatchesPlantedLeaks/started: canary: $ sh -c`,
	}
	all := strings.Join(*reported, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no report %q in:\n%s", w, all)
		}
	}
	if len(*reported) != len(want) {
		t.Errorf("%d reports, want %d:\n%s", len(*reported), len(want), all)
	}
	if strings.Contains(all, secret) || strings.Contains(all, shifted) {
		t.Error("a report shows the secret value")
	}
	line, ok := l.summary()
	if ok || !strings.Contains(line, "6 LEAKS") {
		t.Errorf("summary: %s", line)
	}
	if code := CheckCanary(0); code != 1 {
		t.Errorf("CheckCanary(0) = %d after leaks, want 1", code)
	}
	if l.outputs < 14 || l.files < 4 {
		t.Errorf("scanned %d outputs and %d files", l.outputs, l.files)
	}
}

func TestCheckCanaryCleanPackage(t *testing.T) {
	withCanaryLog(t)
	NewSandbox(t).Command(t, "echo", "ok").RunOK()
	if code := CheckCanary(0); code != 0 {
		t.Errorf("CheckCanary(0) = %d with no leak", code)
	}
	if code := CheckCanary(3); code != 3 {
		t.Errorf("CheckCanary(3) = %d", code)
	}
}
