package deploy

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// SecretRotateOptions of `deploy secret rotate`.
type SecretRotateOptions struct {
	*cli.Global
	EnvFile string
	DryRun  cli.DryRun
	waitFlags

	env *envfile.File
}

// NewSecretRotateOptions returns the defaults.
func NewSecretRotateOptions(g *cli.Global) *SecretRotateOptions {
	return &SecretRotateOptions{Global: g, DryRun: cli.DryRunNone, waitFlags: defaultWait()}
}

// NewCmdSecret groups the Secret commands.
func NewCmdSecret(g *cli.Global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage Secret piyasa-secrets (values are never printed)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	o := NewSecretRotateOptions(g)
	rotate := &cobra.Command{
		Use:   "rotate --env-file FILE",
		Short: "Validate a new .env, replace piyasa-secrets, restart its readers and wait",
		Long: `Validate the new .env as deploy does, replace the data of Secret piyasa-secrets (keys
missing from the file are removed), restart the api and the workers, and wait. Only key
names are shown. PostgreSQL is not restarted: DATABASE_PASSWORD only initialises an empty
data directory, so a changed database password must also be changed in the database
(ALTER USER piyasa_user PASSWORD ...) before the rotation.`,
		Example: `  kubectl piyasa deploy secret rotate --env-file .env.new -n piyasa-chatbot`,
		Args:    cobra.NoArgs,
		RunE:    cli.RunE(o),
	}
	rotate.Flags().StringVar(&o.EnvFile, "env-file", "", "The new .env file")
	cli.AddDryRunFlag(rotate)
	o.waitFlags.add(rotate)
	cmd.AddCommand(rotate)
	return cmd
}

// Complete resolves the environment, namespace and --dry-run, and reads the .env.
func (o *SecretRotateOptions) Complete(cmd *cobra.Command, _ []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	if o.DryRun, err = completeDryRun(cmd, o.Global); err != nil {
		return err
	}
	if o.EnvFile == "" {
		return cli.Usagef("give the new .env with --env-file FILE")
	}
	o.env, err = readEnvFile(o.EnvFile)
	return err
}

// Validate checks the flags (no I/O); the .env is checked against the live
// LLM provider in Run, before anything changes.
func (o *SecretRotateOptions) Validate() error { return o.waitFlags.validate() }

// Run replaces the Secret and restarts its readers.
func (o *SecretRotateOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	provider := ""
	cm, err := cs.CoreV1().ConfigMaps(o.Namespace).Get(ctx, o.Env.ConfigMap(), metav1.GetOptions{})
	switch {
	case err == nil:
		provider = cm.Data[app.KeyLLMProvider]
	case !apierrors.IsNotFound(err):
		return err
	}
	if err := validateEnvFile(o.env, o.Env, provider); err != nil {
		return err
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
	if err != nil {
		return kube.NotFound(err, "namespace "+o.Namespace, o.Namespace)
	}
	if ns.DeletionTimestamp != nil {
		return kube.TerminatingError(o.Namespace)
	}
	sp, err := planSecret(ctx, cs, secretObject(o.Namespace, o.env))
	if err != nil {
		return err
	}
	if err := applySecret(ctx, cs, sp, o.DryRun); err != nil {
		return err
	}
	suffix := o.DryRun.Suffix()
	fmt.Fprintf(o.Out, "secret/%s %s (values not shown)%s\n", app.SecretName, sp.change, suffix)
	if sp.change.Empty() {
		return nil
	}
	if contains(sp.change.Changed, app.KeyDatabasePassword) {
		o.Infof("warning: DATABASE_PASSWORD changed: the database keeps its old password until you change it there (ALTER USER %s PASSWORD ...)\n", app.DatabaseUser)
	}
	readers := readersOf(o.Env, func(c app.Component) bool { return c.UsesSecret && !c.Stateful })
	if o.DryRun.Client() {
		for _, w := range readers {
			fmt.Fprintf(o.Out, "%s/%s restarted%s\n", kindLower(w.Kind), w.Name, suffix)
		}
		return nil
	}
	return restartAndWait(ctx, o.Global, cs, readers, "kubectl piyasa deploy secret rotate", o.DryRun, o.waitFlags)
}
