package backup

import (
	"context"
	"os"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// CreateSpec is one PostgreSQL backup taken by another command (`migrate up
// --backup-first`, `migrate down`, `deploy update --migrate`): exactly one of
// Dir and To, as `backup create --dir` / `--to`.
type CreateSpec struct {
	// Dir is a local directory (created 0700 when missing).
	Dir string
	// To is s3://BUCKET/PREFIX.
	To string
	// Compress is zstd, gzip or none ("" is the default).
	Compress string
	// S3 holds the object storage settings for To (nil: the environment's).
	S3 *S3Flags
	// Executor runs commands in pods (nil: the exec API).
	Executor Executor
	// Kind is recorded as the BackupInfo's backupKind ("": pre-migration,
	// the copy taken before a migration, kept by its own retention).
	Kind string
	// Encrypt encrypts the backup with age, as create --encrypt-to and
	// --recipients-file do (zero: not encrypted).
	Encrypt EncryptFlags
}

// Create takes a backup as `backup create` does, with the same checks (pg_dump's
// status, byte count, sha256 and trailer) and its BackupInfo beside it, and
// returns that BackupInfo. Nothing is printed on standard output.
func Create(ctx context.Context, g *cli.Global, spec CreateSpec) (*BackupInfo, error) {
	o := NewCreateOptions(g)
	o.Dir, o.To = spec.Dir, spec.To
	if spec.Compress != "" {
		o.Compress = spec.Compress
	}
	if spec.S3 != nil {
		o.S3 = spec.S3
	}
	o.Executor = spec.Executor
	o.Kind = spec.Kind
	o.Encrypt = spec.Encrypt
	if o.Kind == "" {
		o.Kind = KindPreMigration
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if spec.Dir != "" {
		if err := os.MkdirAll(spec.Dir, 0o700); err != nil {
			return nil, cli.Failedf("cannot create the backup directory %s: %v", spec.Dir, err)
		}
	}
	return o.take(ctx)
}
