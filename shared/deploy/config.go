package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
)

// ConfigOptions of `deploy config set|unset`.
type ConfigOptions struct {
	*cli.Global
	// Unset selects `config unset KEY...` instead of `config set KEY=VALUE...`.
	Unset  bool
	DryRun cli.DryRun
	waitFlags

	args  []string
	set   map[string]string
	unset []string
}

// NewConfigOptions returns the defaults of config set (unset: config unset).
func NewConfigOptions(g *cli.Global, unset bool) *ConfigOptions {
	return &ConfigOptions{Global: g, Unset: unset, DryRun: cli.DryRunNone, waitFlags: defaultWait()}
}

// NewCmdConfig groups config set and unset.
func NewCmdConfig(g *cli.Global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Change piyasa-config and restart only the workloads that read it",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	for _, unset := range []bool{false, true} {
		o := NewConfigOptions(g, unset)
		c := &cobra.Command{
			Use:   "set KEY=VALUE...",
			Short: "Set keys of piyasa-config, restart api and worker, and wait (until the next deploy, which puts the manifests' values back)",
			Example: `  kubectl piyasa deploy config set LOG_LEVEL=INFO LLM_MODEL=gpt-4o -n piyasa-chatbot-dev
  kubectl piyasa deploy config unset FEATURE_X -n piyasa-chatbot-dev`,
			Args: cobra.MinimumNArgs(1),
			RunE: cli.RunE(o),
		}
		if unset {
			c.Use, c.Short = "unset KEY...", "Remove keys from piyasa-config, restart api and worker, and wait"
		}
		cli.AddDryRunFlag(c)
		o.waitFlags.add(c)
		cmd.AddCommand(c)
	}
	return cmd
}

// Complete resolves the environment, namespace and --dry-run and keeps the arguments.
func (o *ConfigOptions) Complete(cmd *cobra.Command, args []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	o.DryRun, err = completeDryRun(cmd, o.Global)
	o.args = args
	return err
}

var configKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// protectedKeys cannot be unset: the app or its manifests read them.
func protectedKeys() []string {
	return append(append([]string{}, app.ConfigKeys...), app.KeyDatabaseHost, app.KeyDatabasePort, app.KeyDatabaseName, app.KeyDatabaseUser)
}

// Validate checks every KEY=VALUE (no I/O): secret-looking entries (by key or
// value, the rule diagnose and redact use), TOTAL_WORKERS, URLs, providers,
// log levels and CORS origins are refused.
func (o *ConfigOptions) Validate() error {
	if err := o.waitFlags.validate(); err != nil {
		return err
	}
	o.set, o.unset = map[string]string{}, nil
	for _, a := range o.args {
		key, val, hasEq := strings.Cut(a, "=")
		if o.Unset {
			if hasEq {
				return cli.Usagef("unset takes KEY, not KEY=VALUE")
			}
			if contains(protectedKeys(), key) {
				e := cli.Usagef("%s cannot be unset: the app needs it", key)
				if key == app.KeyTotalWorkers {
					return e.WithHint("change the worker count and TOTAL_WORKERS together with: kubectl piyasa scale worker N -n %s", o.Namespace)
				}
				return e.WithHint("change it with: kubectl piyasa deploy config set %s=VALUE -n %s", key, o.Namespace)
			}
			o.unset = append(o.unset, key)
			continue
		}
		if !hasEq {
			return cli.Usagef("%q is not KEY=VALUE", key)
		}
		if !configKeyRE.MatchString(key) {
			return cli.Usagef("invalid key %q: use letters, digits, _ . -", key)
		}
		if _, dup := o.set[key]; dup {
			return cli.Usagef("%s is given twice", key)
		}
		if err := checkConfigEntry(key, val, o.Namespace); err != nil {
			return err
		}
		o.set[key] = val
	}
	return nil
}

// checkConfigEntry refuses a KEY=VALUE that does not belong in piyasa-config.
func checkConfigEntry(key, val, ns string) error {
	switch key {
	case app.KeyTotalWorkers:
		return cli.Usagef("TOTAL_WORKERS must equal the worker replicas: change both with: kubectl piyasa scale worker N -n %s", ns)
	case app.KeyDatabaseURL, app.KeyRedisURL:
		u, err := url.Parse(val)
		if err != nil || u.Host == "" {
			return cli.Usagef("%s is not a URL", key)
		}
		if redact.URLPassword(val) {
			return cli.Usagef("%s must not hold a password: the password comes from Secret piyasa-secrets (a ConfigMap is readable by anyone who can read the namespace's configuration)", key)
		}
		return nil
	}
	if redact.SensitiveEntry(key, val) {
		return cli.Usagef("%s looks secret (by its name or value): it belongs in Secret piyasa-secrets, not in the ConfigMap, whose values are stored and shown in plain text", key).
			WithHint("add it to the .env you deployed with and run: kubectl piyasa deploy secret rotate --env-file FILE -n %s", ns)
	}
	switch key {
	case app.KeyLLMProvider:
		if _, ok := app.LLMProviderKeys[val]; !ok {
			return cli.Usagef("LLM_PROVIDER must be one of %s", strings.Join(providers(), ", "))
		}
	case app.KeyLogLevel:
		switch val {
		case "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL":
		default:
			return cli.Usagef("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
		}
	case app.KeyCORSOrigins:
		if strings.Contains(val, "*") {
			return cli.Usagef("CORS_ALLOWED_ORIGINS must list origins, not *: a wildcard lets any web site call the API from a user's browser")
		}
	}
	return nil
}

func providers() []string {
	out := make([]string, 0, len(app.LLMProviderKeys))
	for p := range app.LLMProviderKeys {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Run patches the ConfigMap, then restarts its readers and waits.
func (o *ConfigOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	name := o.Env.ConfigMap()
	cm, err := cs.CoreV1().ConfigMaps(o.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return kube.NotFound(err, "configmap/"+name, o.Namespace)
	}
	if p, ok := o.set[app.KeyLLMProvider]; ok && cm.Data[app.KeyLLMProvider] != p {
		if err := o.checkProviderKey(ctx, p); err != nil {
			return err
		}
	}
	patchData := map[string]any{}
	var changed []string
	for k, v := range o.set {
		if old, ok := cm.Data[k]; !ok || old != v {
			patchData[k] = v
			changed = append(changed, k)
		}
	}
	for _, k := range o.unset {
		if _, ok := cm.Data[k]; !ok {
			return cli.Usagef("configmap/%s has no key %s", name, k)
		}
		patchData[k] = nil
		changed = append(changed, k)
	}
	sort.Strings(changed)
	if len(changed) == 0 {
		fmt.Fprintf(o.Out, "configmap/%s unchanged\n", name)
		return nil
	}
	suffix := o.DryRun.Suffix()
	readers := readersOf(o.Env, func(c app.Component) bool { return c.UsesConfig })
	if o.DryRun.Client() {
		fmt.Fprintf(o.Out, "configmap/%s: %s changed%s\n", name, strings.Join(changed, ", "), suffix)
		for _, w := range readers {
			fmt.Fprintf(o.Out, "%s/%s restarted%s\n", kindLower(w.Kind), w.Name, suffix)
		}
		return nil
	}
	// The resourceVersion read makes a concurrent change a Conflict, not a lost update.
	data, _ := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": cm.ResourceVersion}, "data": patchData})
	if _, err := cs.CoreV1().ConfigMaps(o.Namespace).Patch(ctx, name, types.MergePatchType, data,
		metav1.PatchOptions{FieldManager: app.FieldManager, DryRun: o.DryRun.Server()}); err != nil {
		if apierrors.IsConflict(err) {
			return cli.Failedf("configmap/%s changed while this command ran: nothing was changed", name).WithHint("run the command again")
		}
		return fmt.Errorf("patch configmap/%s: %w", name, err)
	}
	fmt.Fprintf(o.Out, "configmap/%s: %s changed%s\n", name, strings.Join(changed, ", "), suffix)
	verb := "set"
	if o.Unset {
		verb = "unset"
	}
	return restartAndWait(ctx, o.Global, cs, readers, "kubectl piyasa deploy config "+verb+" "+strings.Join(changed, ","), o.DryRun, o.waitFlags)
}

// checkProviderKey refuses a provider whose key Secret piyasa-secrets lacks
// (the pods would start without it), and a change the Secret would override
// (its own LLM_PROVIDER wins in the pods: envFrom lists it after the ConfigMap).
func (o *ConfigOptions) checkProviderKey(ctx context.Context, provider string) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	s, err := cs.CoreV1().Secrets(o.Namespace).Get(ctx, app.SecretName, metav1.GetOptions{})
	if err != nil {
		return kube.NotFound(safeErr("cannot read Secret "+app.SecretName+": "+apiReason(err), err), "secret/"+app.SecretName, o.Namespace)
	}
	if _, own := s.Data[app.KeyLLMProvider]; own {
		return cli.Failedf("Secret %s sets LLM_PROVIDER itself, and its value wins in the pods: setting it in the ConfigMap would change nothing", app.SecretName).
			WithHint("change LLM_PROVIDER in the .env you deployed with and run: kubectl piyasa deploy secret rotate --env-file FILE -n %s", o.Namespace)
	}
	key := app.LLMProviderKeys[provider]
	if len(s.Data[key]) == 0 {
		return cli.Failedf("LLM_PROVIDER=%s needs %s, which Secret %s does not have: nothing was changed", provider, key, app.SecretName).
			WithHint("add %s to the .env you deployed with, run: kubectl piyasa deploy secret rotate --env-file FILE -n %s, then set LLM_PROVIDER again", key, o.Namespace)
	}
	return nil
}
