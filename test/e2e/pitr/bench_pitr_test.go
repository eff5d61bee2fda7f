//go:build bench

package pitr_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestBenchPITR is the point-in-time-recovery benchmark that
// scripts/bench-pitr.sh runs (build tag bench: never part of make test). It
// asserts nothing about time: it fails only when a command fails, and
// writes its figures as a Markdown table to $BENCH_OUT (and the log).
//
// One database of $BENCH_SIZE_MB (default 1024) MB on disk: a base backup
// by `backup create --physical` against the raw `kubectl exec ...
// pg_basebackup` stream; logical create with and without
// --compress-in-pod; restore --to-time against a logical restore of the
// same data; then the --to-latest drill's RPO and RTO. Every client's peak
// RSS is GNU time's %M.
func TestBenchPITR(t *testing.T) {
	sizeMB := envInt(t, "BENCH_SIZE_MB", 1024)
	archiveTimeout := envInt(t, "BENCH_ARCHIVE_TIMEOUT", int(app.DefaultArchiveTimeout.Seconds()))
	e := setupPITRTimeout(t, archiveTimeout)
	b := &bench{t: t, e: e, work: t.TempDir()}
	dbBytes := b.seed(sizeMB)
	b.notef("database %s: %s on disk (pg_database_size), archive_timeout %ds; %s", app.DatabaseName, mib(dbBytes), archiveTimeout, machine())
	b.physical()
	dump := b.logical()
	b.restores(dump)
	b.toLatest(archiveTimeout)
	b.write()
}

// bench holds the run's world and the rows measured so far.
type bench struct {
	t     *testing.T
	e     *e2ebackup.Env
	work  string
	rows  []string
	notes []string
}

func (b *bench) notef(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

// row records one measured command: what, seconds, throughput text, peak RSS.
func (b *bench) row(what string, m measure, rate string) {
	b.rows = append(b.rows, fmt.Sprintf("| %s | %.2f s | %s | %.1f MiB | %.1f MiB |", what, m.secs, rate, float64(m.rssKiB)/1024, float64(m.anonKiB)/1024))
	b.t.Logf("bench: %s: %.2f s, %s, peak RSS %.1f MiB (anonymous %.1f MiB)", what, m.secs, rate, float64(m.rssKiB)/1024, float64(m.anonKiB)/1024)
}

// write prints the table to the log and to $BENCH_OUT.
func (b *bench) write() {
	var s strings.Builder
	for _, n := range b.notes {
		s.WriteString(n + "\n")
	}
	s.WriteString("\n| command | time | throughput / figure | peak RSS (client, GNU time) | of it anonymous (sampled) |\n|---|---|---|---|---|\n")
	for _, r := range b.rows {
		s.WriteString(r + "\n")
	}
	b.t.Log("\n" + s.String())
	if out := os.Getenv("BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(s.String()), 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// seed fills piyasa_db until pg_database_size is at least sizeMB MiB and
// returns it; a checkpoint ends it so no backup waits for one.
func (b *bench) seed(sizeMB int) int64 {
	b.e.PG.MustPsql(b.t, app.DatabaseName, `CREATE TABLE messages (id bigserial PRIMARY KEY, user_id int, body text, payload bytea, created timestamptz)`)
	want := int64(sizeMB) << 20
	for {
		n, err := strconv.ParseInt(b.e.PG.MustPsql(b.t, "postgres", "SELECT pg_database_size('"+app.DatabaseName+"')"), 10, 64)
		if err != nil {
			b.t.Fatal(err)
		}
		if n >= want {
			b.e.PG.MustPsql(b.t, "postgres", "CHECKPOINT")
			return n
		}
		rows := (want-n)/240 + 10000 // ~250 bytes a row on disk with its index
		b.t.Logf("bench: seeding %d rows (%s so far)", rows, mib(n))
		b.e.PG.MustPsql(b.t, app.DatabaseName, fmt.Sprintf(`INSERT INTO messages (user_id, body, payload, created)
  SELECT g %% 5000, md5(g::text) || ' мир 世界 ' || md5((g*3)::text) || repeat(' kelime', 8), sha256(g::text::bytea),
    timestamptz '2026-01-01' + g * interval '1 second' FROM generate_series(1, %d) g`, rows))
	}
}

// physical measures the raw exec stream of pg_basebackup and `backup
// create --physical` (zstd, the default, and none).
func (b *bench) physical() {
	raw, m := b.rawBaseBackup()
	b.row("`kubectl exec ... pg_basebackup -Ft -X fetch -D - > /dev/null` (raw exec stream)", m, rateOf(raw, m.secs))
	for _, c := range []string{"none", "zstd"} {
		dir := filepath.Join(b.work, "base-"+c)
		m, out := b.run("create-physical-"+c, nil, backupBin(), "create", "--physical", "--compress", c, "--dir", dir, "-o", "json")
		info := e2ebackup.ParseInfo(b.t, out)
		b.row(fmt.Sprintf("`backup create --physical --compress %s` (%s stored)", c, mib(info.StoredBytes)), m,
			fmt.Sprintf("%s (%.2fx raw)", rateOf(info.RawBytes, m.secs), raw.secsPerByte()/(m.secs/float64(info.RawBytes))))
	}
}

// rawBaseBackup runs pg_basebackup through `kubectl exec`, counting what arrives.
func (b *bench) rawBaseBackup() (rawBytes, measure) {
	pr, pw, err := os.Pipe()
	if err != nil {
		b.t.Fatal(err)
	}
	var n int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); n, _ = io.Copy(io.Discard, pr) }()
	script := `PGPASSWORD="$POSTGRES_PASSWORD" pg_basebackup -U ` + app.DatabaseUser + ` -Ft -X fetch --checkpoint=fast -D -`
	m := b.timed("raw-basebackup", pw, nil, "kubectl", "exec", "-n", b.e.NS, b.e.Pod, "--", "sh", "-c", script)
	pw.Close()
	wg.Wait()
	pr.Close()
	return rawBytes{n: n, secs: m.secs}, m
}

// rawBytes is what the raw stream carried and in how long.
type rawBytes struct {
	n    int64
	secs float64
}

func (r rawBytes) secsPerByte() float64 { return r.secs / float64(r.n) }

func rateOf(r any, secs float64) string {
	var n int64
	switch v := r.(type) {
	case rawBytes:
		n = v.n
	case int64:
		n = v
	}
	return fmt.Sprintf("%.1f MB/s of %s", float64(n)/1e6/secs, mib(n))
}

// logical measures logical create with today's plain stream and with
// --compress-in-pod gzip when this build has it; it returns the plain
// stream's backup (zstd) for the restore.
func (b *bench) logical() string {
	dir := filepath.Join(b.work, "logical")
	m, out := b.run("create-plain", nil, backupBin(), "create", "--dir", dir, "-o", "json")
	plain := e2ebackup.ParseInfo(b.t, out)
	b.row("`backup create` (plain stream, stored zstd)", m, rateOf(plain.RawBytes, m.secs)+" plain dump")
	plainRate := float64(plain.RawBytes) / m.secs
	help := harness.Command(b.t, backupBin(), "create", "--help").RunOK()
	if !strings.Contains(help.Stdout, "--compress-in-pod") {
		b.notef("this build has no `backup create --compress-in-pod` (not merged yet): not measured")
		return plain.Location
	}
	for _, c := range []string{"gzip", "zstd"} {
		d := filepath.Join(b.work, "inpod-"+c)
		m, out := b.run("create-inpod-"+c, nil, backupBin(), "create", "--compress-in-pod", "gzip", "--compress", c, "--dir", d, "-o", "json")
		info := e2ebackup.ParseInfo(b.t, out)
		b.row(fmt.Sprintf("`backup create --compress-in-pod gzip --compress %s`", c), m,
			fmt.Sprintf("%s plain dump (%.2fx the plain stream)", rateOf(info.RawBytes, m.secs), float64(info.RawBytes)/m.secs/plainRate))
	}
	return plain.Location
}

// restores measures restore --to-time (to a time after writes that follow
// the base backup) and a logical restore of the same data over the live database.
func (b *bench) restores(dump string) {
	w := startWriter(b.t, b.e.PG)
	time.Sleep(4 * time.Second)
	ticks := w.Stop()
	switchAndArchive(b.t, b.e.PG)
	target := between(b.t, ticks, ticks[0].At).Format(time.RFC3339Nano)
	stamps := &stamped{}
	m, out := b.run("restore-to-time", stamps, backupBin(), "restore", "--to-time", target, "--from", filepath.Join(b.work, "base-zstd"), "--yes")
	b.row("`backup restore --to-time` (base backup zstd + WAL)", m, "app stopped "+stoppedFor(b.t, out))
	e2ebackup.WaitApp(b.t, b.e.NS, 1, 2)

	stamps = &stamped{}
	m, _ = b.run("restore-logical", stamps, backupBin(), "restore", dump, "--yes")
	stopped := stamps.since("stopping the app", m.end)
	b.row("`backup restore FILE` (logical, zstd, with its safety backup)", m, fmt.Sprintf("app stopped %.0fs", stopped.Seconds()))
	e2ebackup.WaitApp(b.t, b.e.NS, 1, 2)
}

// toLatest is the DR drill: a new base backup, writes for archive_timeout
// and more, the server killed and its data directory lost, restore
// --to-latest; RPO is what the writer wrote that is not back, RTO the time
// from the restore's start until the app is serving again.
func (b *bench) toLatest(archiveTimeout int) {
	dir := filepath.Join(b.work, "drill")
	b.run("create-physical-drill", nil, backupBin(), "create", "--physical", "--dir", dir, "-o", "json")
	w := startWriter(b.t, b.e.PG)
	time.Sleep(time.Duration(archiveTimeout)*time.Second + 5*time.Second)
	if err := b.e.PG.Crash(); err != nil {
		b.t.Fatal(err)
	}
	ticks := w.Stop()
	if err := os.RemoveAll(b.e.PG.Data); err != nil {
		b.t.Fatal(err)
	}
	last := ticks[len(ticks)-1]
	m, out := b.run("restore-to-latest", nil, backupBin(), "restore", "--to-latest", "--from", dir, "--yes")
	e2ebackup.WaitApp(b.t, b.e.NS, 1, 2)
	rto := time.Since(m.start)
	got := strings.Fields(b.e.PG.MustPsql(b.t, app.DatabaseName, "SELECT max(id) || ' ' || to_char(max(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM ticks"))
	maxID, _ := strconv.ParseInt(got[0], 10, 64)
	maxAt, _ := time.Parse(time.RFC3339Nano, got[1])
	b.row("`backup restore --to-latest` (data directory lost)", m, fmt.Sprintf("RPO %d rows / %.1fs of writes lost; RTO %.1fs to app serving; app stopped %s",
		last.ID-maxID, last.At.Sub(maxAt).Seconds(), rto.Seconds(), stoppedFor(b.t, out)))
}

var stoppedRe = regexp.MustCompile(`stopped for (\S+?)(;|$|\s)`)

func stoppedFor(t *testing.T, out string) string {
	if m := stoppedRe.FindStringSubmatch(strings.TrimSpace(out)); m != nil {
		return m[1]
	}
	t.Fatalf("the restore does not say how long the app was stopped:\n%s", out)
	return ""
}

// measure is one command's wall time and peak RSS, by GNU time.
type measure struct {
	secs       float64
	rssKiB     int64
	anonKiB    int64 // peak RssAnon sampled from /proc (the heap, not the binary's mapped pages)
	start, end time.Time
}

// timed runs name args under /usr/bin/time with stdout to out (a file: not
// kept in memory) and stderr to errw (nil: discarded), failing on exit != 0.
func (b *bench) timed(tag string, out *os.File, errw io.Writer, name string, args ...string) measure {
	tf := filepath.Join(b.work, tag+".time")
	var stderr strings.Builder
	w := io.Writer(&stderr)
	if errw != nil {
		w = io.MultiWriter(&stderr, errw)
	}
	m := measure{start: time.Now()}
	cmd := harness.Command(b.t, "/usr/bin/time", append([]string{"-f", "%e %M", "-o", tf, name}, args...)...).Start(out, w)
	stop := make(chan struct{})
	peak := make(chan int64)
	go func() { peak <- sampleAnon(cmd.Process.Pid, stop) }()
	err := cmd.Wait()
	m.end = time.Now()
	close(stop)
	m.anonKiB = <-peak
	if err != nil {
		b.t.Fatalf("%s: %v\n%s", tag, err, tail(stderr.String(), 30))
	}
	raw, err := os.ReadFile(tf)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := fmt.Sscanf(lastLineOf(string(raw)), "%f %d", &m.secs, &m.rssKiB); err != nil {
		b.t.Fatalf("%s: GNU time wrote %q: %v", tag, raw, err)
	}
	return m
}

// run is timed for a piyasa command with -n/--env, its stdout kept (small).
func (b *bench) run(tag string, errw io.Writer, name string, args ...string) (measure, string) {
	f, err := os.Create(filepath.Join(b.work, tag+".out"))
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	m := b.timed(tag, f, errw, name, append(args, "-n", b.e.NS, "--env", "dev")...)
	out, err := os.ReadFile(f.Name())
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("bench: %s: %s", tag, strings.TrimSpace(string(out)))
	return m, string(out)
}

// stamped notes when each stderr line arrived.
type stamped struct {
	mu    sync.Mutex
	buf   []byte
	lines []string
	at    []time.Time
}

func (s *stamped) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := strings.IndexByte(string(s.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		s.lines, s.at = append(s.lines, string(s.buf[:i])), append(s.at, time.Now())
		s.buf = s.buf[i+1:]
	}
}

// since is end minus when the first line holding marker arrived (0 if none).
func (s *stamped) since(marker string, end time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range s.lines {
		if strings.Contains(l, marker) {
			return end.Sub(s.at[i])
		}
	}
	return 0
}

func lastLineOf(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func envInt(t *testing.T, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", key, v)
	}
	return n
}

// machine describes the host: cores, memory, date.
func machine() string {
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Join(strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:], " ")
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s, host %s, %d cores, MemTotal %s, shared with other work (kwok runs the pod side on the same cores)",
		time.Now().UTC().Format("2006-01-02"), host, runtime.NumCPU(), mem)
}

// sampleAnon polls the RssAnon of timePid's child (the command GNU time
// runs) every 20 ms until stop, and returns the highest seen in KiB.
func sampleAnon(timePid int, stop <-chan struct{}) int64 {
	var peak int64
	for {
		select {
		case <-stop:
			return peak
		case <-time.After(20 * time.Millisecond):
		}
		kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", timePid, timePid))
		if err != nil || len(strings.Fields(string(kids))) == 0 {
			continue
		}
		st, err := os.ReadFile("/proc/" + strings.Fields(string(kids))[0] + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(st), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "RssAnon:" {
				if n, _ := strconv.ParseInt(f[1], 10, 64); n > peak {
					peak = n
				}
			}
		}
	}
}

// backupBin is the backup plugin measured: $BENCH_BIN/kubectl-piyasa-backup
// (the script builds it as a release does) or the harness's build on PATH.
func backupBin() string {
	if d := os.Getenv("BENCH_BIN"); d != "" {
		return filepath.Join(d, "kubectl-piyasa-backup")
	}
	return "kubectl-piyasa-backup"
}
