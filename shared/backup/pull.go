package backup

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// PullOptions are the options of `backup pull`.
type PullOptions struct {
	base
	Name string
	Dir  string
}

// NewCmdPull returns `backup pull NAME`.
func NewCmdPull(g *cli.Global) *cobra.Command {
	o := &PullOptions{base: newBase(g), Dir: "."}
	cmd := &cobra.Command{
		Use:   "pull NAME [--dir DIR]",
		Short: "Copy a backup the CronJob wrote into the backup PVC out, checked against its sha256 and BackupInfo",
		Example: `  kubectl piyasa backup list --in-cluster --env prod
  kubectl piyasa backup pull daily/piyasa_db-piyasa-chatbot-20261201T020000Z.sql.gz --env prod --dir ./backups`,
		Long: `Copy a backup and its BackupInfo out of the backup PVC, checked against the pod's sha256
and the BackupInfo's stored size and sha256. An encrypted backup (*.age) is copied as it is
stored, still encrypted: pull never writes plaintext. With --identity FILE it is also
decrypted and decompressed in memory as it arrives, and its plain dump checked against the
BackupInfo's rawSHA256 (exit 1 and nothing written when no identity fits).`,
		Args: cobra.ExactArgs(1),
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.Dir, "dir", o.Dir, "Directory to write the backup and its BackupInfo into")
	o.Identity.AddFlags(cmd.Flags())
	return cmd
}

// Complete takes NAME.
func (o *PullOptions) Complete(_ *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Name = args[0]
	}
	return o.Global.Complete()
}

// Validate checks NAME (a path inside the PVC, as list --in-cluster prints it).
func (o *PullOptions) Validate() error {
	clean := filepath.ToSlash(filepath.Clean(o.Name))
	if o.Name == "" || strings.HasPrefix(clean, "/") || strings.HasPrefix(clean, "..") || strings.Contains(clean, "/../") || !IsBackupName(clean) {
		return cli.Usagef("invalid backup name %q: give a name as `backup list --in-cluster` prints it (daily/...sql.gz)", o.Name)
	}
	o.Name = clean
	if o.Dir == "" || strings.HasPrefix(o.Dir, S3Scheme) {
		return cli.Usagef("--dir takes a local directory")
	}
	return nil
}

// Run pulls.
func (o *PullOptions) Run(ctx context.Context) error {
	if err := o.loadIdentities(); err != nil {
		return err
	}
	loc, err := o.pull(ctx, o.Name, DirTarget{Dir: o.Dir})
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, loc)
	return nil
}
