package deploy

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
)

// InitEnvOptions of `deploy init-env`.
type InitEnvOptions struct {
	*cli.Global
	File string
}

// NewInitEnvOptions returns the defaults.
func NewInitEnvOptions(g *cli.Global) *InitEnvOptions {
	return &InitEnvOptions{Global: g, File: ".env"}
}

// NewCmdInitEnv writes a fresh .env (replaces the guide's python one-liner).
func NewCmdInitEnv(g *cli.Global) *cobra.Command {
	o := NewInitEnvOptions(g)
	cmd := &cobra.Command{
		Use:   "init-env [-f FILE]",
		Short: "Write a new .env with fresh random secrets (mode 0600, never overwriting)",
		Long: `Write a new .env with a random API_KEY, DATABASE_PASSWORD, admin password and API key,
a Fernet TOKEN_ENCRYPTION_KEY and a base32 DEFAULT_ADMIN_MFA_SECRET. The LLM keys hold
the guide's placeholders: put in the key of your LLM_PROVIDER (prod refuses its
placeholder; the other providers' keys are not checked and may be deleted).
The file is created with mode 0600 and an existing file is never replaced. No value is printed.`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", o.File, "The file to write")
	return cmd
}

// Complete has nothing to resolve: init-env never contacts the cluster.
func (o *InitEnvOptions) Complete(*cobra.Command, []string) error { return nil }

// Validate checks -f.
func (o *InitEnvOptions) Validate() error {
	if o.File == "" {
		return cli.Usagef("-f FILE must not be empty")
	}
	return nil
}

// Run writes the file.
func (o *InitEnvOptions) Run(context.Context) error {
	content, err := envfile.Generate()
	if err != nil {
		return cli.Failedf("cannot make random values: %v", err)
	}
	if err := envfile.WriteNew(o.File, content); err != nil {
		return cli.Usagef("%v", err).WithHint("choose another file with -f, or remove the old one yourself")
	}
	fmt.Fprintf(o.Out, "wrote %s (mode 0600)\n", o.File)
	o.Infof("Replace OPENAI_API_KEY (or the key of your LLM_PROVIDER) with your real key before a prod deploy; the other providers' keys are not checked. Keep the file out of version control.\n")
	return nil
}
