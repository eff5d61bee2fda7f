package app

import "time"

// Continuous WAL archiving of the postgres workload, the base of point-in-time
// recovery. PostgreSQL's archive_command copies every finished WAL segment into
// a volume of its own; `backup wal sync` copies the segments off the cluster.
const (
	// WALArchivePVC is the volume archive_command copies finished WAL segments into.
	WALArchivePVC = "postgres-wal-archive"
	// WALArchiveDir is where that volume is mounted, in the postgres pod and in restore pods.
	WALArchiveDir = "/var/lib/postgresql/wal-archive"
	// PGDataDir is PostgreSQL's data directory in the postgres pod (PGDATA).
	PGDataDir = "/var/lib/postgresql/data/pgdata"
	// DefaultArchiveTimeout is archive_timeout: a segment is archived at least this
	// often while anything is written, so it bounds the data a disaster loses.
	DefaultArchiveTimeout = 60 * time.Second
)

// EnvWALArchiveDir is the postgres container's variable naming the archive
// directory (WALArchiveDir in the cluster). Everything that runs in the pod
// (archive_command, `backup wal sync`, restores) reads the directory from it and
// from PGDATA, never from a literal path, so a test can run them on its own machine.
const EnvWALArchiveDir = "WAL_ARCHIVE_DIR"

// ArchiveCommand is PostgreSQL's archive_command: it copies the finished segment
// %p to $WAL_ARCHIVE_DIR/%f under a temporary name and renames it, so a
// segment in the archive is always whole. A segment already archived counts as
// done only when it is byte-identical (PostgreSQL retries after a crash); a
// different file of that name is never overwritten and archiving fails loudly.
const ArchiveCommand = `test -f "$WAL_ARCHIVE_DIR/%f" && cmp -s "%p" "$WAL_ARCHIVE_DIR/%f" || ` +
	`{ test ! -f "$WAL_ARCHIVE_DIR/%f" && cp "%p" "$WAL_ARCHIVE_DIR/%f.part" && mv "$WAL_ARCHIVE_DIR/%f.part" "$WAL_ARCHIVE_DIR/%f"; }`
