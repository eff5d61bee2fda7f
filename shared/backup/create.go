package backup

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

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
	// Kind is the BackupKind recorded in the BackupInfo.
	Kind string

	compression Compression
	target      Target
	name        string
}

// NewCreateOptions returns the defaults.
func NewCreateOptions(g *cli.Global) *CreateOptions {
	return &CreateOptions{base: newBase(g), Print: output.NewFlags(), Compress: string(DefaultCompression)}
}

// NewCmdCreate returns `backup create`.
func NewCmdCreate(g *cli.Global) *cobra.Command {
	o := NewCreateOptions(g)
	cmd := &cobra.Command{
		Use:   "create (-f FILE | --dir DIR | --to s3://BUCKET/PREFIX) [--compress zstd|gzip|none]",
		Short: "Dump piyasa_db from the postgres pod to a file or S3, checked and with its BackupInfo",
		Long: `Run pg_dump --no-owner --no-acl --clean --if-exists of piyasa_db in the postgres pod and
stream it to the target while compressing and hashing. The dump counts only when pg_dump's
exit status (reported by a wrapper in the pod) is 0, the pod's byte count and sha256 equal
what arrived and the dump ends with its completion trailer. The file is written under a
temporary name, synced and renamed; an S3 object is a multipart upload completed only then.
Nothing is left under the final name on a failure, Ctrl-C or a lost connection.
A BackupInfo document is written beside the backup (<backup>.json).`,
		Example: `  kubectl piyasa backup create --env prod --dir ./backups
  kubectl piyasa backup create -f piyasa.sql.gz --compress gzip
  kubectl piyasa backup create --to s3://my-bucket/piyasa -o json`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "Write the backup to this file")
	cmd.Flags().StringVar(&o.Dir, "dir", "", "Write the backup into this directory under a generated name")
	cmd.Flags().StringVar(&o.To, "to", "", "Write the backup to S3: s3://BUCKET/PREFIX (generated name)")
	cmd.Flags().BoolVar(&o.Redis, "redis", false, "Back up Redis instead: BGSAVE, wait for it, copy dump.rdb out with the same checks (name *.rdb[.zst|.gz])")
	cmd.Flags().StringVar(&o.Compress, "compress", o.Compress, "Compression: "+strings.Join(Compressions, "|"))
	_ = cmd.RegisterFlagCompletionFunc("compress", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return Compressions, cobra.ShellCompDirectiveNoFileComp
	})
	o.S3.AddFlags(cmd.Flags())
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete resolves the namespace and environment.
func (o *CreateOptions) Complete(_ *cobra.Command, _ []string) error { return o.Global.Complete() }

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
	n := 0
	for _, s := range []string{o.File, o.Dir, o.To} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return cli.Usagef("give exactly one of -f FILE, --dir DIR or --to s3://BUCKET/PREFIX")
	}
	switch {
	case o.File != "":
		if strings.HasPrefix(o.File, S3Scheme) {
			return cli.Usagef("-f takes a file; use --to for s3:// locations")
		}
		base := filepath.Base(o.File)
		ext := c.Ext()
		if o.Redis {
			ext = c.RDBExt()
		}
		if !strings.HasSuffix(base, ext) {
			return cli.Usagef("file %s does not end in %s, the extension of --compress %s", base, ext, c)
		}
		o.target, o.name = DirTarget{Dir: filepath.Dir(o.File)}, base
	case o.Dir != "":
		if strings.HasPrefix(o.Dir, S3Scheme) {
			return cli.Usagef("--dir takes a directory; use --to for s3:// locations")
		}
		o.target = DirTarget{Dir: o.Dir}
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
	o.Infof("backup of %s in %s: %d tables, %d rows, %s dump stored as %s (%s) in %s\n",
		info.Database, info.Namespace, len(info.Tables), rows, HumanBytes(info.RawBytes), HumanBytes(info.StoredBytes),
		info.Compression, info.EndTime.Sub(info.StartTime))
	fmt.Fprintln(o.Out, info.Location)
	return nil
}

// take runs the dump (or the Redis copy) of a validated CreateOptions and
// returns its checked BackupInfo: what Run prints and Create returns.
func (o *CreateOptions) take(ctx context.Context) (*BackupInfo, error) {
	name := o.name
	var info *BackupInfo
	var err error
	if o.Redis {
		if name == "" {
			name = fmt.Sprintf("redis-%s-%s%s", o.Namespace, o.Now().UTC().Format("20060102T150405Z"), o.compression.RDBExt())
		}
		info, err = o.dumpRedis(ctx, o.target, name, o.compression)
	} else {
		if name == "" {
			name = DefaultName(o.Namespace, o.Now(), o.compression)
		}
		info, err = o.dump(ctx, dumpRequest{Target: o.target, Name: name, Compression: o.compression, Database: app.DatabaseName, Kind: o.Kind})
	}
	return info, err
}
