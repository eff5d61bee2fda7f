// Package backupflags declares the flags that name where a backup goes
// (the S3 settings, s3://BUCKET/PREFIX references) and the "backup first"
// flags of a migration (--backup-first, --no-backup, --backup-dir,
// --backup-to), with their validation and no I/O. It links no S3 client, so
// a binary that only passes these flags on (kubectl-piyasa-deploy to
// kubectl-piyasa-migrate) stays small; shared/backup builds the targets.
package backupflags

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

// Scheme prefixes object storage locations.
const Scheme = "s3://"

// DefaultDir is where a backup first goes when neither --backup-dir nor
// --backup-to is given (created 0700).
const DefaultDir = "./backups"

// S3 are the object storage settings: flags, else the usual AWS environment
// variables (read when the client is made). The secret key is never printed.
type S3 struct {
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	// PathStyle forces path-style bucket addressing (the default for a custom endpoint).
	PathStyle bool
}

// AddFlags adds --s3-endpoint, --s3-region, --s3-access-key, --s3-secret-key.
func (f *S3) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Endpoint, "s3-endpoint", "", "S3 endpoint URL for s3:// locations (default $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)")
	fs.StringVar(&f.Region, "s3-region", "", "S3 region (default $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1)")
	fs.StringVar(&f.AccessKey, "s3-access-key", "", "S3 access key ID (default $AWS_ACCESS_KEY_ID)")
	fs.StringVar(&f.SecretKey, "s3-secret-key", "", "S3 secret access key (default $AWS_SECRET_ACCESS_KEY; prefer the variable: flags are visible in the process list)")
}

// SplitS3 splits an s3://BUCKET/KEY reference; the key may be empty.
func SplitS3(ref string) (bucket, key string, err error) {
	rest := strings.TrimPrefix(ref, Scheme)
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%s names no bucket: use s3://BUCKET/PREFIX", ref)
	}
	return bucket, key, nil
}

// First are --backup-first, --no-backup, --backup-dir, --backup-to and the S3
// settings: a `backup create` before a migration, shared by `migrate up`,
// `migrate down` and `deploy update --migrate`.
type First struct {
	First, No bool
	Dir, To   string
	S3        S3

	// always is true for `migrate down`: the backup is taken unless --no-backup.
	always bool
	// on is the resolved decision (Resolve).
	on bool
}

// AddFlags adds the flags to fs; always makes the backup the default
// (migrate down), without --backup-first.
func (b *First) AddFlags(fs *pflag.FlagSet, always bool) {
	b.always = always
	if !always {
		fs.BoolVar(&b.First, "backup-first", false, "Take a checked backup of the database first (as 'backup create'), under the migrate lock, and record it on the Job; on by default in the prod environment")
		fs.BoolVar(&b.No, "no-backup", false, "Do not take a backup first (turns off the prod default)")
	} else {
		fs.BoolVar(&b.No, "no-backup", false, "Skip the backup that is otherwise always taken first (a warning is printed)")
	}
	fs.StringVar(&b.Dir, "backup-dir", "", "Directory for the backup taken first (default "+DefaultDir+", created 0700)")
	fs.StringVar(&b.To, "backup-to", "", "Put the backup taken first in S3: s3://BUCKET/PREFIX (see the --s3-* flags)")
	b.S3.AddFlags(fs)
}

// Names are the names of the flags AddFlags adds (always false).
func Names() []string {
	fs := pflag.NewFlagSet("backup", pflag.ContinueOnError)
	new(First).AddFlags(fs, false)
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	return names
}

// Resolve decides whether a backup is taken in env (no I/O): --backup-first,
// or always (down), or the prod environment, unless --no-backup.
func (b *First) Resolve(env app.Environment) {
	b.on = !b.No && (b.First || b.always || env.Name == "prod")
}

// On reports whether a backup is taken first (after Resolve).
func (b *First) On() bool { return b.on }

// Given reports whether any of --backup-first, --no-backup, --backup-dir and
// --backup-to was given.
func (b *First) Given() bool { return b.First || b.No || b.Dir != "" || b.To != "" }

// Validate checks the flags (no I/O).
func (b *First) Validate() error {
	if b.First && b.No {
		return exit.Usagef("--backup-first and --no-backup contradict each other: give one")
	}
	if b.Dir != "" && b.To != "" {
		return exit.Usagef("give one of --backup-dir and --backup-to")
	}
	if b.No && (b.Dir != "" || b.To != "") {
		return exit.Usagef("--no-backup takes no --backup-dir or --backup-to")
	}
	if strings.HasPrefix(b.Dir, Scheme) {
		return exit.Usagef("--backup-dir takes a directory; use --backup-to for s3:// locations")
	}
	if b.To != "" {
		if !strings.HasPrefix(b.To, Scheme) {
			return exit.Usagef("--backup-to takes s3://BUCKET/PREFIX; use --backup-dir for a local directory")
		}
		if _, _, err := SplitS3(b.To); err != nil {
			return exit.Usagef("%v", err)
		}
	}
	return nil
}

// Where names the place of the backup (DefaultDir when none was given).
func (b *First) Where() string {
	if b.To != "" {
		return b.To
	}
	if b.Dir != "" {
		return b.Dir
	}
	return DefaultDir
}
