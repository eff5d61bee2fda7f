// Package harness runs the suite's end-to-end tests against a real local
// control plane (scripts/cluster.sh) through the real kubectl plugin
// mechanism: the binaries are built into a directory put first on PATH, and
// tests type commands as a user does (`kubectl piyasa deploy ...`).
//
// Each e2e test package calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { harness.Main(m) }
//
// and then uses Kubectl(t, "piyasa", "deploy", ...).Run().
package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
)

// Env is the running test environment (set by Main).
var Env struct {
	// Root is the repository root.
	Root string
	// BinDir holds the built kubectl-piyasa* binaries.
	BinDir string
	// ClusterBin holds the control plane's binaries (kwokctl, kubectl 1.36, ...).
	ClusterBin string
	// Kubeconfig is the local cluster's kubeconfig.
	Kubeconfig string
	// ClusterName is the kwokctl cluster name.
	ClusterName string
	// Path is the PATH the commands run with: BinDir, the machine's PATH, ClusterBin last.
	Path string
	// Server is the API server's URL.
	Server string
}

// RepoRoot finds the repository root (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Main builds the binaries, starts a cluster for the package, runs the tests
// and deletes the cluster. With PIYASA_E2E_KUBECONFIG set it uses that
// cluster instead of starting one.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	Env.Root = RepoRoot()
	tmp, err := os.MkdirTemp("", "piyasa-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	Env.BinDir = filepath.Join(tmp, "bin")
	if err := BuildBinaries(Env.BinDir); err != nil {
		fmt.Fprintln(os.Stderr, "harness: build:", err)
		return 1
	}
	out, err := exec.Command("bash", filepath.Join(Env.Root, "scripts", "cp-build.sh")).Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness: control plane build failed:", err)
		return 1
	}
	Env.ClusterBin = lastLine(string(out))
	Env.Path = Env.BinDir + string(os.PathListSeparator) + os.Getenv("PATH") + string(os.PathListSeparator) + Env.ClusterBin
	if _, err := lookPath("kubectl", Env.Path); err != nil {
		fmt.Fprintln(os.Stderr, "harness: no kubectl on PATH")
		return 1
	}

	if kc := os.Getenv("PIYASA_E2E_KUBECONFIG"); kc != "" {
		Env.Kubeconfig = kc
	} else {
		Env.ClusterName = fmt.Sprintf("piyasa-e2e-%d", os.Getpid())
		start := time.Now()
		cmd := exec.Command("bash", filepath.Join(Env.Root, "scripts", "cluster.sh"), "up", Env.ClusterName)
		cmd.Env = append(os.Environ(), fmt.Sprintf("CLUSTER_OWNER_PID=%d", os.Getpid()))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "harness: cluster up failed: %v\n%s", err, stderr.String())
			return 1
		}
		Env.Kubeconfig = lastLine(string(out))
		fmt.Fprintf(os.Stderr, "harness: cluster %s up in %.1fs\n", Env.ClusterName, time.Since(start).Seconds())
		defer func() {
			_ = exec.Command("bash", filepath.Join(Env.Root, "scripts", "cluster.sh"), "down", Env.ClusterName).Run()
		}()
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", Env.Kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	Env.Server = cfg.Host
	if err := waitNodesReady(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	return m.Run()
}

// BuildBinaries builds every main package under plugins/ into dir as
// kubectl-<dir name>, plus any extra executables those packages declare
// (plugins/<name>/main.go -> kubectl-piyasa[-<name>]).
func BuildBinaries(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(Env.Root, "plugins"))
	if err != nil {
		return err
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	var built []os.DirEntry
	for _, e := range entries {
		if e.IsDir() && hasGoFiles(filepath.Join(Env.Root, "plugins", e.Name())) {
			args = append(args, "./plugins/"+e.Name())
			built = append(built, e)
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = Env.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	// go build names each binary after its package directory; rename to the executable names.
	for _, e := range built {
		name := binaryName(e.Name())
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func hasGoFiles(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

// binaryName maps a directory under plugins/ to its executable name:
// piyasa -> kubectl-piyasa, deploy -> kubectl-piyasa-deploy,
// complete-piyasa -> kubectl_complete-piyasa.
func binaryName(dir string) string {
	switch {
	case dir == "piyasa":
		return "kubectl-piyasa"
	case strings.HasPrefix(dir, "complete-"):
		return "kubectl_" + dir
	default:
		return "kubectl-piyasa-" + dir
	}
}

func waitNodesReady(cfg *rest.Config) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err == nil && len(nodes.Items) > 0 && allReady(nodes.Items) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes not ready after 60s (err=%v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func allReady(nodes []corev1.Node) bool {
	for _, n := range nodes {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			return false
		}
	}
	return true
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func lookPath(name, path string) (string, error) {
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// RESTConfig returns the cluster's client configuration.
func RESTConfig(t testing.TB) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", Env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Client returns a typed client of the cluster.
func Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Dynamic returns a dynamic client of the cluster.
func Dynamic(t testing.TB) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Namespace creates a fresh namespace named prefix-<random> and deletes it
// when the test ends.
func Namespace(t testing.TB, prefix string) string {
	t.Helper()
	name := prefix + "-" + rand.String(5)
	cs := Client(t)
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// Cmd is a command line to run as a user would.
type Cmd struct {
	t       testing.TB
	name    string
	args    []string
	stdin   io.Reader
	env     []string
	dir     string
	timeout time.Duration
}

// Result is what a command printed and how it exited.
type Result struct {
	Stdout, Stderr string
	Code           int
	Duration       time.Duration
}

// Kubectl returns `kubectl args...` run with the test PATH and KUBECONFIG.
func Kubectl(t testing.TB, args ...string) *Cmd {
	return Command(t, "kubectl", args...)
}

// Piyasa returns `kubectl piyasa args...`.
func Piyasa(t testing.TB, args ...string) *Cmd {
	return Command(t, "kubectl", append([]string{"piyasa"}, args...)...)
}

// Command returns any program run with the test PATH and KUBECONFIG.
func Command(t testing.TB, name string, args ...string) *Cmd {
	return &Cmd{t: t, name: name, args: args, timeout: 5 * time.Minute}
}

// WithStdin sets standard input.
func (c *Cmd) WithStdin(r io.Reader) *Cmd { c.stdin = r; return c }

// WithEnv adds KEY=VALUE pairs to the environment.
func (c *Cmd) WithEnv(kv ...string) *Cmd { c.env = append(c.env, kv...); return c }

// InDir sets the working directory.
func (c *Cmd) InDir(dir string) *Cmd { c.dir = dir; return c }

// WithTimeout bounds the run (default 5 minutes); the process is killed after it.
func (c *Cmd) WithTimeout(d time.Duration) *Cmd { c.timeout = d; return c }

// Start starts the command without waiting; the caller waits on the returned *exec.Cmd.
func (c *Cmd) Start(stdout, stderr io.Writer) *exec.Cmd {
	c.t.Helper()
	cmd := c.build(context.Background())
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	return cmd
}

func (c *Cmd) build(ctx context.Context) *exec.Cmd {
	path, err := lookPath(c.name, Env.Path)
	if err != nil {
		path = c.name
	}
	cmd := exec.CommandContext(ctx, path, c.args...)
	cmd.Env = append(filterEnv(os.Environ(), "PATH", "KUBECONFIG"), "PATH="+Env.Path, "KUBECONFIG="+Env.Kubeconfig)
	cmd.Env = append(cmd.Env, c.env...)
	cmd.Stdin = c.stdin
	cmd.Dir = c.dir
	return cmd
}

// Run runs the command and returns its result (never fails the test itself).
func (c *Cmd) Run() Result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	cmd := c.build(ctx)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Duration: time.Since(start)}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			r.Code = ee.ExitCode()
		} else {
			c.t.Fatalf("%s %s: %v", c.name, strings.Join(c.args, " "), err)
		}
	}
	if ctx.Err() != nil {
		c.t.Fatalf("%s %s: timed out after %s\nstdout:\n%s\nstderr:\n%s", c.name, strings.Join(c.args, " "), c.timeout, r.Stdout, r.Stderr)
	}
	return r
}

// RunOK runs the command and fails the test unless it exits 0.
func (c *Cmd) RunOK() Result {
	c.t.Helper()
	r := c.Run()
	if r.Code != 0 {
		c.t.Fatalf("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", c.name, strings.Join(c.args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// ExpectCode runs the command and fails the test unless it exits with code.
func (c *Cmd) ExpectCode(code int) Result {
	c.t.Helper()
	r := c.Run()
	if r.Code != code {
		c.t.Fatalf("%s %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", c.name, strings.Join(c.args, " "), r.Code, code, r.Stdout, r.Stderr)
	}
	return r
}

func filterEnv(env []string, drop ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		keep := true
		for _, d := range drop {
			if strings.HasPrefix(kv, d+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// ApplyYAML applies manifests with the test kubectl (server-side).
func ApplyYAML(t testing.TB, namespace, manifests string) {
	t.Helper()
	args := []string{"apply", "--server-side", "--force-conflicts", "-f", "-"}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	Kubectl(t, args...).WithStdin(strings.NewReader(manifests)).RunOK()
}
