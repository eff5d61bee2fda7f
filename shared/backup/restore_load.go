package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// restoreError is a failed load; RolledBack tells whether psql reported it.
type restoreError struct {
	msg string
	// RolledBack is true when psql reported its failure: --single-transaction
	// then rolled everything back. False when the outcome is unknown.
	RolledBack bool
	// LockTimeout is true when psql gave up waiting for a lock.
	LockTimeout bool
}

func (e *restoreError) Error() string { return e.msg }

// DefaultLockTimeout bounds each lock wait of a restore (--lock-timeout).
const DefaultLockTimeout = 30 * time.Second

// exactSQL runs first in the restore's transaction: it reports the
// transaction id (to find out later whether an interrupted restore
// committed) and drops every schema of the app (every schema but
// PostgreSQL's own that the user may drop) with all it holds, then creates
// public again with its owner, grants and comment. pg_dump's --clean only
// drops the objects the dump holds: without this, tables, views, functions,
// types and schemas created after the backup would survive the restore.
const exactSQL = `DO $piyasa$
DECLARE s record; own regrole; acl aclitem[]; a record; had_public boolean := false;
BEGIN
  RAISE NOTICE '` + txidMarker + ` %', txid_current();
  PERFORM set_config('client_min_messages', 'warning', true);
  SELECT nspowner::regrole, nspacl INTO own, acl FROM pg_namespace WHERE nspname = 'public';
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema' AND pg_has_role(nspowner, 'USAGE')
  LOOP
    IF s.nspname = 'public' THEN had_public := true; END IF;
    EXECUTE format('DROP SCHEMA %I CASCADE', s.nspname);
  END LOOP;
  IF had_public THEN
    EXECUTE format('CREATE SCHEMA public AUTHORIZATION %s', own);
    FOR a IN SELECT * FROM aclexplode(acl) WHERE grantee <> own::oid LOOP
      EXECUTE format('GRANT %s ON SCHEMA public TO %s', a.privilege_type,
        CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END);
    END LOOP;
    COMMENT ON SCHEMA public IS 'standard public schema';
  END IF;
END $piyasa$`

// txidMarker precedes the restore transaction's id on psql's stderr.
const txidMarker = "PIYASA-RESTORE-TXID"

var txidRE = regexp.MustCompile(txidMarker + ` (\d+)\r?\n`)

// loadCommand is the exec command that loads n bytes of a plain dump into
// db in one transaction: lock waits bounded, the app's schemas emptied
// first, every statement echoed on stdout (the progress).
func loadCommand(db string, n int64, lockTimeout time.Duration) []string {
	cmd := []string{"sh", "-c", restoreScript, "piyasa-restore", strconv.FormatInt(n, 10),
		"-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "ECHO=queries", "--single-transaction", "--no-psqlrc", "--dbname=" + db, "--output=/dev/null"}
	if lockTimeout > 0 {
		cmd = append(cmd, "-c", lockTimeoutSQL(lockTimeout))
	}
	return append(cmd, "-c", exactSQL, "-f", "-")
}

func lockTimeoutSQL(d time.Duration) string {
	return fmt.Sprintf("SET lock_timeout = '%dms'", d.Milliseconds())
}

// dumpLockLine is the line of pg_dump's header that turns lock waits off.
const dumpLockLine = "\nSET lock_timeout = 0;\n"

// withLockTimeout replaces pg_dump's "SET lock_timeout = 0" in the first
// 64 KiB of r (n bytes long) with the given timeout and returns the new
// stream and its length (the upload is framed by that length).
func withLockTimeout(r io.Reader, n int64, d time.Duration) (io.Reader, int64, error) {
	if d <= 0 {
		return r, n, nil
	}
	head := make([]byte, min(n, 64<<10))
	k, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, 0, err
	}
	head = head[:k]
	if i := bytes.Index(head, []byte(dumpLockLine)); i >= 0 {
		repl := "\n" + lockTimeoutSQL(d) + ";\n"
		head = append(head[:i:i], append([]byte(repl), head[i+len(dumpLockLine):]...)...)
		n += int64(len(repl) - len(dumpLockLine))
	}
	return io.MultiReader(bytes.NewReader(head), r), n, nil
}

// loadSpec is one load of a backup into a database.
type loadSpec struct {
	Loc  Location
	Info *BackupInfo
	DB   string
	// LockTimeout bounds every lock wait (0: none).
	LockTimeout time.Duration
	// Quiet prints no progress lines.
	Quiet bool
}

// restoreInto loads the backup into db (verify's restore test, --to-database).
func (b *base) restoreInto(ctx context.Context, loc Location, info *BackupInfo, db string) error {
	_, err := b.load(ctx, loadSpec{Loc: loc, Info: info, DB: db, LockTimeout: DefaultLockTimeout, Quiet: true})
	return err
}

// load streams the backup's plain dump into the database through psql with
// ON_ERROR_STOP and one transaction, framed by its byte count. It returns
// the transaction's id as psql reported it (0 when it did not arrive).
func (b *base) load(ctx context.Context, sp loadSpec) (int64, error) {
	cs, err := b.Clientset()
	if err != nil {
		return 0, err
	}
	pod, container, err := PostgresPod(ctx, cs, b.Namespace)
	if err != nil {
		return 0, err
	}
	ex, err := b.executor()
	if err != nil {
		return 0, err
	}
	r, err := sp.Loc.Target.Open(ctx, sp.Loc.Name)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	clear, err := b.ids.Decrypt(r, sp.Loc.Target.Location(sp.Loc.Name), sp.Info.Encryption)
	if err != nil {
		return 0, err
	}
	dec, err := Compression(sp.Info.Compression).NewDecompressor(clear)
	if err != nil {
		return 0, err
	}
	defer dec.Close()
	sent := NewCounter()
	stdin, n, err := withLockTimeout(io.TeeReader(io.LimitReader(dec, sp.Info.RawBytes), sent), sp.Info.RawBytes, sp.LockTimeout)
	if err != nil {
		return 0, err
	}
	stderr := &StderrCollector{}
	var echo io.Writer = io.Discard
	if !sp.Quiet {
		p := newLoadProgress(b, sp.Info, sp.LockTimeout)
		defer p.stop()
		echo = p
	}
	tx := &txidWatch{w: stderr}
	execErr := ex.Exec(ctx, pod, container, loadCommand(sp.DB, n, sp.LockTimeout), stdin, echo, tx)
	xid := tx.id()
	dropTxIDLine(stderr)
	if ctx.Err() != nil {
		return xid, ctx.Err()
	}
	return xid, loadErr(stderr, execErr, sent, n, sp.Info)
}

// txidWatch passes psql's stderr on and catches the transaction id as it
// passes (the collector keeps only the last few lines).
type txidWatch struct {
	w    io.Writer
	mu   sync.Mutex
	head []byte
	xid  int64
}

func (t *txidWatch) Write(p []byte) (int, error) {
	t.mu.Lock()
	if t.xid == 0 && len(t.head) < 64<<10 {
		t.head = append(t.head, p...)
		if m := txidRE.FindSubmatch(t.head); m != nil {
			t.xid, _ = strconv.ParseInt(string(m[1]), 10, 64)
			t.head = nil
		}
	}
	t.mu.Unlock()
	return t.w.Write(p)
}

func (t *txidWatch) id() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.xid
}

// dropTxIDLine removes the transaction id's line from the kept lines, so
// that Last names psql's own message.
func dropTxIDLine(c *StderrCollector) {
	c.Status() // flush a last unterminated line
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, l := range c.lines {
		if strings.Contains(l, txidMarker+" ") {
			c.lines = append(c.lines[:i:i], c.lines[i+1:]...)
			return
		}
	}
}

// loadErr judges a finished load by the script's status line.
func loadErr(stderr *StderrCollector, execErr error, sent *Counter, n int64, info *BackupInfo) error {
	st, ok := restoreStatus(stderr)
	switch {
	case ok && st.rc != 0:
		msg := fmt.Sprintf("psql failed (exit status %d)", st.rc)
		l := psqlError(stderr)
		if l != "" {
			msg += ": " + l
		}
		return &restoreError{msg: msg, RolledBack: true, LockTimeout: strings.Contains(l, "due to lock timeout")}
	case ok && st.bytes != n:
		return &restoreError{msg: fmt.Sprintf("psql received %d of the dump's %d bytes", st.bytes, n)}
	case !ok:
		msg := "the restore's status line never arrived: the stream was cut"
		if execErr != nil {
			msg += " (" + output.FirstLine(execErr.Error()) + ")"
		}
		return &restoreError{msg: msg}
	case execErr != nil:
		return &restoreError{msg: "the exec stream failed: " + output.FirstLine(execErr.Error())}
	case sent.N != info.RawBytes || sent.Sum() != info.RawSHA256:
		return &restoreError{msg: "the backup changed while it was restored (sha256 differs)"}
	}
	return nil
}

// psqlError is psql's ERROR line among the kept lines (the last line may be
// its CONTEXT), else the last line.
func psqlError(c *StderrCollector) string {
	lines := c.Lines()
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "ERROR:") {
			return lines[i]
		}
	}
	return c.Last()
}

// loadProgress turns psql's echo of the statements into progress lines:
// one per table loaded, and one every progressQuiet while psql stays at the
// same statement (a lock wait, or a big table's data), naming it.
type loadProgress struct {
	b      *base
	tables int
	lock   time.Duration
	mu     sync.Mutex
	buf    []byte
	copies int
	stmts  int
	// prelude is true inside exactSQL's echo.
	prelude bool
	at      string
	since   time.Time
	done    chan struct{}
	once    sync.Once
}

// progressQuiet is how long psql may stay at one statement before a line says so.
var progressQuiet = 10 * time.Second

func newLoadProgress(b *base, info *BackupInfo, lock time.Duration) *loadProgress {
	p := &loadProgress{b: b, tables: len(info.Tables), lock: lock, at: "emptying the app's schemas", since: time.Now(), done: make(chan struct{})}
	go p.watch()
	return p
}

func (p *loadProgress) Write(data []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, data...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.line(string(p.buf[:i]))
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) > 4<<10 {
		p.buf = p.buf[:0] // a long statement: only its first line matters
	}
	return len(data), nil
}

// line takes one echoed line (statements may span several).
func (p *loadProgress) line(l string) {
	switch {
	case strings.HasPrefix(l, "DO $piyasa$"):
		p.prelude, p.at, p.since = true, "emptying the app's schemas", time.Now()
		return
	case p.prelude:
		p.prelude = !strings.HasPrefix(l, "END $piyasa$")
		return
	}
	if strings.HasPrefix(l, "COPY ") {
		p.copies++
		table, _, _ := strings.Cut(strings.TrimPrefix(l, "COPY "), " ")
		p.at, p.since = "loading table "+table, time.Now()
		p.b.Infof("  loading table %s (%d/%d)\n", table, p.copies, p.tables)
		return
	}
	if strings.HasSuffix(strings.TrimSpace(l), ";") {
		p.stmts++
	}
	if l != "" && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "--") && !strings.HasPrefix(l, ")") {
		if len(l) > 72 {
			l = l[:72] + "..."
		}
		p.at, p.since = "statement "+strings.TrimSpace(l), time.Now()
	}
}

func (p *loadProgress) watch() {
	t := time.NewTicker(progressQuiet)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.mu.Lock()
			if d := time.Since(p.since); d >= progressQuiet {
				msg := fmt.Sprintf("  still at %s after %s", p.at, d.Round(time.Second))
				if p.lock > 0 {
					msg += fmt.Sprintf(" (a lock wait ends after --lock-timeout %s)", p.lock)
				}
				p.b.Infof("%s\n", msg)
			}
			p.mu.Unlock()
		}
	}
}

func (p *loadProgress) stop() { p.once.Do(func() { close(p.done) }) }
