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
