package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// RestartedAtAnnotation is what `kubectl rollout restart` sets on a pod template.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// ConfigOptions of `deploy config set|unset`.
type ConfigOptions struct {
	*cli.Global
	DryRun  string
	Wait    bool
	Timeout time.Duration

	set   map[string]string
	unset []string
}

// NewCmdConfig groups config set and unset.
func NewCmdConfig(g *cli.Global, _ genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Change piyasa-config and restart only the workloads that read it",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	for _, unset := range []bool{false, true} {
		o := &ConfigOptions{Global: g, DryRun: DryRunNone, Wait: true, Timeout: DefaultTimeout}
		c := &cobra.Command{
			Use:   "set KEY=VALUE...",
			Short: "Set keys of piyasa-config, restart api and worker, and wait",
			Example: `  kubectl piyasa deploy config set LOG_LEVEL=INFO LLM_MODEL=gpt-4o -n piyasa-chatbot-dev
  kubectl piyasa deploy config unset FEATURE_X -n piyasa-chatbot-dev`,
			Args: cobra.MinimumNArgs(1),
		}
		if unset {
			c.Use, c.Short = "unset KEY...", "Remove keys from piyasa-config, restart api and worker, and wait"
		}
		isUnset := unset
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.parse(args, isUnset); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		}
		addDryRun(c, &o.DryRun)
		addWait(c, &o.Wait, &o.Timeout)
		cmd.AddCommand(c)
	}
	return cmd
}

var configKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// secretLike are key name parts that belong in piyasa-secrets, not the ConfigMap.
var secretLike = []string{"PASSWORD", "SECRET", "TOKEN", "API_KEY", "PRIVATE"}

// protectedKeys cannot be unset: the app or its manifests read them.
func protectedKeys() []string {
	return append(append([]string{}, app.ConfigKeys...), app.KeyDatabaseHost, app.KeyDatabasePort, app.KeyDatabaseName, app.KeyDatabaseUser)
}

func (o *ConfigOptions) parse(args []string, unset bool) error {
	if err := validateDryRun(o.DryRun); err != nil {
		return err
	}
	o.set = map[string]string{}
	for _, a := range args {
		key, val, hasEq := strings.Cut(a, "=")
		if unset {
			if hasEq {
				return cli.Usagef("unset takes KEY, not KEY=VALUE")
			}
			if contains(protectedKeys(), key) {
				return cli.Usagef("%s cannot be unset: the app needs it", key).WithHint("change it with: kubectl piyasa deploy config set %s=VALUE", key)
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
		up := strings.ToUpper(key)
		for _, s := range secretLike {
			if strings.Contains(up, s) {
				return cli.Usagef("%s looks secret: it belongs in piyasa-secrets, not in the ConfigMap (DESIGN trap 2)", key).
					WithHint("put it in the .env and run: kubectl piyasa deploy secret rotate --env-file .env")
			}
		}
		switch key {
		case app.KeyTotalWorkers:
			return cli.Usagef("TOTAL_WORKERS must equal the worker replicas: change both with kubectl piyasa scale worker N")
		case app.KeyDatabaseURL, app.KeyRedisURL:
			u, err := url.Parse(val)
			if err != nil || u.Host == "" {
				return cli.Usagef("%s is not a URL", key)
			}
			if _, has := u.User.Password(); has {
				return cli.Usagef("%s must not hold a password (DESIGN trap 2): the password comes from piyasa-secrets", key)
			}
		case app.KeyLLMProvider:
			if _, ok := app.LLMProviderKeys[val]; !ok {
				return cli.Usagef("LLM_PROVIDER must be openai, groq or gemini")
			}
		case app.KeyLogLevel:
			switch val {
			case "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL":
			default:
				return cli.Usagef("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
			}
		case app.KeyCORSOrigins:
			if strings.Contains(val, "*") {
				return cli.Usagef("CORS_ALLOWED_ORIGINS must list origins, not * (DESIGN trap 8)")
			}
		}
		o.set[key] = val
	}
	return nil
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
		return notFoundHint(err, "configmap/"+name, o.Namespace)
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
	suffix := dryRunSuffix(o.DryRun)
	readers := readersOf(o.Env, func(c app.Component) bool { return c.UsesConfig })
	if o.DryRun == DryRunClient {
		fmt.Fprintf(o.Out, "configmap/%s: %s changed%s\n", name, strings.Join(changed, ", "), suffix)
		for _, w := range readers {
			fmt.Fprintf(o.Out, "%s/%s restarted%s\n", kindLower(w.Kind), w.Name, suffix)
		}
		return nil
	}
	data, _ := json.Marshal(map[string]any{"data": patchData})
	if _, err := cs.CoreV1().ConfigMaps(o.Namespace).Patch(ctx, name, types.MergePatchType, data,
		metav1.PatchOptions{FieldManager: app.FieldManager, DryRun: dryRunOpt(o.DryRun)}); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "configmap/%s: %s changed%s\n", name, strings.Join(changed, ", "), suffix)
	verb := "set"
	if len(o.unset) > 0 {
		verb = "unset"
	}
	return restartAndWait(ctx, o.Global, cs, readers, "kubectl piyasa deploy config "+verb+" "+strings.Join(changed, ","), o.DryRun, o.Wait, o.Timeout)
}

// readersOf lists the workloads of the components that pass keep.
func readersOf(env app.Environment, keep func(app.Component) bool) []kube.Workload {
	var out []kube.Workload
	for _, c := range app.Components {
		if keep(c) {
			out = append(out, kube.Workload{Component: c.Name, Kind: c.Kind, Name: env.WorkloadName(c)})
		}
	}
	return out
}

// restartAndWait restarts workloads as `kubectl rollout restart` does and
// waits for them.
func restartAndWait(ctx context.Context, g *cli.Global, cs kubernetes.Interface, ws []kube.Workload, cause, dryRun string, wait bool, timeout time.Duration) error {
	if err := restart(ctx, cs, g.Namespace, ws, g.Now(), cause, dryRun); err != nil {
		return err
	}
	for _, w := range ws {
		fmt.Fprintf(g.Out, "%s/%s restarted%s\n", kindLower(w.Kind), w.Name, dryRunSuffix(dryRun))
	}
	if dryRun != DryRunNone || !wait {
		return nil
	}
	wcs, err := watchClientset(g)
	if err != nil {
		return err
	}
	wt := &Waiter{CS: wcs, NS: g.Namespace, Timeout: timeout, Progress: g.ErrOut, Now: g.Now}
	if _, err := wt.Wait(ctx, ws); err != nil {
		return waitErr(ctx, g, err)
	}
	fmt.Fprintf(g.Out, "%s ready\n", plural(len(ws), "workload"))
	return nil
}

func restart(ctx context.Context, cs kubernetes.Interface, ns string, ws []kube.Workload, now time.Time, cause, dryRun string) error {
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{ChangeCauseAnnotation: cause}},
		"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{RestartedAtAnnotation: now.Format(time.RFC3339)}}}}})
	opts := metav1.PatchOptions{FieldManager: app.FieldManager, DryRun: dryRunOpt(dryRun)}
	for _, w := range ws {
		var err error
		switch w.Kind {
		case app.KindDeployment:
			_, err = cs.AppsV1().Deployments(ns).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		default:
			_, err = cs.AppsV1().StatefulSets(ns).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		}
		if err != nil {
			return fmt.Errorf("restart %s/%s: %w", kindLower(w.Kind), w.Name, err)
		}
	}
	return nil
}

func notFoundHint(err error, what, ns string) error {
	if strings.Contains(err.Error(), "not found") {
		return cli.Failedf("%s not found in namespace %s", what, ns).WithHint("deploy the app first: kubectl piyasa deploy --env ENV -n %s", ns)
	}
	return err
}
