package backup

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/output"
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
		msg := output.FirstLine(err.Error())
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
	extra, err := b.extraTables(ctx, db, info)
	if err != nil {
		return nil, err
	}
	for _, t := range extra {
		problems = append(problems, fmt.Sprintf("table %s is in database %s but not in the backup", t, db))
	}
	if err := b.checkSequences(ctx, db); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		problems = append(problems, err.Error())
	}
	return problems, nil
}

// extraTablesSQL lists the tables of the app's schemas (every schema but
// PostgreSQL's own, extensions' tables left out) as pg_dump names them.
const extraTablesSQL = `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1`

// extraTables returns the tables of db that the backup does not hold.
func (b *base) extraTables(ctx context.Context, db string, info *BackupInfo) ([]string, error) {
	out, err := b.psql(ctx, db, extraTablesSQL)
	if err != nil {
		return nil, err
	}
	want := info.TableMap()
	var extra []string
	for _, name := range strings.Split(strings.TrimSpace(out), "\n") {
		if name = strings.TrimSpace(name); name != "" {
			if _, ok := want[name]; !ok {
				extra = append(extra, name)
			}
		}
	}
	return extra, nil
}

// alembicSQL reads alembic_version ("" when the table does not exist).
const alembicSQL = `SELECT CASE WHEN to_regclass('public.alembic_version') IS NULL THEN ''
  ELSE coalesce((xpath('/row/v/text()', query_to_xml('SELECT string_agg(version_num, '','' ORDER BY version_num) AS v FROM public.alembic_version', false, true, '')))[1]::text, '') END`

// alembicRevision returns db's Alembic revision ("" without alembic_version).
func (b *base) alembicRevision(ctx context.Context, db string) (string, error) {
	out, err := b.psql(ctx, db, alembicSQL)
	return strings.TrimSpace(out), err
}

// session is another client's connection to the database.
type session struct {
	PID    int
	App    string
	Client string
	State  string
	Age    time.Duration
}

func (s session) String() string {
	return fmt.Sprintf("pid %d (application %s from %s, %s for %s)", s.PID, s.App, s.Client, s.State, s.Age)
}

// sessionsSQL lists the other client sessions on the database.
const sessionsSQL = `SELECT pid, coalesce(nullif(application_name, ''), '-'), coalesce(host(client_addr), 'local'), coalesce(state, '-'),
  coalesce(extract(epoch FROM now() - coalesce(xact_start, backend_start))::bigint, 0)
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
ORDER BY pid`

// sessions lists the other sessions on db.
func (b *base) sessions(ctx context.Context, db string) ([]session, error) {
	out, err := b.psql(ctx, db, sessionsSQL)
	if err != nil {
		return nil, err
	}
	var ss []session
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		age, err2 := strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unexpected psql output %q", line)
		}
		ss = append(ss, session{PID: pid, App: f[1], Client: f[2], State: f[3], Age: time.Duration(age) * time.Second})
	}
	return ss, nil
}

// terminateSessions ends the given sessions (pg_terminate_backend).
func (b *base) terminateSessions(ctx context.Context, db string, ss []session) error {
	if len(ss) == 0 {
		return nil
	}
	pids := make([]string, len(ss))
	for i, s := range ss {
		pids[i] = strconv.Itoa(s.PID)
	}
	_, err := b.psql(ctx, db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid IN ("+strings.Join(pids, ",")+")")
	return err
}

// sessionsText says "pid 1 (...); pid 2 (...)".
func sessionsText(ss []session) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, "; ")
}

// txStatus returns committed, aborted or in progress for a transaction id.
func (b *base) txStatus(ctx context.Context, xid int64) (string, error) {
	out, err := b.psql(ctx, app.DatabaseName, fmt.Sprintf("SELECT coalesce(txid_status(%d), 'unknown')", xid))
	return strings.TrimSpace(out), err
}
