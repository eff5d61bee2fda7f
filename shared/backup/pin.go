package backup

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// PinOptions are the options of `backup pin` and `backup unpin`.
type PinOptions struct {
	base
	Print *output.Flags
	// Pin is true for pin, false for unpin.
	Pin bool
	Ref string
	loc Location
}

// NewPinOptions returns the defaults of pin (pin true) or unpin.
func NewPinOptions(g *cli.Global, pin bool) *PinOptions {
	return &PinOptions{base: newBase(g), Print: output.NewFlags(), Pin: pin}
}

// NewCmdPin returns `backup pin`.
func NewCmdPin(g *cli.Global) *cobra.Command {
	return newCmdPin(g, true)
}

// NewCmdUnpin returns `backup unpin`.
func NewCmdUnpin(g *cli.Global) *cobra.Command {
	return newCmdPin(g, false)
}

func newCmdPin(g *cli.Global, pin bool) *cobra.Command {
	o := NewPinOptions(g, pin)
	cmd := &cobra.Command{
		Use:   "pin FILE|s3://BUCKET/KEY [-o json|yaml]",
		Short: "Keep a backup: backup prune never removes a pinned backup",
		Long: `Mark a backup as pinned in its BackupInfo (<backup>.json, written atomically, as backup
verify records a verification): backup prune never removes it, whatever its age or kind,
until backup unpin. The backup needs a valid BackupInfo. Pinning a pinned backup changes
nothing.`,
		Example: `  kubectl piyasa backup pin backups/piyasa_db-piyasa-chatbot-20261201T020000Z.sql.zst
  kubectl piyasa backup pin s3://my-bucket/piyasa/piyasa_db-piyasa-chatbot-20261201T020000Z.sql.zst`,
		Args: cobra.ExactArgs(1),
		RunE: cli.RunE(o),
	}
	if !pin {
		cmd.Use = "unpin FILE|s3://BUCKET/KEY [-o json|yaml]"
		cmd.Short = "Let retention count a pinned backup again (undo backup pin)"
		cmd.Long = `Clear the pin of a backup in its BackupInfo (<backup>.json, written atomically): backup
prune counts it again by its kind's retention. Unpinning a backup that is not pinned
changes nothing.`
		cmd.Example = `  kubectl piyasa backup unpin backups/piyasa_db-piyasa-chatbot-20261201T020000Z.sql.zst`
	}
	o.S3.AddFlags(cmd.Flags())
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete takes the backup argument.
func (o *PinOptions) Complete(_ *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Ref = args[0]
	}
	return o.Global.Complete()
}

// Validate checks the argument (no I/O).
func (o *PinOptions) Validate() error {
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

// Run sets or clears the pin.
func (o *PinOptions) Run(ctx context.Context) error {
	t, name := o.loc.Target, o.loc.Name
	where := t.Location(name)
	raw, err := t.ReadMeta(ctx, name)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isNotExist(err) {
			return cli.Failedf("no metadata %s%s beside the backup: nothing was changed", where, MetadataSuffix).
				WithHint("only a backup with its BackupInfo can be pinned (see backup list)")
		}
		return cli.Failedf("cannot read the metadata of %s: %v", where, err)
	}
	info, err := ParseInfo(raw)
	if err != nil {
		return cli.Failedf("%s%s: %v; nothing was changed", where, MetadataSuffix, err)
	}
	verb := map[bool]string{true: "pinned", false: "unpinned"}[o.Pin]
	if info.Pinned == o.Pin {
		o.Infof("%s is already %s: nothing changed\n", where, verb)
	} else {
		info.Pinned = o.Pin
		data, err := info.Marshal()
		if err != nil {
			return err
		}
		if err := t.WriteMeta(ctx, name, data); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return cli.Failedf("cannot write the metadata of %s: %v", where, err)
		}
	}
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, KindBackupInfo, info)
	}
	fmt.Fprintf(o.Out, "%s %s\n", where, verb)
	return nil
}
