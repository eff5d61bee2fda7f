// Package cli wires the kubectl conventions shared by every binary of the
// suite: the standard kubectl flags (genericclioptions.ConfigFlags), --env,
// the environment and namespace they select, lazily built clients, the root
// command, exit codes and error messages.
package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	// exec, OIDC and other auth plugins of kubeconfigs
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/table"
)

// EnvVar names the environment variable that sets the default of --env.
const EnvVar = "PIYASA_ENV"

// Global holds what every command of the suite shares: the kubectl flags, the
// selected environment and namespace, the IO streams, lazily made clients and
// a clock. Each command's Options embeds it.
type Global struct {
	genericiooptions.IOStreams

	// ConfigFlags are kubectl's standard flags (--kubeconfig, --context, -n, --as ...).
	ConfigFlags *genericclioptions.ConfigFlags
	// EnvName is the value of --env.
	EnvName string
	// Now is the clock; tests replace it.
	Now func() time.Time

	// Env is the selected environment (after Complete).
	Env app.Environment
	// Namespace is the namespace to work in (after Complete).
	Namespace string
	// NamespaceExplicit is true when -n was given.
	NamespaceExplicit bool

	// The clients. Nil fields are made on first use from ConfigFlags; a test
	// sets them (see package clitest) to run a command on fake clients.

	// RESTClientGetter gives the REST config, mapper and discovery (default: ConfigFlags).
	RESTClientGetter genericclioptions.RESTClientGetter
	// KubeClient is the typed client.
	KubeClient kubernetes.Interface
	// DynamicClient is the dynamic client.
	DynamicClient dynamic.Interface
	// Authz answers the rights checks of RightsNeeder commands (default: the
	// typed client's; a test sets it to check rights on a fake).
	Authz authzClient

	// Getenv reads the process environment (the default of --env comes from
	// $PIYASA_ENV); tests replace it so that the developer's shell cannot leak in.
	Getenv func(string) string

	kf          kubectlFlags
	once        sync.Once
	completed   error
	mu          sync.Mutex
	versionOnce sync.Once
	versionErr  error
}

// Client rate limits of every binary: a command sends a few dozen requests at
// once (one per object applied, one LIST per kind read), which client-go's
// default of 5 requests/s would make wait for seconds.
const (
	ClientQPS   = 50
	ClientBurst = 100
)

// NewGlobal returns the shared options with kubectl's defaults.
func NewGlobal(streams genericiooptions.IOStreams) *Global {
	g := &Global{IOStreams: streams, Now: time.Now, Getenv: os.Getenv}
	// Server warnings are printed once each ("Warning: ..."), as kubectl does,
	// and counted for --warnings-as-errors.
	g.kf.warnings = rest.NewWarningWriter(streams.ErrOut, rest.WarningWriterOptions{Deduplicate: true})
	g.ConfigFlags = genericclioptions.NewConfigFlags(true).WithWrapConfigFn(func(c *rest.Config) *rest.Config {
		// --username and --password without ConfigFlags' WithDeprecatedPasswordFlag,
		// whose loader prompts on stdin ("Please enter Username:") for a server without credentials.
		if g.kf.username != "" {
			c.Username = g.kf.username
		}
		if g.kf.password != "" {
			c.Password = g.kf.password
		}
		if c.QPS == 0 {
			c.QPS, c.Burst = ClientQPS, ClientBurst
		}
		if c.WarningHandler == nil && c.WarningHandlerWithContext == nil {
			c.WarningHandler = g.kf.warnings
		}
		return c
	})
	return g
}

// AddFlags adds kubectl's global flags (ConfigFlags, -v/--v, --vmodule,
// --match-server-version, --warnings-as-errors, --profile) and --env to a
// flag set (the root's persistent flags).
func (g *Global) AddFlags(fs *pflag.FlagSet) {
	g.ConfigFlags.AddFlags(fs)
	g.addKubectlFlags(fs)
	getenv := g.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	def := getenv(EnvVar)
	fs.StringVar(&g.EnvName, "env", def, fmt.Sprintf("App environment (%s): selects the namespace and the name prefix; -n overrides the namespace. Default: from the namespace, else %s ($%s)",
		strings.Join(app.EnvironmentNames(), "|"), app.DefaultEnvironment, EnvVar))
	fs.BoolVar(&table.NoColor, "no-color", false, "Print no colour, even on a terminal (NO_COLOR in the environment does the same)")
}

// Complete resolves the environment and the namespace. Precedence for the
// namespace: -n, then --env's namespace, then the kubeconfig context's
// namespace, then the default environment's. The environment (name prefix)
// comes from --env, else from a namespace that belongs to a known environment,
// else the default environment.
func (g *Global) Complete() error {
	g.once.Do(func() { g.completed = g.complete() })
	return g.completed
}

func (g *Global) complete() error {
	if g.EnvName != "" {
		env, err := app.LookupEnvironment(g.EnvName)
		if err != nil {
			return Usagef("%v", err)
		}
		g.Env = env
	}
	if g.ConfigFlags.Namespace != nil && *g.ConfigFlags.Namespace != "" {
		g.Namespace = *g.ConfigFlags.Namespace
		g.NamespaceExplicit = true
	} else if g.EnvName != "" {
		g.Namespace = g.Env.Namespace
	} else if ns := g.contextNamespace(); ns != "" {
		g.Namespace = ns
	}
	if g.EnvName == "" {
		if env, ok := app.EnvironmentForNamespace(g.Namespace); ok {
			g.Env = env
		} else {
			g.Env = app.Environments[app.DefaultEnvironment]
		}
	}
	if g.Namespace == "" {
		g.Namespace = g.Env.Namespace
	}
	return nil
}

// contextNamespace returns the namespace that the selected kubeconfig context
// sets, or "" when it sets none (clientcmd would answer "default").
func (g *Global) contextNamespace() string {
	raw, err := g.ConfigFlags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return ""
	}
	name := raw.CurrentContext
	if g.ConfigFlags.Context != nil && *g.ConfigFlags.Context != "" {
		name = *g.ConfigFlags.Context
	}
	if c, ok := raw.Contexts[name]; ok {
		return c.Namespace
	}
	return ""
}

// Getter returns what builds REST configs, mappers and discovery clients:
// RESTClientGetter when set, else the config flags.
func (g *Global) Getter() genericclioptions.RESTClientGetter {
	if g.RESTClientGetter != nil {
		return g.RESTClientGetter
	}
	return g.ConfigFlags
}

// RESTConfig returns the client configuration the flags select; with
// --match-server-version, only once the server's version matched.
func (g *Global) RESTConfig() (*rest.Config, error) {
	cfg, err := g.Getter().ToRESTConfig()
	if err != nil {
		return nil, g.kubeconfigError(err)
	}
	if err := g.checkServerVersion(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// RESTMapper returns the (discovery-backed, cached) REST mapper.
func (g *Global) RESTMapper() (meta.RESTMapper, error) {
	if err := g.checkServerVersion(); err != nil {
		return nil, err
	}
	m, err := g.Getter().ToRESTMapper()
	return m, g.kubeconfigError(err)
}

// Discovery returns a (cached) discovery client.
func (g *Global) Discovery() (discovery.CachedDiscoveryInterface, error) {
	if err := g.checkServerVersion(); err != nil {
		return nil, err
	}
	d, err := g.Getter().ToDiscoveryClient()
	return d, g.kubeconfigError(err)
}

// kubeconfigError marks a kubeconfig file that cannot be read (a missing
// --kubeconfig) as a *KubeconfigError, which Classify reports with a hint.
func (g *Global) kubeconfigError(err error) error {
	var pe *fs.PathError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	if kc := g.ConfigFlags.KubeConfig; kc != nil && *kc != "" && pe.Path != *kc {
		return err // another file (e.g. a certificate the kubeconfig names)
	}
	return &KubeconfigError{Path: pe.Path, Err: err}
}

// Clientset returns the typed client: KubeClient when set, else one made from
// the flags once.
func (g *Global) Clientset() (kubernetes.Interface, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.KubeClient != nil {
		return g.KubeClient, nil
	}
	cfg, err := g.RESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	g.KubeClient = cs
	return cs, nil
}

// Dynamic returns the dynamic client: DynamicClient when set, else one made
// from the flags once.
func (g *Global) Dynamic() (dynamic.Interface, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.DynamicClient != nil {
		return g.DynamicClient, nil
	}
	cfg, err := g.RESTConfig()
	if err != nil {
		return nil, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	g.DynamicClient = dc
	return dc, nil
}

// Server returns the API server address the flags select, for messages ("" if unknown).
func (g *Global) Server() string {
	cfg, err := g.Getter().ToRESTConfig()
	if err != nil {
		return ""
	}
	return cfg.Host
}

// Printf writes to standard output.
func (g *Global) Printf(format string, args ...any) { fmt.Fprintf(g.Out, format, args...) }

// Infof writes a progress or status line to standard error, so that standard
// output stays machine-readable.
func (g *Global) Infof(format string, args ...any) { fmt.Fprintf(g.ErrOut, format, args...) }
