package backup

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// CreateOptions are the options of `backup create`.
type CreateOptions struct {
	base
	Print *output.Flags
	// File, Dir and To are the three exclusive targets.
	File, Dir, To string
	Compress      string
	// Redis backs up Redis' dump.rdb instead of PostgreSQL.
	Redis bool
	// Physical takes a base backup (pg_basebackup) instead of a dump.
	Physical bool
	// Overwrite lets -f replace an existing backup.
	Overwrite bool
	// Kind is recorded as the BackupInfo's backupKind (default manual).
	Kind string
	// Encrypt are --encrypt-to and --recipients-file.
	Encrypt EncryptFlags
	// CompressInPod makes pg_dump compress in the pod (none|gzip|zstd).
	CompressInPod string

	compressSet bool
	compression Compression
	podCompress Compression
	target      Target
	name        string
}

// NewCreateOptions returns the defaults.
func NewCreateOptions(g *cli.Global) *CreateOptions {
	return &CreateOptions{base: newBase(g), Print: output.NewFlags(), Compress: string(DefaultCompression), Kind: KindManual}
}

// NewCmdCreate returns `backup create`.
func NewCmdCreate(g *cli.Global) *cobra.Command {
	o := NewCreateOptions(g)
	cmd := &cobra.Command{
		Use:   "create (-f FILE | --dir DIR | --to s3://BUCKET/PREFIX) [--physical | --redis] [--compress zstd|gzip|none] [--kind manual|scheduled|...] [--encrypt-to age1... | --recipients-file FILE]",
		Short: "Dump piyasa_db from the postgres pod to a file or S3, checked and with its BackupInfo",
		Long: `Run pg_dump --no-owner --no-acl --clean --if-exists of piyasa_db in the postgres pod and
stream it to the target while compressing and hashing. The dump counts only when pg_dump's
exit status (reported by a wrapper in the pod) is 0, the pod's byte count and sha256 equal
what arrived and the dump ends with its completion trailer. The file is written under a
temporary name, synced and renamed; an S3 object is a multipart upload completed only then.
Nothing is left under the final name on a failure, Ctrl-C or a lost connection.
A BackupInfo document is written beside the backup (<backup>.json), with the backup's
kind (--kind, default manual; nightly-backup.sh passes scheduled): backup prune counts
each kind apart, and keeps pre-migration, pre-restore and safety copies for days.

-f FILE takes its compression from the name (.sql.zst, .sql.gz, .sql) and refuses
an existing FILE unless --overwrite is given. --dir and --to generate a name
with the time to the millisecond; one that is taken gets a -2, -3... suffix. A
missing --dir is created 0700.

--physical takes a base backup instead (point-in-time recovery starts from it):
pg_basebackup -Ft -X fetch -D - in the pod, compressed there, checked as a dump is,
named *.tar[.zst|.gz], its BackupInfo with the WAL range; it only reads the database.

--encrypt-to age1... (repeatable) and --recipients-file FILE encrypt the backup with age
to those X25519 public keys as it streams: only ciphertext reaches the disk or the bucket,
under a name ending in .age (-f FILE must end so). storedSHA256 and storedBytes describe
the encrypted file, rawSHA256 the plain dump; the BackupInfo names the recipients.
Reading it back (verify, restore, pull) needs --identity FILE with a matching secret key.
A base backup (--physical) is encrypted alike (*.tar.zst.age).

--compress-in-pod gzip|zstd has pg_dump compress in the pod (-Z 1; zstd needs pg_dump 16):
fewer bytes cross the exec stream. The pod's byte count and sha256 then describe that
stream; the client expands it as it arrives to hash the plain dump (rawSHA256), count the
rows and check the trailer, and stores it as it came when --compress is the same.`,
		Example: `  kubectl piyasa backup create --env prod --dir ./backups
  kubectl piyasa backup create -f piyasa.sql.gz
  kubectl piyasa backup create --to s3://my-bucket/piyasa -o json
  kubectl piyasa backup create --physical --dir ./backups
  kubectl piyasa backup create --dir ./backups --encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "Write the backup to this file")
	cmd.Flags().StringVar(&o.Dir, "dir", "", "Write the backup into this directory under a generated name")
	cmd.Flags().StringVar(&o.To, "to", "", "Write the backup to S3: s3://BUCKET/PREFIX (generated name)")
	cmd.Flags().BoolVar(&o.Overwrite, "overwrite", false, "With -f: replace FILE if it exists (refused otherwise)")
	cmd.Flags().BoolVar(&o.Physical, "physical", false, "Take a base backup instead (pg_basebackup: the data directory and its WAL as one tar, compressed in the pod, name *.tar[.zst|.gz]), the start of point-in-time recovery")
	cmd.Flags().BoolVar(&o.Redis, "redis", false, "Back up Redis instead: BGSAVE, wait for it, copy dump.rdb out with the same checks (name *.rdb[.zst|.gz])")
	cmd.Flags().StringVar(&o.Compress, "compress", o.Compress, "Compression: "+strings.Join(Compressions, "|")+" (with -f: taken from the file name)")
	cmd.Flags().StringVar(&o.Kind, "kind", o.Kind, "Why the backup is taken, recorded for retention: "+strings.Join(BackupKinds, "|"))
	_ = cmd.RegisterFlagCompletionFunc("kind", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return BackupKinds, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("compress", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return Compressions, cobra.ShellCompDirectiveNoFileComp
	})
	cmd.Flags().StringVar(&o.CompressInPod, "compress-in-pod", "", "Have pg_dump compress in the pod ("+strings.Join(PodCompressions, "|")+"; zstd needs pg_dump 16): fewer bytes over the exec stream; stored as they come when --compress is the same")
	o.Encrypt.AddFlags(cmd.Flags())
	o.S3.AddFlags(cmd.Flags())
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete resolves the namespace and environment.
func (o *CreateOptions) Complete(cmd *cobra.Command, _ []string) error {
	o.compressSet = cmd.Flags().Changed("compress")
	return o.Global.Complete()
}

// Validate checks the flags (no I/O).
func (o *CreateOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	c, err := ParseCompression(o.Compress)
	if err != nil {
		return cli.Usagef("%v", err)
	}
	o.compression = c
	if !knownKind(o.Kind) {
		return cli.Usagef("--kind %q is not a backup kind: use %s", o.Kind, strings.Join(BackupKinds, "|"))
	}
	if err := o.validatePhysical(); err != nil {
		return err
	}
	if err := o.Encrypt.Validate(); err != nil {
		return err
	}
	if o.podCompress, err = ParsePodCompression(o.CompressInPod); err != nil {
		return cli.Usagef("%v", err)
	}
	if (o.Redis || o.Physical) && o.podCompress != None {
		return cli.Usagef("--compress-in-pod applies to pg_dump, not to --redis or --physical (pg_basebackup always compresses in the pod)")
	}
	n := 0
	for _, s := range []string{o.File, o.Dir, o.To} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return cli.Usagef("give exactly one of -f FILE, --dir DIR or --to s3://BUCKET/PREFIX").
			WithHint("e.g. kubectl piyasa backup create --env %s --dir ./backups (a generated name), or -f piyasa.sql.zst", o.envName())
	}
	if o.Overwrite && o.File == "" {
		return cli.Usagef("--overwrite goes with -f FILE: --dir and --to generate a name that is not taken")
	}
	switch {
	case o.File != "":
		if strings.HasPrefix(o.File, S3Scheme) {
			return cli.Usagef("-f takes a file; use --to for s3:// locations")
		}
		base, err := o.plainFileName()
		if err != nil {
			return err
		}
		if !o.compressSet {
			if inferred := CompressionForName(base); inferred != "" {
				c = inferred
				o.compression = c
			}
		}
		ext := o.ext(c)
		if !strings.HasSuffix(base, ext) {
			if !o.compressSet {
				exts := []string{o.ext(Zstd), o.ext(Gzip), o.ext(None)}
				return cli.Usagef("file %s does not end in %s, %s or %s: the name says the compression", base, exts[0], exts[1], exts[2])
			}
			return cli.Usagef("file %s does not end in %s, the extension of --compress %s", base, ext, c)
		}
		o.target, o.name = DirTarget{Dir: filepath.Dir(o.File), NoReplace: !o.Overwrite}, filepath.Base(o.File)
	case o.Dir != "":
		if strings.HasPrefix(o.Dir, S3Scheme) {
			return cli.Usagef("--dir takes a directory; use --to for s3:// locations")
		}
		o.target = DirTarget{Dir: o.Dir, NoReplace: true}
	default:
		if !strings.HasPrefix(o.To, S3Scheme) {
			return cli.Usagef("--to takes s3://BUCKET/PREFIX; use --dir or -f for local files")
		}
		t, err := ParseTargetRef(o.To, o.S3)
		if err != nil {
			return cli.Usagef("%v", err)
		}
		o.target = t
	}
	return nil
}

// plainFileName is -f's base name without .age, which it must have when
// encrypting and must not have otherwise.
func (o *CreateOptions) plainFileName() (string, error) {
	base := filepath.Base(o.File)
	switch enc := IsEncryptedName(base); {
	case o.Encrypt.Set() && !enc:
		return "", cli.Usagef("file %s does not end in %s: an encrypted backup's name says so (e.g. %s%s)", base, EncryptedSuffix, base, EncryptedSuffix)
	case !o.Encrypt.Set() && enc:
		return "", cli.Usagef("file %s ends in %s but no recipient is given: add --encrypt-to age1... or --recipients-file FILE", base, EncryptedSuffix)
	}
	return strings.TrimSuffix(base, EncryptedSuffix), nil
}

// Run takes the backup.
func (o *CreateOptions) Run(ctx context.Context) error {
	info, err := o.take(ctx)
	if err != nil {
		return err
	}
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, KindBackupInfo, info)
	}
	rows := int64(0)
	for _, t := range info.Tables {
		rows += t.Rows
	}
	how := info.Compression
	if info.Encryption != nil {
		how += fmt.Sprintf(", age-encrypted to %d recipient(s)", len(info.Encryption.Recipients))
	}
	if info.WAL != nil {
		o.Infof("base backup of %s: %d tables, %d rows, %s data directory stored as %s (%s) in %s, WAL %s to %s on timeline %d\n",
			info.Namespace, len(info.Tables), rows, HumanBytes(info.RawBytes), HumanBytes(info.StoredBytes),
			how, info.EndTime.Sub(info.StartTime), info.WAL.StartLSN, info.WAL.EndLSN, info.WAL.Timeline)
		fmt.Fprintln(o.Out, info.Location)
		return nil
	}
	o.Infof("backup of %s in %s: %d tables, %d rows, %s dump stored as %s (%s) in %s\n",
		info.Database, info.Namespace, len(info.Tables), rows, HumanBytes(info.RawBytes), HumanBytes(info.StoredBytes),
		how, info.EndTime.Sub(info.StartTime))
	fmt.Fprintln(o.Out, info.Location)
	return nil
}

func (o *CreateOptions) envName() string {
	if o.Env.Name != "" {
		return o.Env.Name
	}
	return "prod"
}

// take runs the dump (or the Redis copy) of a validated CreateOptions and
// returns its checked BackupInfo: what Run prints and Create returns.
func (o *CreateOptions) take(ctx context.Context) (*BackupInfo, error) {
	enc, err := o.Encrypt.Recipients()
	if err != nil {
		return nil, err
	}
	name, err := o.targetName(ctx, enc)
	if err != nil {
		return nil, err
	}
	var info *BackupInfo
	req := dumpRequest{Target: o.target, Name: name, Compression: o.compression, Database: app.DatabaseName, Kind: o.Kind, Encrypt: enc, PodCompression: o.podCompress}
	switch {
	case o.Redis:
		info, err = o.dumpRedis(ctx, o.target, name, o.compression, o.Kind, enc)
	case o.Physical:
		info, err = o.baseBackup(ctx, req)
	default:
		info, err = o.dump(ctx, req)
	}
	var e *cli.Error
	if err != nil && ctx.Err() != nil && !(errors.As(err, &e) && e.Code == cli.ExitInterrupted) {
		// stopped before or after the data phase (finding the pod, the metadata)
		return nil, interrupted(o.target.Location(name), isS3(o.target))
	}
	return info, err
}

// targetName is the name the backup is written under: -f's, refused when it
// exists without --overwrite (exit 2); else a generated one (nameFor), with a
// -2, -3... suffix when taken (two backups in one millisecond, or a fixed
// clock), ending in .age when encrypted to enc.
func (o *CreateOptions) targetName(ctx context.Context, enc *Recipients) (string, error) {
	ec, _ := o.target.(existsChecker)
	if o.name != "" {
		if o.Overwrite || ec == nil {
			return o.name, nil
		}
		taken, err := ec.Exists(ctx, o.name)
		if err != nil {
			return "", cli.Failedf("cannot check %s: %v", o.target.Location(o.name), err)
		}
		if taken {
			return "", cli.Usagef("%s exists: not replaced, nothing was written", o.target.Location(o.name)).
				WithHint("replace it with --overwrite, or use --dir %s for a generated name", filepath.Dir(o.File))
		}
		return o.name, nil
	}
	ext := o.ext(o.compression)
	stem := strings.TrimSuffix(nameFor(o.Namespace, o.Now(), o.compression, o.Kind), o.compression.Ext())
	if o.Redis {
		stem = fmt.Sprintf("redis-%s-%s", o.Namespace, o.Now().UTC().Format(NameStampLayout))
	}
	ext = enc.Name(ext)
	name := stem + ext
	for i := 2; ec != nil; i++ {
		taken, err := ec.Exists(ctx, name)
		if err != nil {
			return "", cli.Failedf("cannot check %s: %v", o.target.Location(name), err)
		}
		if !taken {
			break
		}
		name = fmt.Sprintf("%s-%d%s", stem, i, ext)
	}
	return name, nil
}

// nameFor is the generated name of a backup of kind: DefaultName, with the
// kind before the extension for the copies taken before a change
// (piyasa_db-NS-TIME-pre-migration.sql.zst, as a restore names its
// pre-restore copy), so that such a copy never takes the name of a scheduled
// or manual backup of the same second.
func nameFor(ns string, t time.Time, c Compression, kind string) string {
	name := DefaultName(ns, t, c)
	if isPinnedKind(kind) {
		name = strings.TrimSuffix(name, c.Ext()) + "-" + kind + c.Ext()
	}
	return name
}

// ext is the file name extension of this backup so compressed: a dump's,
// a Redis copy's or a base backup's.
func (o *CreateOptions) ext(c Compression) string {
	switch {
	case o.Redis:
		return c.RDBExt()
	case o.Physical:
		return c.TarExt()
	}
	return c.Ext()
}

// validatePhysical checks what --physical allows: not with --redis, and only
// the kinds a base backup is taken for (manual, scheduled).
func (o *CreateOptions) validatePhysical() error {
	if !o.Physical {
		return nil
	}
	if o.Redis {
		return cli.Usagef("--physical and --redis exclude each other: a base backup is of PostgreSQL")
	}
	if o.Kind != KindManual && o.Kind != KindScheduled {
		return cli.Usagef("--physical takes --kind %s or %s: copies before a change are logical dumps (backup create without --physical)", KindManual, KindScheduled)
	}
	return nil
}
