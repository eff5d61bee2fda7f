package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Cluster is one local cluster of the package. A package has one (Main);
// WithClusters gives it several, each with its own API server, etcd, ports
// and kwok nodes, all reachable through one kubeconfig (Env.Kubeconfig)
// whose contexts are named after them: `kubectl piyasa ... --context NAME`.
// The first one is the package's: Env.Kubeconfig's current context, what
// Client, Kubectl, Piyasa and the rest of the package's helpers reach.
type Cluster struct {
	// Context is the cluster's context in Env.Kubeconfig ("" for a package's only cluster).
	Context string
	// Name is kwokctl's name of the cluster ("" when the harness did not start it).
	Name string
	// Kubeconfig holds this cluster alone, its context current.
	Kubeconfig string
	// Server is its API server's URL.
	Server string
}

// WithClusters makes Main start one cluster per context name (the first is
// the package's own), write one kubeconfig holding these contexts to
// Env.Kubeconfig (its current context the first), and delete them all after
// the tests. They are created one after another under scripts/cluster.sh's
// creation lock. With PIYASA_E2E_KUBECONFIG, that file must define these
// contexts. Tests reach each with ClusterOf.
func WithClusters(contexts ...string) Option {
	return func(o *mainOptions) { o.contexts = contexts }
}

// ClusterOf returns the package's cluster of that context; it fails t when
// the package has none (its TestMain did not give WithClusters).
func ClusterOf(t testing.TB, context string) *Cluster {
	t.Helper()
	for _, c := range Env.Clusters {
		if c.Context == context {
			return c
		}
	}
	t.Fatalf("harness: no cluster of context %q (TestMain: harness.Main(m, harness.WithClusters(...)))", context)
	return nil
}

// Primary is the package's own cluster: the first of WithClusters, or its only one.
func Primary() *Cluster {
	if len(Env.Clusters) > 0 {
		return Env.Clusters[0]
	}
	return &Cluster{Name: Env.ClusterName, Kubeconfig: Env.Kubeconfig, Server: Env.Server}
}

// upClusters starts the package's clusters (or takes PIYASA_E2E_KUBECONFIG's)
// and sets Env.Kubeconfig, Env.ClusterName and Env.Clusters; down deletes
// those it started, also after an error.
func upClusters(tools *Sandbox, tmp string, contexts []string) (down func(), err error) {
	var started []string
	down = func() {
		for _, n := range started {
			_, _, _ = tools.Exec(Env.Root, "bash", filepath.Join(Env.Root, "scripts", "cluster.sh"), "down", n)
		}
	}
	if kc := os.Getenv("PIYASA_E2E_KUBECONFIG"); kc != "" {
		Env.Kubeconfig = kc
		if len(contexts) == 0 {
			return down, nil
		}
		cfg, err := clientcmd.LoadFromFile(kc)
		if err != nil {
			return down, err
		}
		return down, splitContexts(cfg, tmp, contexts)
	}
	Env.ClusterName = fmt.Sprintf("piyasa-e2e-%d", os.Getpid())
	names := []string{Env.ClusterName}
	for i := 1; i < len(contexts); i++ {
		names = append(names, Env.ClusterName+"-"+contexts[i])
	}
	merged := clientcmdapi.NewConfig()
	for i, name := range names {
		start := time.Now()
		cluster := tools.With(fmt.Sprintf("CLUSTER_OWNER_PID=%d", os.Getpid()))
		out, stderr, err := cluster.Exec(Env.Root, "bash", filepath.Join(Env.Root, "scripts", "cluster.sh"), "up", name)
		if err != nil {
			return down, fmt.Errorf("cluster up failed: %v\n%s", err, stderr)
		}
		started = append(started, name)
		fmt.Fprintf(os.Stderr, "harness: cluster %s up in %.1fs\n", name, time.Since(start).Seconds())
		if len(contexts) == 0 {
			Env.Kubeconfig = lastLine(out)
			return down, nil
		}
		if err := mergeContext(merged, lastLine(out), contexts[i]); err != nil {
			return down, err
		}
	}
	return down, splitContexts(merged, tmp, contexts)
}

// mergeContext adds the current context of the kubeconfig file to cfg,
// its context, cluster and user all named name.
func mergeContext(cfg *clientcmdapi.Config, file, name string) error {
	one, err := clientcmd.LoadFromFile(file)
	if err != nil {
		return err
	}
	ctx := one.Contexts[one.CurrentContext]
	if ctx == nil {
		return fmt.Errorf("kubeconfig %s: no current context", file)
	}
	cfg.Clusters[name] = one.Clusters[ctx.Cluster]
	cfg.AuthInfos[name] = one.AuthInfos[ctx.AuthInfo]
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: ctx.Namespace}
	return nil
}

// splitContexts writes cfg, its current context the first of contexts, to
// tmp/kubeconfig (Env.Kubeconfig), and each context alone to
// tmp/kubeconfig-<context> (Env.Clusters).
func splitContexts(cfg *clientcmdapi.Config, tmp string, contexts []string) error {
	for _, name := range contexts {
		if cfg.Contexts[name] == nil {
			return fmt.Errorf("the kubeconfig has no context %q", name)
		}
	}
	all := cfg.DeepCopy()
	all.CurrentContext = contexts[0]
	Env.Kubeconfig = filepath.Join(tmp, "kubeconfig")
	if err := clientcmd.WriteToFile(*all, Env.Kubeconfig); err != nil {
		return err
	}
	for _, name := range contexts {
		one := cfg.DeepCopy()
		one.CurrentContext = name
		if err := clientcmdapi.MinifyConfig(one); err != nil {
			return err
		}
		c := &Cluster{Context: name, Kubeconfig: filepath.Join(tmp, "kubeconfig-"+name), Server: one.Clusters[one.Contexts[name].Cluster].Server}
		if len(Env.Clusters) == 0 {
			c.Name = Env.ClusterName
		} else if Env.ClusterName != "" {
			c.Name = Env.ClusterName + "-" + name
		}
		if err := clientcmd.WriteToFile(*one, c.Kubeconfig); err != nil {
			return err
		}
		Env.Clusters = append(Env.Clusters, c)
	}
	return nil
}

// waitClustersReady waits until every cluster's nodes are ready.
func waitClustersReady() error {
	for _, c := range append([]*Cluster{}, Env.Clusters...) {
		cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
		if err != nil {
			return err
		}
		if err := waitNodesReady(cfg); err != nil {
			return fmt.Errorf("cluster %s: %v", c.Context, err)
		}
	}
	return nil
}

// RESTConfig returns the cluster's client configuration.
func (c *Cluster) RESTConfig(t testing.TB) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Client returns a typed client of the cluster.
func (c *Cluster) Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Dynamic returns a dynamic client of the cluster.
func (c *Cluster) Dynamic(t testing.TB) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(c.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Sandbox is the package's sandbox with KUBECONFIG holding this cluster alone.
func (c *Cluster) Sandbox() *Sandbox { return Default().With("KUBECONFIG=" + c.Kubeconfig) }

// Kubectl returns `kubectl args...` against this cluster.
func (c *Cluster) Kubectl(t testing.TB, args ...string) *Cmd {
	return c.Sandbox().Command(t, "kubectl", args...)
}

// ApplyYAML applies manifests to this cluster with the test kubectl (server-side).
func (c *Cluster) ApplyYAML(t testing.TB, namespace, manifests string) {
	t.Helper()
	args := []string{"apply", "--server-side", "--force-conflicts", "-f", "-"}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	c.Kubectl(t, args...).WithStdin(strings.NewReader(manifests)).RunOK()
}

// Namespace creates a fresh namespace named prefix-<random> in this cluster
// and deletes it when the test ends.
func (c *Cluster) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	name := prefix + "-" + rand.String(5)
	c.CreateNamespace(t, name)
	return name
}

// CreateNamespace creates the namespace name in this cluster (the same name
// as in another cluster, as a fleet has it) and deletes it when the test ends.
func (c *Cluster) CreateNamespace(t testing.TB, name string) {
	t.Helper()
	cs := c.Client(t)
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}
