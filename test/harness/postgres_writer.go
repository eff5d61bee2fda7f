package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Writer inserts a row into a table of a server at a steady pace, as an
// application does during a failover test, and records the ids whose
// INSERT ... RETURNING id came back without error (committed, with
// synchronous_commit on): after a switchover every one of them must be on
// the new primary. Failed inserts are counted, not fatal.
type Writer struct {
	t     testing.TB
	table string
	every time.Duration

	mu        sync.Mutex
	target    *Postgres
	committed []int64
	failures  int
	failing   bool // the last insert failed

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// StartWriter creates table (id bigserial primary key, at timestamptz
// default now(), note text) in p.DB ("postgres" when empty) if absent, then
// inserts a row every every (a new psql connection each time, 10 s at
// most) until Stop; the test ending stops it.
func (p *Postgres) StartWriter(t testing.TB, table string, every time.Duration) *Writer {
	t.Helper()
	p.MustPsql(t, writerDB(p), fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text)", table))
	w := &Writer{t: t, table: table, every: every, target: p, stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	t.Cleanup(func() { w.Stop() })
	return w
}

func writerDB(p *Postgres) string {
	if p.DB == "" {
		return "postgres"
	}
	return p.DB
}

func (w *Writer) loop() {
	defer close(w.done)
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	for n := 1; ; n++ {
		w.mu.Lock()
		p := w.target
		w.mu.Unlock()
		id, err := w.insert(p, n)
		w.mu.Lock()
		switch {
		case err != nil:
			w.failures++
			if !w.failing {
				w.t.Logf("harness: writer: inserts into %s on port %d fail: %v", w.table, p.Port, err)
			}
			w.failing = true
		default:
			w.committed = append(w.committed, id)
			if w.failing {
				w.t.Logf("harness: writer: inserts into %s succeed again (port %d), %d failed so far", w.table, p.Port, w.failures)
			}
			w.failing = false
		}
		w.mu.Unlock()
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
	}
}

// insert inserts row n into p and returns its id.
func (w *Writer) insert(p *Postgres, n int) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sql := fmt.Sprintf("INSERT INTO %s (note) VALUES ('writer %d to port %d') RETURNING id", w.table, n, p.Port)
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", writerDB(p), "-c", sql)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "LC_ALL=C.UTF-8",
		"PGCONNECT_TIMEOUT=5", "PGOPTIONS=-c synchronous_commit=on"}, p.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	id, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("INSERT ... RETURNING id: %q: %v", out, err)
	}
	return id, nil
}

// Retarget makes the next inserts go to p (the new primary after a switchover).
func (w *Writer) Retarget(p *Postgres) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.target = p
}

// Stop stops the writer (after the insert in flight) and returns the
// committed ids in the order they were inserted; later calls return them again.
func (w *Writer) Stop() []int64 {
	w.stopOnce.Do(func() {
		close(w.stop)
		<-w.done
	})
	return w.Committed()
}

// Committed returns the ids committed so far.
func (w *Writer) Committed() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int64(nil), w.committed...)
}

// Failures is how many inserts failed so far.
func (w *Writer) Failures() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failures
}
