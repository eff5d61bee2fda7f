package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// KindVerifyResult is the kind of `backup verify -o json`.
const KindVerifyResult = "BackupVerification"

// VerifyResult is the `backup verify -o json|yaml` document.
type VerifyResult struct {
	Location string `json:"location"`
	// OK is true when every check passed.
	OK bool `json:"ok"`
	// Checks names what was checked.
	Checks []string `json:"checks"`
	// Problems names every mismatch.
	Problems []string `json:"problems,omitempty"`
	// ScratchDatabase is the database of the restore test (dropped afterwards).
	ScratchDatabase string      `json:"scratchDatabase,omitempty"`
	Info            *BackupInfo `json:"info,omitempty"`
}

// VerifyOptions are the options of `backup verify`.
type VerifyOptions struct {
	base
	Print       *output.Flags
	RestoreTest bool
	Ref         string
	loc         Location
}

// NewVerifyOptions returns the defaults.
func NewVerifyOptions(g *cli.Global) *VerifyOptions {
	return &VerifyOptions{base: newBase(g), Print: output.NewFlags()}
}

// NewCmdVerify returns `backup verify`.
func NewCmdVerify(g *cli.Global) *cobra.Command {
	o := NewVerifyOptions(g)
	cmd := &cobra.Command{
		Use:   "verify FILE|s3://BUCKET/KEY [--restore-test]",
		Short: "Check a backup's checksums, compression, trailer and metadata; with --restore-test restore it into a scratch database",
		Long: `Read the backup whole and check it against its BackupInfo: the stored size and sha256, the
decompression, the plain dump's size, sha256 and completion trailer, and every table's row
count. With --restore-test, also restore it into a scratch database piyasa_verify_<time> of
the cluster's PostgreSQL (psql -v ON_ERROR_STOP=1 --single-transaction), compare every
table's row count and check that the sequences continue, then drop the scratch database.
Exit 0 only when everything matches; every mismatch is named. A successful verify is
recorded in the BackupInfo (verification.time, verification.restoreTest).

An encrypted backup (*.age) is decrypted as it is read with --identity FILE (age identities,
AGE-SECRET-KEY-1...; repeatable); the restore test streams the plaintext into the pod, never
to a local file. Without --identity it exits 2; with identities that do not fit, 1.`,
		Example: `  kubectl piyasa backup verify backups/piyasa_db-piyasa-chatbot-20261201T020000Z.sql.zst
  kubectl piyasa backup verify s3://my-bucket/piyasa/piyasa_db-piyasa-chatbot-20261201T020000Z.sql.zst --restore-test --env prod`,
		Args: cobra.ExactArgs(1),
		RunE: cli.RunE(o),
	}
	cmd.Flags().BoolVar(&o.RestoreTest, "restore-test", false, "Also restore into a scratch database of the cluster and compare the row counts")
	o.Identity.AddFlags(cmd.Flags())
	o.S3.AddFlags(cmd.Flags())
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete takes the backup argument.
func (o *VerifyOptions) Complete(_ *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Ref = args[0]
	}
	return o.Global.Complete()
}

// Validate checks the flags and the argument (no I/O).
func (o *VerifyOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	loc, err := backupArg(o.Ref, o.S3)
	if err != nil {
		return err
	}
	o.loc = loc
	return nil
}

// Run verifies.
func (o *VerifyOptions) Run(ctx context.Context) error {
	if err := o.loadIdentities(); err != nil {
		return err
	}
	res, err := o.verify(ctx)
	if err != nil {
		return err
	}
	if o.Print.Structured() {
		if err := o.Print.PrintDocument(o.Out, KindVerifyResult, res); err != nil {
			return err
		}
	} else if res.OK {
		fmt.Fprintf(o.Out, "%s: OK (%s)\n", res.Location, joinChecks(res.Checks))
	}
	if !res.OK {
		if o.Print.Structured() {
			return cli.ExitCode(cli.ExitFailed)
		}
		return cli.Failedf("%s is not a good backup: %s", res.Location, joinProblems(res.Problems))
	}
	return nil
}

func joinChecks(c []string) string {
	s := ""
	for i, x := range c {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}

func (o *VerifyOptions) verify(ctx context.Context) (*VerifyResult, error) {
	loc := o.loc
	res := &VerifyResult{Location: loc.Target.Location(loc.Name)}
	chk, err := checkStored(ctx, loc, o.ids)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if ke := keyError(err, cli.ExitFailed, ""); ke != nil {
			return nil, ke
		}
		var ce *cli.Error
		if errors.As(err, &ce) {
			return nil, ce
		}
		return nil, cli.Failedf("%v", err)
	}
	res.Info = chk.Info
	res.Checks = []string{"metadata", "stored sha256", "decompression", "dump sha256", "trailer", "row counts"}
	if chk.Info.IsRedis() {
		res.Checks = []string{"metadata", "stored sha256", "decompression", "rdb sha256", "rdb signature"}
		if o.RestoreTest {
			return nil, cli.Usagef("--restore-test restores PostgreSQL backups; %s is a Redis backup", res.Location)
		}
	}
	if chk.Info.Format == FormatBaseBackup {
		res.Checks = []string{"metadata", "stored sha256", "decompression", "tar sha256", "tar end", "backup_label", "WAL included"}
	}
	res.Problems = chk.Problems
	if len(res.Problems) == 0 && o.RestoreTest && chk.Info.Format == FormatBaseBackup {
		res.Checks = append(res.Checks, "restore test")
		problems, err := o.baseRestoreTest(ctx, loc, chk.Info)
		if err != nil {
			return nil, err
		}
		res.Problems = append(res.Problems, problems...)
	} else if len(res.Problems) == 0 && o.RestoreTest {
		res.Checks = append(res.Checks, "restore test")
		db := "piyasa_verify_" + o.Now().UTC().Format("20060102_150405")
		res.ScratchDatabase = db
		problems, err := o.restoreTest(ctx, loc, chk.Info, db)
		if err != nil {
			return nil, err
		}
		res.Problems = append(res.Problems, problems...)
	}
	res.OK = len(res.Problems) == 0
	if res.OK {
		info := chk.Info
		info.Verification = &Verification{Time: o.Now().UTC().Truncate(time.Second), RestoreTest: o.RestoreTest}
		if data, err := info.Marshal(); err == nil {
			if err := loc.Target.WriteMeta(ctx, loc.Name, data); err != nil {
				o.Infof("warning: could not record the verification in the metadata: %v\n", err)
			}
		}
	}
	return res, nil
}

// restoreTest restores into a scratch database, compares it and drops it.
func (o *VerifyOptions) restoreTest(ctx context.Context, loc Location, info *BackupInfo, db string) ([]string, error) {
	o.Infof("restore test into scratch database %s\n", db)
	if err := o.createDatabase(ctx, db); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, cli.Failedf("cannot create scratch database %s: %v", db, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := o.dropDatabase(dctx, db); err != nil {
			o.Infof("warning: scratch database %s was not dropped: %v (drop it with: DROP DATABASE %s)\n", db, err, db)
		}
	}()
	if err := o.restoreInto(ctx, loc, info, db); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if _, ok := err.(*restoreError); ok {
			return []string{"restore test failed: " + err.Error()}, nil
		}
		return nil, err
	}
	return o.verifyRestored(ctx, db, info)
}
