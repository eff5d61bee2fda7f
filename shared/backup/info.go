package backup

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// KindBackupInfo is the kind of the metadata document written beside each backup.
const KindBackupInfo = "BackupInfo"

// MetadataSuffix names a backup's metadata file or object: <backup>.json.
const MetadataSuffix = ".json"

// BackupInfo describes one backup. It is stored beside the backup as JSON
// (apiVersion piyasa.io/v1alpha1, kind BackupInfo) and printed by
// `backup create -o json`.
type BackupInfo struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Name is the backup's file or object name (without directory or prefix).
	Name string `json:"name"`
	// Location is where the backup was written: a path or an s3:// URL.
	Location string `json:"location,omitempty"`
	// Namespace and Environment say where the database ran.
	Namespace   string `json:"namespace"`
	Environment string `json:"environment"`
	// Format is pg_dump-plain (a plain SQL dump of PostgreSQL) or redis-rdb (Redis' dump.rdb).
	Format string `json:"format,omitempty"`
	// Database is the dumped database (piyasa_db, or redis).
	Database string `json:"database"`
	// ServerVersion and PgDumpVersion are taken from the dump's own header.
	ServerVersion string `json:"serverVersion"`
	PgDumpVersion string `json:"pgDumpVersion"`
	// Images are the api and worker images running when the backup was taken.
	Images Images `json:"images"`
	// AlembicRevision is the content of alembic_version ("" when the table does not exist).
	AlembicRevision string `json:"alembicRevision,omitempty"`
	// StartTime and EndTime bound the dump.
	StartTime time.Time `json:"startTime"`
	EndTime   time.Time `json:"endTime"`
	// Compression is gzip, zstd or none.
	Compression string `json:"compression"`
	// RawBytes and RawSHA256 describe the plain SQL dump (as pg_dump wrote it);
	// StoredBytes and StoredSHA256 the stored (compressed) file.
	RawBytes     int64  `json:"rawBytes"`
	RawSHA256    string `json:"rawSHA256"`
	StoredBytes  int64  `json:"storedBytes"`
	StoredSHA256 string `json:"storedSHA256"`
	// Tables holds every table's row count, counted from the dump's COPY blocks.
	Tables []TableRows `json:"tables"`
	// Verification is set by `backup verify`.
	Verification *Verification `json:"verification,omitempty"`
	// BackupKind says why the backup was taken (scheduled, manual,
	// pre-migration, pre-restore, safety); retention counts each kind apart.
	// Empty in backups written before kinds existed (read as KindOf says).
	BackupKind string `json:"backupKind,omitempty"`
	// Pinned backups are never removed by retention (`backup pin|unpin`).
	Pinned bool `json:"pinned,omitempty"`
	// WAL is set on base backups (Format FormatBaseBackup): the WAL range that
	// makes the copy consistent; a point-in-time restore replays from StartLSN.
	WAL *WALRange `json:"wal,omitempty"`
	// Encryption is set when the stored file is encrypted (age); it names the
	// recipients' public keys, never a key.
	Encryption *Encryption `json:"encryption,omitempty"`
}

// WALRange is the WAL a base backup needs: from the checkpoint pg_basebackup
// started at to the position it ended at.
type WALRange struct {
	// Timeline is the PostgreSQL timeline the backup was taken on.
	Timeline uint32 `json:"timeline"`
	// StartLSN and EndLSN are PostgreSQL LSNs ("0/3000028").
	StartLSN string `json:"startLSN"`
	EndLSN   string `json:"endLSN"`
	// StartSegment is the first WAL segment a restore needs (000000010000000000000003).
	StartSegment string `json:"startSegment"`
}

// Encryption says how a stored file is encrypted.
type Encryption struct {
	// Method is "age" (filippo.io/age, X25519 recipients).
	Method string `json:"method"`
	// Recipients are the public keys the file is encrypted to (age1...).
	Recipients []string `json:"recipients"`
}

// The kinds of backups (BackupInfo.BackupKind).
const (
	// KindScheduled: taken by the backup CronJob (or nightly-backup.sh).
	KindScheduled = "scheduled"
	// KindManual: taken by hand with `backup create`.
	KindManual = "manual"
	// KindPreMigration: taken by `migrate --backup-first` (and deploy update --migrate).
	KindPreMigration = "pre-migration"
	// KindPreRestore: the safety backup a restore takes of the live database before replacing it.
	KindPreRestore = "pre-restore"
	// KindSafety: any other safety copy taken before a destructive step.
	KindSafety = "safety"
)

// BackupKinds lists the kinds in the order they are documented.
var BackupKinds = []string{KindScheduled, KindManual, KindPreMigration, KindPreRestore, KindSafety}

// Images are the app's images at backup time.
type Images struct {
	API    string `json:"api,omitempty"`
	Worker string `json:"worker,omitempty"`
}

// TableRows is one table's row count.
type TableRows struct {
	// Name is the table as the dump names it, schema-qualified (public.users).
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

// Verification records the last successful `backup verify`.
type Verification struct {
	Time time.Time `json:"time"`
	// RestoreTest is true when the backup was restored into a scratch database
	// and every table's row count matched.
	RestoreTest bool `json:"restoreTest"`
}

// The backup formats.
const (
	FormatPgDump   = "pg_dump-plain"
	FormatRedisRDB = "redis-rdb"
	// FormatBaseBackup is a physical base backup: pg_basebackup's tar of the
	// data directory with the WAL it needs (pg_basebackup -Ft -X fetch -D -).
	FormatBaseBackup = "pg_basebackup-tar"
)

// IsRedis reports a Redis backup.
func (b *BackupInfo) IsRedis() bool { return b.Format == FormatRedisRDB }

// TableMap returns the row counts by table name.
func (b *BackupInfo) TableMap() map[string]int64 {
	m := make(map[string]int64, len(b.Tables))
	for _, t := range b.Tables {
		m[t.Name] = t.Rows
	}
	return m
}

// sortedTables turns a map of counts into a sorted list.
func sortedTables(m map[string]int64) []TableRows {
	out := make([]TableRows, 0, len(m))
	for n, r := range m {
		out = append(out, TableRows{Name: n, Rows: r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Marshal returns the metadata document as indented JSON.
func (b *BackupInfo) Marshal() ([]byte, error) {
	b.APIVersion, b.Kind = app.APIVersion, KindBackupInfo
	raw, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(raw, '\n'), nil
}

// ParseInfo decodes and checks a metadata document.
func ParseInfo(raw []byte) (*BackupInfo, error) {
	var b BackupInfo
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("metadata is not valid JSON: %v", err)
	}
	if b.Kind != KindBackupInfo || b.APIVersion != app.APIVersion {
		return nil, fmt.Errorf("metadata has kind %q apiVersion %q, want %s %s", b.Kind, b.APIVersion, KindBackupInfo, app.APIVersion)
	}
	if _, err := ParseCompression(b.Compression); err != nil {
		return nil, fmt.Errorf("metadata: %v", err)
	}
	if len(b.RawSHA256) != 64 || len(b.StoredSHA256) != 64 || b.RawBytes <= 0 || b.StoredBytes <= 0 {
		return nil, fmt.Errorf("metadata lacks sizes or sha256 sums")
	}
	return &b, nil
}
