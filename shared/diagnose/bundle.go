package diagnose

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/bundle"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// BundleOptions are the flags of `diagnose bundle`.
type BundleOptions struct {
	// Diagnose runs the report the bundle holds (every check, default flags).
	Diagnose  *Options
	File      string
	TailLines int64
	Overwrite bool
}

// NewCmdBundle returns `diagnose bundle -f out.tar.gz`.
func NewCmdBundle(g *cli.Global) *cobra.Command {
	o := &BundleOptions{Diagnose: NewOptions(g), TailLines: 200}
	cmd := &cobra.Command{
		Use:   "bundle -f FILE.tar.gz",
		Short: "Write a redacted support bundle: report, pod and workload status, events, logs of failing pods, the app's objects",
		Long: `Write a gzip-compressed tar with the diagnose report (report.json, report.txt), a status
line per pod (pods.txt), the namespace's events (events.txt), the last log lines of failing
pods (logs/), the failing pods and all the app's objects as YAML (objects/). -f - writes
the archive to standard output.

Secret data and any ConfigMap value whose key or content looks like a password, token or
key are redacted, and every Secret value of the namespace is scrubbed from every file.
Without the right to list Secrets their values cannot be scrubbed: the logs are left out,
the other files are masked for credential patterns only, and the command says so.`,
		Example: `  kubectl piyasa diagnose bundle --env prod -f piyasa-support.tar.gz
  kubectl piyasa diagnose bundle --env prod -f - | tar -tzf -`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "Write the bundle to this file (.tar.gz), or to standard output with -")
	cmd.Flags().Int64Var(&o.TailLines, "tail", o.TailLines, "Log lines of each failing container (current and previous)")
	cmd.Flags().BoolVar(&o.Overwrite, "overwrite", false, "Replace FILE if it exists")
	return cmd
}

// toStdout tells whether -f - was given.
func (o *BundleOptions) toStdout() bool { return o.File == "-" }

// Complete checks -f against the file system (it must be writable there and
// not exist unless --overwrite), before the first request to the cluster.
func (o *BundleOptions) Complete(cmd *cobra.Command, args []string) error {
	if o.File == "" {
		return cli.Usagef("-f FILE.tar.gz is required (or -f - for standard output)")
	}
	if !o.toStdout() {
		if _, err := os.Stat(o.File); err == nil && !o.Overwrite {
			return cli.Usagef("%s exists", o.File).WithHint("pass --overwrite or choose another file")
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return cli.Usagef("-f %s: %v", o.File, pathErr(err))
		}
		dir := filepath.Dir(o.File)
		if st, err := os.Stat(dir); err != nil {
			return cli.Usagef("-f %s: directory %s: %v", o.File, dir, pathErr(err))
		} else if !st.IsDir() {
			return cli.Usagef("-f %s: %s is not a directory", o.File, dir)
		}
	}
	return o.Diagnose.Complete(cmd, args)
}

// Validate checks the flags; it does no I/O.
func (o *BundleOptions) Validate() error {
	if o.TailLines < 1 {
		return cli.Usagef("--tail must be at least 1")
	}
	return o.Diagnose.Validate()
}

// Run collects the report and writes the bundle: to a temporary file beside
// -f that is renamed into place when complete (mode 0600), or to stdout.
func (o *BundleOptions) Run(ctx context.Context) error {
	d := o.Diagnose
	rep, c, err := d.Report(ctx)
	if err != nil {
		return err
	}
	var js, txt bytes.Buffer
	if err := output.PrintDocument(&js, output.JSON, "DiagnoseReport", rep); err != nil {
		return err
	}
	if err := PrintTable(&txt, rep, true); err != nil {
		return err
	}
	in := bundle.Input{Namespace: d.Namespace, Kube: c.Kube, Dynamic: c.Dynamic,
		Files: map[string][]byte{"report.json": js.Bytes(), "report.txt": txt.Bytes()}, TailLines: o.TailLines, Now: d.Now()}
	if o.toStdout() {
		res, err := bundle.Write(ctx, d.Out, in)
		if err != nil {
			return err
		}
		d.Infof("wrote the bundle to standard output: %d files, %s (%s)\n", len(res.Files), redaction(res), rep.SummaryLine())
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.File), ".piyasa-bundle-*")
	if err != nil {
		return cli.Failedf("-f %s: cannot write there: %v", o.File, pathErr(err))
	}
	defer os.Remove(tmp.Name())
	res, err := bundle.Write(ctx, tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return cli.Failedf("-f %s: %v", o.File, pathErr(err))
	}
	if err := os.Rename(tmp.Name(), o.File); err != nil {
		return cli.Failedf("-f %s: %v", o.File, pathErr(err))
	}
	d.Infof("wrote %s: %d files, %s (%s)\n", o.File, len(res.Files), redaction(res), rep.SummaryLine())
	return nil
}

// redaction says how far the bundle is redacted: "redacted" only when the
// Secret values could be scrubbed from it.
func redaction(res bundle.Result) string {
	if res.Redacted {
		return "redacted"
	}
	return "Secret values NOT scrubbed (you may not list secrets): logs left out, credential patterns masked"
}

// pathErr drops the path of a file-system error (which may be an internal
// temporary name): the message names the user's path instead.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
