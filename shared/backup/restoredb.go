package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// dbNameRE are the database names --to-database accepts (no quoting needed).
var dbNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// psql runs one SQL text in db in the postgres pod and returns its output.
func (b *base) psql(ctx context.Context, db, sql string) (string, error) {
	cs, err := b.Clientset()
	if err != nil {
		return "", err
	}
	pod, container, err := PostgresPod(ctx, cs, b.Namespace)
	if err != nil {
		return "", err
	}
	ex, err := b.executor()
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	stderr := &StderrCollector{}
	if err := ex.Exec(ctx, pod, container, PsqlCommand(db, sql), nil, &out, stderr); err != nil {
		if ctx.Err() != nil || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			return "", err
		}
		msg := firstLine(err.Error())
		if last := stderr.Last(); last != "" {
			msg = last
		}
		return "", fmt.Errorf("psql in the postgres pod: %s", msg)
	}
	return out.String(), nil
}

// createDatabase creates db (an error if it exists).
func (b *base) createDatabase(ctx context.Context, db string) error {
	_, err := b.psql(ctx, app.DatabaseName, "CREATE DATABASE "+quoteIdent(db))
	return err
}

// dropDatabase drops db, ending its sessions.
func (b *base) dropDatabase(ctx context.Context, db string) error {
	_, err := b.psql(ctx, app.DatabaseName, "DROP DATABASE IF EXISTS "+quoteIdent(db)+" WITH (FORCE)")
	return err
}

// restoreError is a failed restore; Started tells whether psql began.
type restoreError struct {
	msg string
	// RolledBack is true when psql reported its failure: --single-transaction
	// then rolled everything back. False when the outcome is unknown.
	RolledBack bool
}

func (e *restoreError) Error() string { return e.msg }

// restoreInto streams the backup's plain dump into db through psql with
// ON_ERROR_STOP and one transaction, framed by the dump's byte count.
func (b *base) restoreInto(ctx context.Context, loc Location, info *BackupInfo, db string) error {
	cs, err := b.Clientset()
	if err != nil {
		return err
	}
	pod, container, err := PostgresPod(ctx, cs, b.Namespace)
	if err != nil {
		return err
	}
	ex, err := b.executor()
	if err != nil {
		return err
	}
	r, err := loc.Target.Open(ctx, loc.Name)
	if err != nil {
		return err
	}
	defer r.Close()
	dec, err := Compression(info.Compression).NewDecompressor(r)
	if err != nil {
		return err
	}
	defer dec.Close()
	sent := NewCounter()
	prog := newProgress(b.ErrOut, "restoring into "+db)
	stdin := io.TeeReader(io.TeeReader(io.LimitReader(dec, info.RawBytes), sent), prog)
	stderr := &StderrCollector{}
	execErr := ex.Exec(ctx, pod, container, RestoreCommand(db, info.RawBytes), stdin, io.Discard, stderr)
	prog.done()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	st, ok := restoreStatus(stderr)
	switch {
	case ok && st.rc != 0:
		msg := fmt.Sprintf("psql failed (exit status %d)", st.rc)
		if l := stderr.Last(); l != "" {
			msg += ": " + l
		}
		return &restoreError{msg: msg, RolledBack: true}
	case ok && st.bytes != info.RawBytes:
		return &restoreError{msg: fmt.Sprintf("psql received %d of the dump's %d bytes", st.bytes, info.RawBytes), RolledBack: false}
	case !ok:
		msg := "the restore's status line never arrived: the stream was cut"
		if execErr != nil {
			msg += " (" + firstLine(execErr.Error()) + ")"
		}
		return &restoreError{msg: msg}
	case execErr != nil:
		return &restoreError{msg: "the exec stream failed: " + firstLine(execErr.Error())}
	case sent.N != info.RawBytes || sent.Sum() != info.RawSHA256:
		return &restoreError{msg: "the backup changed while it was restored (sha256 differs)"}
	}
	return nil
}

type restoreSt struct {
	rc    int
	bytes int64
}

// restoreStatus finds the PIYASA-RESTORE-STATUS line among the kept lines.
func restoreStatus(c *StderrCollector) (restoreSt, bool) {
	c.Status() // flush a last unterminated line
	lines := c.Lines()
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) == 3 && f[0] == RestoreMarker {
			rc, err1 := strconv.Atoi(strings.TrimPrefix(f[1], "rc="))
			n, err2 := strconv.ParseInt(strings.TrimPrefix(f[2], "bytes="), 10, 64)
			if err1 == nil && err2 == nil {
				// Drop it so that Last names psql's own message.
				c.mu.Lock()
				c.lines = append(c.lines[:i:i], c.lines[i+1:]...)
				c.mu.Unlock()
				return restoreSt{rc: rc, bytes: n}, true
			}
		}
	}
	return restoreSt{}, false
}

// countRows counts the rows of the given tables in db.
func (b *base) countRows(ctx context.Context, db string, tables []TableRows) (map[string]int64, error) {
	got := map[string]int64{}
	if len(tables) == 0 {
		return got, nil
	}
	// One query for all (names are the dump's own, already quoted as SQL needs).
	var q strings.Builder
	for i, t := range tables {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&q, "SELECT %s, count(*) FROM %s", quoteLiteral(t.Name), t.Name)
	}
	out, err := b.psql(ctx, db, q.String())
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, n, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		c, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected psql output %q", line)
		}
		got[name] = c
	}
	return got, nil
}

// sequenceSQL lists, for every sequence owned by a column (serial and
// identity columns), whether its next value is above the column's maximum:
// otherwise the app's next INSERT into that table would fail with a
// duplicate key. It reads and changes nothing else (no nextval).
const sequenceSQL = `DO $$
DECLARE r record; mx numeric; nextv numeric; bad text := '';
BEGIN
  FOR r IN
    SELECT s.oid::regclass::text AS seq, t.oid::regclass::text AS tbl, quote_ident(a.attname) AS col,
           ps.last_value, ps.increment_by, ps.start_value
    FROM pg_depend d
    JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
    JOIN pg_namespace n ON n.oid = s.relnamespace
    JOIN pg_sequences ps ON ps.schemaname = n.nspname AND ps.sequencename = s.relname
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
  LOOP
    EXECUTE format('SELECT max(%s)::numeric FROM %s', r.col, r.tbl) INTO mx;
    nextv := COALESCE(r.last_value + r.increment_by, r.start_value);
    IF mx IS NOT NULL AND r.increment_by > 0 AND nextv <= mx THEN
      bad := bad || format('%s next value %s <= max(%s.%s) %s; ', r.seq, nextv, r.tbl, r.col, mx);
    END IF;
  END LOOP;
  IF bad <> '' THEN RAISE EXCEPTION 'sequences would not continue: %', bad; END IF;
END $$`

// checkSequences fails when a restored sequence would hand out a used value.
func (b *base) checkSequences(ctx context.Context, db string) error {
	_, err := b.psql(ctx, db, sequenceSQL)
	return err
}

// verifyRestored compares the restored database's row counts with the
// metadata and checks its sequences; it returns the problems found.
func (b *base) verifyRestored(ctx context.Context, db string, info *BackupInfo) ([]string, error) {
	got, err := b.countRows(ctx, db, info.Tables)
	if err != nil {
		return nil, err
	}
	problems := compareRows(info.TableMap(), got, "database "+db)
	if err := b.checkSequences(ctx, db); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		problems = append(problems, err.Error())
	}
	return problems, nil
}
