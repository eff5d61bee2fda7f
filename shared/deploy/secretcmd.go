package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// SecretRotateOptions of `deploy secret rotate`.
type SecretRotateOptions struct {
	*cli.Global
	EnvFile string
	DryRun  string
	Wait    bool
	Timeout time.Duration
}

// NewCmdSecret groups the Secret commands.
func NewCmdSecret(g *cli.Global, _ genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage Secret piyasa-secrets (values are never printed)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	o := &SecretRotateOptions{Global: g, DryRun: DryRunNone, Wait: true, Timeout: DefaultTimeout}
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := validateDryRun(o.DryRun); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	rotate.Flags().StringVar(&o.EnvFile, "env-file", "", "The new .env file")
	addDryRun(rotate, &o.DryRun)
	addWait(rotate, &o.Wait, &o.Timeout)
	cmd.AddCommand(rotate)
	return cmd
}

// Run replaces the Secret and restarts its readers.
func (o *SecretRotateOptions) Run(ctx context.Context) error {
	provider := ""
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	if o.EnvFile == "" {
		return cli.Usagef("give the new .env with --env-file FILE")
	}
	if cm, err := cs.CoreV1().ConfigMaps(o.Namespace).Get(ctx, o.Env.ConfigMap(), metav1.GetOptions{}); err == nil {
		provider = cm.Data[app.KeyLLMProvider]
	}
	f, err := loadEnvFile(o.EnvFile, o.Env, provider)
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{}); err != nil {
		return notFoundHint(err, "namespace "+o.Namespace, o.Namespace)
	}
	change, err := putSecret(ctx, cs, secretObject(o.Namespace, f), o.DryRun)
	if err != nil {
		return err
	}
	suffix := dryRunSuffix(o.DryRun)
	fmt.Fprintf(o.Out, "secret/%s %s (values not shown)%s\n", app.SecretName, change, suffix)
	if change.Empty() {
		return nil
	}
	if contains(change.Changed, app.KeyDatabasePassword) {
		o.Infof("warning: DATABASE_PASSWORD changed: the database keeps its old password until you change it there (ALTER USER %s PASSWORD ...)\n", app.DatabaseUser)
	}
	readers := readersOf(o.Env, func(c app.Component) bool { return c.UsesSecret && !c.Stateful })
	if o.DryRun == DryRunClient {
		for _, w := range readers {
			fmt.Fprintf(o.Out, "%s/%s restarted%s\n", kindLower(w.Kind), w.Name, suffix)
		}
		return nil
	}
	return restartAndWait(ctx, o.Global, cs, readers, "kubectl piyasa deploy secret rotate", o.DryRun, o.Wait, o.Timeout)
}
