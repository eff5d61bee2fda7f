package diagnose

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/piyasa/kubectl-piyasa/shared/bundle"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// BundleOptions are the flags of `diagnose bundle`.
type BundleOptions struct {
	*Options
	File      string
	TailLines int64
	Overwrite bool
}

// NewCmdBundle returns `diagnose bundle -f out.tar.gz`.
func NewCmdBundle(g *cli.Global) *cobra.Command {
	o := &BundleOptions{Options: NewOptions(g), TailLines: 200}
	cmd := &cobra.Command{
		Use:   "bundle -f FILE.tar.gz",
		Short: "Write a redacted support bundle: report, pod and workload status, events, logs of failing pods, the app's objects",
		Long: `Write a gzip-compressed tar with the diagnose report (report.json, report.txt), a status
line per pod (pods.txt), the namespace's events (events.txt), the last log lines of failing
pods (logs/), the failing pods and all the app's objects as YAML (objects/).

Secret data and any ConfigMap value whose key or content looks like a password, token or
key are redacted, and every Secret value of the namespace is scrubbed from every file.`,
		Example: `  kubectl piyasa diagnose bundle --env prod -f piyasa-support.tar.gz`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.File == "" {
				return cli.Usagef("-f FILE.tar.gz is required")
			}
			if _, err := os.Stat(o.File); err == nil && !o.Overwrite {
				return cli.Usagef("%s exists", o.File).WithHint("pass --overwrite or choose another file")
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return cli.Usagef("-f: %v", err)
			}
			if err := o.Options.Complete(); err != nil {
				return err
			}
			rep, err := o.Collect(cmd)
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
			c, err := NewClients(mustConfig(o.Options))
			if err != nil {
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(o.File), ".piyasa-bundle-*")
			if err != nil {
				return cli.Usagef("-f: %v", err)
			}
			defer os.Remove(tmp.Name())
			names, err := bundle.Write(cmd.Context(), tmp, bundle.Input{Namespace: o.Namespace, Kube: c.Kube, Dynamic: c.Dynamic,
				Files: map[string][]byte{"report.json": js.Bytes(), "report.txt": txt.Bytes()}, TailLines: o.TailLines, Now: o.Now()})
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Chmod(tmp.Name(), 0o600); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), o.File); err != nil {
				return err
			}
			o.Infof("wrote %s: %d files, redacted (%s)\n", o.File, len(names), rep.SummaryLine())
			return nil
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "Write the bundle to this file (.tar.gz)")
	cmd.Flags().Int64Var(&o.TailLines, "tail", o.TailLines, "Log lines of each failing container (current and previous)")
	cmd.Flags().BoolVar(&o.Overwrite, "overwrite", false, "Replace FILE if it exists")
	return cmd
}

func mustConfig(o *Options) *rest.Config {
	if o.RESTConfig != nil {
		return o.RESTConfig
	}
	cfg, _ := o.Global.RESTConfig() // already built once by Collect
	return cfg
}
