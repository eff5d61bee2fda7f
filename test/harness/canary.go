package harness

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
)

// Canary is in every secret value of the e2e fixtures: each .env a test
// deploys (InitEnv, CanaryEnv) and each Secret or database password a test
// makes (CanaryValue). The harness scans everything the commands print and
// write for it, raw and encoded (see CheckCanary): no command may ever show
// a secret value, so any occurrence is a leak. It is made of letters, digits
// and '-' only, so that URL, JSON and shell quoting leave it as it is.
const Canary = "piyasa-canary-7f3a9c"

// CanaryValue returns a fresh random secret value holding Canary:
// "<tag>-piyasa-canary-7f3a9c-<16 random letters and digits>".
func CanaryValue(tag string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	v := Canary + "-" + string(b)
	if tag != "" {
		v = tag + "-" + v
	}
	return v
}

// CanaryFernetKey returns a valid Fernet key (URL-safe base64 of 32 bytes)
// whose bytes begin with Canary: the key itself shows the canary's base64.
func CanaryFernetKey() string {
	b := make([]byte, 32)
	copy(b, Canary)
	if _, err := rand.Read(b[len(Canary):]); err != nil {
		panic(err)
	}
	return base64.URLEncoding.EncodeToString(b)
}

// CanaryBase32Secret returns a valid TOTP secret (base32, 40 characters)
// whose bytes begin with Canary.
func CanaryBase32Secret() string {
	b := make([]byte, 25)
	copy(b, Canary)
	if _, err := rand.Read(b[len(Canary):]); err != nil {
		panic(err)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// canaryFor returns the canary value of one .env key, in the format the key
// needs ("" for the keys that are no secret: the admin's user name).
func canaryFor(key string) string {
	switch key {
	case app.KeyDefaultAdminUsername:
		return ""
	case app.KeyTokenEncryptionKey:
		return CanaryFernetKey()
	case app.KeyDefaultAdminMFASecret:
		return CanaryBase32Secret()
	}
	return CanaryValue(strings.ToLower(strings.ReplaceAll(key, "_", "-")))
}

// CanaryEnv rewrites the .env at path so that every secret value holds
// Canary in the format its key needs (a Fernet key, a base32 MFA secret);
// the admin's user name, empty values and the guide's placeholders (the
// LLM keys of init-env) are kept. Comments and order are kept.
func CanaryEnv(t testing.TB, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := envfile.Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for _, e := range f.Entries {
		v := e.Value.Reveal()
		if v == "" || strings.Contains(v, "your-") || isPlaceholder(v) {
			continue
		}
		nv := canaryFor(e.Key)
		if nv == "" {
			continue
		}
		lines[e.Line-1] = e.Key + "=" + nv
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func isPlaceholder(v string) bool {
	for _, p := range app.PlaceholderValues {
		if v == p {
			return true
		}
	}
	return false
}

// InitEnv writes a new .env at path with `kubectl piyasa deploy init-env -f
// path`, as a user makes one, then gives its secret values the canary
// (CanaryEnv). It returns path.
func InitEnv(t testing.TB, path string) string {
	t.Helper()
	Piyasa(t, "deploy", "init-env", "-f", path).RunOK()
	CanaryEnv(t, path)
	return path
}

// needle is one encoded form of the canary.
type needle struct {
	b    []byte
	form string
}

// needlesFor returns the forms of s that the scan looks for: s itself, its
// base64 (standard and URL alphabets) and base32 at every alignment inside
// a longer encoded value. Only the characters that s alone decides are
// kept: a value encoded as part of a longer blob (a Secret's data, a Fernet
// key) shows them whatever surrounds it.
func needlesFor(s string) []needle {
	out := []needle{{[]byte(s), "raw"}}
	seen := map[string]bool{s: true}
	add := func(b []byte, form string) {
		if len(b) >= 8 && !seen[string(b)] {
			seen[string(b)] = true
			out = append(out, needle{b, form})
		}
	}
	n := len(s)
	for _, enc := range []struct {
		name string
		e    *base64.Encoding
	}{{"base64", base64.RawStdEncoding}, {"base64url", base64.RawURLEncoding}} {
		for shift := 0; shift < 3; shift++ {
			full := enc.e.EncodeToString(append(make([]byte, shift), s...))
			lo, hi := (8*shift+5)/6, (8*(shift+n))/6 // characters whose 6 bits all lie in s
			add([]byte(full[lo:hi]), fmt.Sprintf("%s at byte offset %d", enc.name, shift))
		}
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	for shift := 0; shift < 5; shift++ {
		full := b32.EncodeToString(append(make([]byte, shift), s...))
		lo, hi := (8*shift+4)/5, (8*(shift+n))/5
		add([]byte(full[lo:hi]), fmt.Sprintf("base32 at byte offset %d", shift))
	}
	return out
}

// leakScanner looks for needles in a stream written to it in any pieces.
type leakScanner struct {
	needles []needle
	max     int
	tail    []byte
	hit     string
	bytes   int64
}

func newLeakScanner(needles []needle) *leakScanner {
	m := 0
	for _, n := range needles {
		m = max(m, len(n.b))
	}
	return &leakScanner{needles: needles, max: m}
}

func (s *leakScanner) Write(p []byte) (int, error) {
	s.bytes += int64(len(p))
	if s.hit != "" {
		return len(p), nil
	}
	buf := append(s.tail, p...)
	for _, n := range s.needles {
		if bytes.Contains(buf, n.b) {
			s.hit = n.form
			break
		}
	}
	if k := s.max - 1; len(buf) > k {
		buf = buf[len(buf)-k:]
	}
	s.tail = append(s.tail[:0], buf...)
	return len(p), nil
}

// maxExpanded bounds what a compressed output or file is expanded to.
const maxExpanded = 256 << 20

// maxScanFile bounds the files scanned: bigger ones are binaries or dumps.
const maxScanFile = 64 << 20

// scanStream scans r, and when it is gzip or zstd, also what it expands to.
// It returns the form found ("" for none) and the bytes read.
func scanStream(needles []needle, r io.Reader) (string, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	var compressed string
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		compressed = "gzip"
	case bytes.Equal(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		compressed = "zstd"
	}
	raw := newLeakScanner(needles)
	if compressed == "" {
		_, err := io.Copy(raw, br)
		return raw.hit, raw.bytes, err
	}
	// Both passes at once: the raw bytes to raw, and through the decompressor to plain.
	pr, pw := io.Pipe()
	plain := newLeakScanner(needles)
	done := make(chan struct{}, 1)
	go func() {
		var dr io.Reader
		var err error
		if compressed == "gzip" {
			var z *gzip.Reader
			if z, err = gzip.NewReader(pr); err == nil {
				defer z.Close()
				dr = z
			}
		} else {
			var z *zstd.Decoder
			if z, err = zstd.NewReader(pr, zstd.WithDecoderConcurrency(1)); err == nil {
				defer z.Close()
				dr = z
			}
		}
		if err == nil {
			_, _ = io.Copy(plain, io.LimitReader(dr, maxExpanded))
		}
		_, _ = io.Copy(io.Discard, pr) // let the raw pass finish
		done <- struct{}{}
	}()
	_, err := io.Copy(io.MultiWriter(raw, pw), br)
	pw.CloseWithError(err)
	<-done // a decoding error (not really compressed, cut short): the raw pass still counts
	switch {
	case raw.hit != "":
		return raw.hit, raw.bytes, err
	case plain.hit != "":
		return plain.hit + " inside the " + compressed + " data", raw.bytes, err
	}
	return "", raw.bytes, err
}

// canaryLog counts the scans of a package and keeps the leaks found.
type canaryLog struct {
	mu      sync.Mutex
	needles []needle
	outputs int
	files   int
	bytes   int64
	leaks   []string
	// report tells the test that leaked (t.Errorf by default).
	report func(t testing.TB, msg string)
}

func newCanaryLog() *canaryLog {
	return &canaryLog{needles: needlesFor(Canary), report: func(t testing.TB, msg string) { t.Errorf("%s", msg) }}
}

// canary is the scan log of this test process.
var canary = newCanaryLog()

// wordRE is a word of a command line or path, as maskCanary masks them.
var wordRE = regexp.MustCompile(`[^\s"'=:]+`)

// maskCanary hides every word holding the canary, raw or encoded, so that a
// report never shows a secret value itself.
func (l *canaryLog) maskCanary(s string) string {
	return wordRE.ReplaceAllStringFunc(s, func(w string) string {
		for _, n := range l.needles {
			if strings.Contains(w, string(n.b)) {
				return "<value holding the canary>"
			}
		}
		return w
	})
}

func (l *canaryLog) leak(t testing.TB, what, form string) {
	msg := fmt.Sprintf("canary: %s holds the canary (%s): a secret value leaked", l.maskCanary(what), form)
	if t != nil {
		msg = t.Name() + ": " + msg
	}
	l.mu.Lock()
	l.leaks = append(l.leaks, msg)
	l.mu.Unlock()
	if t != nil {
		l.report(t, msg)
	}
}

// output scans what a command printed (what names it: the command line and the stream).
func (l *canaryLog) output(t testing.TB, what string, data []byte) {
	form, n, _ := scanStream(l.needles, bytes.NewReader(data))
	l.mu.Lock()
	l.outputs++
	l.bytes += n
	l.mu.Unlock()
	if form != "" {
		l.leak(t, what, form)
	}
}

// file scans one file a command wrote.
func (l *canaryLog) file(t testing.TB, what, path string) {
	f, err := os.Open(path)
	if err != nil {
		return // gone already
	}
	defer f.Close()
	form, n, _ := scanStream(l.needles, f)
	l.mu.Lock()
	l.files++
	l.bytes += n
	l.mu.Unlock()
	if form != "" {
		l.leak(t, what, form)
	}
}

// skipFile tells the files the scan leaves out: the .env files (the
// secrets' source), the backups themselves (a database dump or base backup
// holds what the database holds), binaries and anything too big to be a report.
func skipFile(path string, info fs.FileInfo) bool {
	name := filepath.Base(path)
	switch {
	case !info.Mode().IsRegular(), info.Size() > maxScanFile, info.Mode().Perm()&0o111 != 0:
		return true
	case name == ".env", strings.HasSuffix(name, ".env"), strings.HasPrefix(name, ".env."):
		return true
	case strings.Contains(name, ".partial-"):
		return true
	case backup.CompressionForName(name) != "" && !strings.Contains(name, ".tar"):
		return true // a dump or Redis copy
	case backup.CompressionForName(name) != "":
		// A base backup has its BackupInfo beside it; any other tar (a diagnose
		// bundle's .tar.gz) is a report, and scanned.
		_, err := os.Stat(path + backup.MetadataSuffix)
		return err == nil
	}
	return false
}

// maxWalk bounds the files looked at under one directory.
const maxWalk = 20000

// tree scans the files under root (a file or a directory) modified at or
// after since (zero: every file); what names the command that wrote them.
func (l *canaryLog) tree(t testing.TB, what, root string, since time.Time) {
	seen := 0
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if seen++; seen > maxWalk {
			return filepath.SkipAll
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil || skipFile(p, info) || info.ModTime().Before(since) {
			return nil
		}
		l.file(t, what+": file "+p, p)
		return nil
	})
}

// tempRoots are the directories whose files a command's arguments may name
// for the scan: the temporary directory (t.TempDir, the harness's), never
// the checkout or the system.
func tempRoots() []string {
	roots := []string{filepath.Clean(os.TempDir())}
	if r, err := filepath.EvalSymlinks(roots[0]); err == nil && r != roots[0] {
		roots = append(roots, r)
	}
	return roots
}

func under(p string, roots []string) bool {
	for _, r := range roots {
		if p != r && strings.HasPrefix(p, r+string(os.PathSeparator)) {
			return true
		}
	}
	return false
}

// writtenPaths are the files and directories a command may have written
// into: every argument or environment value naming a path under the
// temporary directory (-f bundle.tar.gz, --dir, --out, BIN=...), and its
// working directory when that is one.
func writtenPaths(dir string, args, env []string) []string {
	roots := tempRoots()
	var out []string
	seen := map[string]bool{}
	add := func(v string) {
		if v == "" || strings.HasPrefix(v, "-") {
			return
		}
		if !filepath.IsAbs(v) {
			if dir == "" {
				return
			}
			v = filepath.Join(dir, v)
		}
		v = filepath.Clean(v)
		if !seen[v] && under(v, roots) {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, a := range append(append([]string{}, args...), env...) {
		add(a)
		if _, v, ok := strings.Cut(a, "="); ok {
			add(v)
		}
	}
	if dir != "" {
		add(dir)
	}
	return out
}

// written scans what a command that started at start (fsNow before it
// started) wrote under the paths its arguments, environment and working
// directory name.
func (l *canaryLog) written(t testing.TB, what, dir string, args, env []string, start time.Time) {
	for _, p := range writtenPaths(dir, args, env) {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		l.tree(t, what, p, start)
	}
}

// fsNow returns the file system's clock: the modification time of a file
// made now. The kernel stamps files with a coarse clock, a tick behind
// time.Now, so that a file a command writes at once can look older than
// time.Now at its start; a file written before, by the test, older than this.
func fsNow() time.Time {
	f, err := os.CreateTemp("", ".piyasa-clock-")
	if err != nil {
		return time.Now().Add(-50 * time.Millisecond)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return time.Now().Add(-50 * time.Millisecond)
	}
	return st.ModTime()
}

// summary is the package's line: how much was scanned, and every leak.
func (l *canaryLog) summary() (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	head := fmt.Sprintf("harness: canary: scanned %d outputs and %d files (%.1f MB)", l.outputs, l.files, float64(l.bytes)/1e6)
	if len(l.leaks) == 0 {
		return head + ", no leak", true
	}
	return fmt.Sprintf("%s: %d LEAKS\n  %s", head, len(l.leaks), strings.Join(l.leaks, "\n  ")), false
}

// ScanOutput scans output a test captured itself (e.g. from a
// pseudo-terminal, which the harness cannot tee) for the canary; what names
// it in a report.
func ScanOutput(t testing.TB, what string, data []byte) {
	t.Helper()
	canary.output(t, what, data)
}

// CanarySummaryVar names a file to which CheckCanary appends each
// package's summary line (make e2e prints it).
const CanarySummaryVar = "PIYASA_CANARY_SUMMARY"

// CheckCanary ends an e2e package: it scans the files of the sandbox's HOME
// (the commands' caches and configuration), prints how many outputs and
// files were scanned, and turns code into 1 when any held the canary. Main
// calls it; a package with its own TestMain calls it with m.Run's code.
func CheckCanary(code int) int {
	if Env.Home != "" {
		canary.tree(nil, "HOME of the commands", Env.Home, time.Time{})
	}
	line, ok := canary.summary()
	fmt.Fprintln(os.Stderr, line)
	if p := os.Getenv(CanarySummaryVar); p != "" {
		// go test shows a passing package's output only with -v: the line goes there too.
		if f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			fmt.Fprintf(f, "%s: %s\n", strings.TrimSuffix(filepath.Base(os.Args[0]), ".test"), line)
			f.Close()
		}
	}
	if !ok && code == 0 {
		return 1
	}
	return code
}

// lockedBuffer is a copy of a started command's output, read once it ended.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() < maxExpanded {
		b.b.Write(p)
	}
	return len(p), nil
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.b.Bytes()...)
}

// tee returns w with a copy going to a new buffer (nil w: the buffer only).
// A file (a terminal, a pipe the test reads) is left as it is, so that the
// command still sees it as such; the test scans it with ScanOutput.
func tee(w io.Writer) (io.Writer, *lockedBuffer) {
	if _, ok := w.(*os.File); ok {
		return w, nil
	}
	b := &lockedBuffer{}
	if w == nil {
		return b, b
	}
	return io.MultiWriter(w, b), b
}
