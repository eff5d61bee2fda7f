package backup

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// baseBackup runs pg_basebackup in the postgres pod (one tar of the data
// directory with the WAL it needs, compressed there by pg_basebackup
// itself) and streams it to the target with the checks of a dump: the
// tool's exit status, the pod's byte count and sha256 against what arrived,
// a whole tar with its backup_label and WAL. The app tables' row counts,
// the Alembic revision and the server version are read right after
// pg_basebackup ended. On any failure nothing is left under the final name.
// The database is only read (a checkpoint is all pg_basebackup asks of it).
// With req.Encrypt the tar is age-encrypted as it arrives (the stored
// counter hashes the ciphertext; got, what the pod sent).
func (b *base) baseBackup(ctx context.Context, req dumpRequest) (*BackupInfo, error) {
	ps, err := b.openPodStream(ctx, req)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			ps.sink.Abort()
		}
	}()
	stored := NewCounter()
	out, err := req.Encrypt.Wrap(CountingSink(ps.sink, stored))
	if err != nil {
		return nil, cli.Failedf("cannot encrypt: %v", err)
	}
	got := NewCounter()
	scan := newBaseScanner(req.Compression)
	log := &baseLog{}
	prog := newProgress(b.ErrOut, "base backup of "+b.Namespace)
	stderr := &StderrCollector{OnLine: log.line}
	start := b.Now()
	cmd := BaseBackupCommand(req.Compression, "piyasa "+req.Name)
	execErr := ps.ex.Exec(ctx, ps.pod, ps.container, cmd, nil, io.MultiWriter(got, out, prog, scan), stderr)
	prog.done()
	scan.Close()
	if err := b.checkStreamed(ctx, req, streamBase, ps.sink, execErr, stderr, got, scan); err != nil {
		return nil, err
	}
	wal, err := walRange(scan.Label, log)
	if err != nil {
		return nil, cli.Failedf("base backup rejected, nothing written: %v", err)
	}
	end := b.Now()
	meta, err := b.databaseState(ctx, req.Database)
	if err != nil {
		if ctx.Err() != nil {
			return nil, interrupted(req.Target.Location(req.Name), isS3(req.Target))
		}
		return nil, cli.Failedf("base backup taken but the row counts could not be read, nothing written: %v", err)
	}
	if err := ps.commit(ctx, out, req); err != nil {
		return nil, err
	}
	committed = true
	info := &BackupInfo{
		Name: req.Name, Location: req.Target.Location(req.Name),
		Namespace: b.Namespace, Environment: b.Env.Name, Database: req.Database, Format: FormatBaseBackup,
		ServerVersion: meta.ServerVersion, Images: ps.images, AlembicRevision: meta.AlembicRevision,
		StartTime: start.UTC().Truncate(time.Second), EndTime: end.UTC().Truncate(time.Second),
		Compression: string(req.Compression),
		RawBytes:    scan.Raw.N, RawSHA256: scan.Raw.Sum(), StoredBytes: stored.N, StoredSHA256: stored.Sum(),
		Tables: meta.Tables, BackupKind: req.Kind, WAL: wal, Encryption: req.Encrypt.Encryption(),
	}
	if err := writeMeta(ctx, req, info); err != nil {
		return nil, err
	}
	return info, nil
}

// dbState is what a base backup records of the database besides its files.
type dbState struct {
	ServerVersion   string
	AlembicRevision string
	Tables          []TableRows
}

// serverSQL reads the server version and the Alembic revision in one row.
const serverSQL = `SELECT current_setting('server_version'), (` + alembicSQL + `)`

// databaseState reads the server version, the Alembic revision and every app
// table's row count of db (one statement, one snapshot, for the counts).
func (b *base) databaseState(ctx context.Context, db string) (*dbState, error) {
	out, err := b.psql(ctx, db, serverSQL)
	if err != nil {
		return nil, err
	}
	version, rev, _ := strings.Cut(strings.TrimRight(out, "\n"), "\t")
	st := &dbState{ServerVersion: strings.TrimSpace(version), AlembicRevision: strings.TrimSpace(rev)}
	if st.ServerVersion == "" {
		return nil, fmt.Errorf("unexpected psql output %q", out)
	}
	list, err := b.psql(ctx, db, extraTablesSQL)
	if err != nil {
		return nil, err
	}
	var tables []TableRows
	for _, name := range strings.Split(strings.TrimSpace(list), "\n") {
		if name = strings.TrimSpace(name); name != "" {
			tables = append(tables, TableRows{Name: name})
		}
	}
	counts, err := b.countRows(ctx, db, tables)
	if err != nil {
		return nil, err
	}
	st.Tables = sortedTables(counts)
	return st, nil
}
