// Package harness runs the suite's end-to-end tests against a real local
// control plane (scripts/cluster.sh) through the real kubectl plugin
// mechanism: the binaries are built into a directory put first on PATH, and
// tests type commands as a user does (`kubectl piyasa deploy ...`).
//
// Each e2e test package calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { harness.Main(m) }
//
// and then uses Piyasa(t, "deploy", ...).Run() or Kubectl(t, ...).RunOK().
//
// Every command runs in a Sandbox: an environment built from an allow-list
// (PATH, KUBECONFIG, a HOME of the test run, KUBERC=off, what the test adds
// with WithEnv; the Go tool's settings for builds), never the developer's
// shell, so that `PIYASA_ENV=prod go test ./test/...` tests what CI tests.
// Every command line is logged with its exit code and duration (t.Log, or
// standard error from TestMain). Packages without a cluster (test/e2e/krew)
// use NewSandbox and Tools instead of Main, and call CheckCanary.
//
// Secret canary: the fixtures' secret values all hold one marker, Canary
// (InitEnv, CanaryEnv, CanaryValue). Every command's standard output and
// error, and every file it writes under a path its arguments name (bundles,
// backup metadata, runbook reports, -f files; not the .env files and the
// backups themselves), is scanned for it, raw, base64 and base32 at every
// alignment, gzip and zstd expanded; an occurrence fails the test and the
// package (CheckCanary, after m.Run).
package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/piyasa/kubectl-piyasa/shared/suite"
)

// Env is the running test environment (set by Main; tests only read it).
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
	// Home is the HOME the commands run with: a directory of the test run, not the developer's.
	Home string
	// Server is the API server's URL.
	Server string
	// Clusters are the package's clusters when its TestMain gave WithClusters
	// (the first is the package's own, whose Kubeconfig, ClusterName and
	// Server the fields above are); nil otherwise.
	Clusters []*Cluster
}

// RepoRoot finds the repository root (the directory holding go.mod).
func RepoRoot() string {
	// From the working directory (go test runs a package's tests in its
	// directory), not from runtime.Caller: `make test` builds with -trimpath,
	// so that a fresh clone anywhere reuses the warm build cache.
	wd, err := os.Getwd()
	if err != nil {
		panic("harness: working directory: " + err.Error())
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			panic("harness: no go.mod above " + wd)
		}
	}
}

// Main builds the binaries, starts a cluster for the package, runs the tests
// and deletes the cluster. With PIYASA_E2E_KUBECONFIG set it uses that
// cluster instead of starting one. Options (WithMigratePython) prepare the
// test process before the cluster starts.
//
// After the tests it checks the canary (CheckCanary): the package fails when
// any command printed or wrote a secret value of the fixtures.
func Main(m *testing.M, opts ...Option) {
	os.Exit(run(m, opts...))
}

// Option prepares the test process of a package in Main, before the cluster starts.
type Option func(*mainOptions)

type mainOptions struct {
	migratePython bool
	contexts      []string
}

// WithMigratePython puts a directory holding `python` -> MigratePython (the
// Python with Alembic and psycopg2) first on the test process's PATH, so that
// `python -m alembic` finds it in the harness kubelet (MigrateKubelet) and in
// the kwok controller's ClusterExec, which inherits this PATH when Main
// starts the cluster. For the packages that run migrations.
func WithMigratePython() Option {
	return func(o *mainOptions) { o.migratePython = true }
}

func run(m *testing.M, opts ...Option) int {
	var o mainOptions
	for _, opt := range opts {
		opt(&o)
	}
	Env.Root = RepoRoot()
	tmp, err := os.MkdirTemp("", "piyasa-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if o.migratePython {
		shim := filepath.Join(tmp, "python-shim")
		if err := os.Mkdir(shim, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "harness:", err)
			return 1
		}
		if err := linkMigratePython(shim); err != nil {
			fmt.Fprintln(os.Stderr, "harness:", err)
			return 1
		}
		os.Setenv("PATH", shim+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	Env.Home = filepath.Join(tmp, "home")
	if err := os.MkdirAll(Env.Home, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tools := Tools(Env.Home)
	Env.BinDir = filepath.Join(tmp, "bin")
	// The binaries are built while the cluster starts: both take tens of seconds, mostly waiting.
	begin := time.Now()
	buildErr := make(chan error, 1)
	go func() {
		err := BuildBinaries(Env.BinDir)
		if err == nil {
			fmt.Fprintf(os.Stderr, "harness: binaries built in %.1fs\n", time.Since(begin).Seconds())
		}
		buildErr <- err
	}()
	built := false
	waitBuild := func() error { built = true; return <-buildErr }
	defer func() {
		if !built {
			<-buildErr // before tmp is removed
		}
	}()
	if Env.ClusterBin, err = ControlPlane(); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	Env.Path = Env.BinDir + string(os.PathListSeparator) + os.Getenv("PATH") + string(os.PathListSeparator) + Env.ClusterBin
	if _, err := lookPath("kubectl", Env.Path); err != nil {
		fmt.Fprintln(os.Stderr, "harness: no kubectl on PATH")
		return 1
	}

	down, err := upClusters(tools, tmp, o.contexts)
	defer down()
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
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
	if err := waitClustersReady(); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	if err := waitBuild(); err != nil {
		fmt.Fprintln(os.Stderr, "harness: build:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "harness: ready for the tests after %.1fs\n", time.Since(begin).Seconds())
	return CheckCanary(m.Run())
}

// ControlPlane builds (or finds in the cache) the local control plane with
// scripts/cp-build.sh and returns its bin directory.
func ControlPlane() (string, error) {
	root := RepoRoot()
	home, err := os.MkdirTemp("", "piyasa-cp-home-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(home)
	out, stderr, err := Tools(home).Exec(root, "bash", filepath.Join(root, "scripts", "cp-build.sh"))
	if err != nil {
		return "", fmt.Errorf("control plane build failed: %v\n%s", err, stderr)
	}
	return lastLine(out), nil
}

// BuildBinaries builds every main package under plugins/ into dir, named as
// package suite names them (plugins/deploy -> kubectl-piyasa-deploy,
// plugins/piyasa -> kubectl-piyasa, plugins/complete-piyasa -> kubectl_complete-piyasa).
// No completion links are made: tests that need kubectl_complete-piyasa-<sub> make them.
//
// The binaries are built once for all the e2e packages of a checkout: into
// BinCache(), where go build relinks only what changed (it compares the
// build IDs of the files already there), under a file lock (packages run in
// parallel), then hard-linked (copied across file systems) into dir, so that
// a later rebuild replaces the cache's files and never changes dir's. They are
// stripped (-s -w) as a release's are: linking without DWARF takes half the time.
func BuildBinaries(dir string) error {
	root := RepoRoot()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mains, err := suite.Mains(root)
	if err != nil {
		return err
	}
	cache := BinCache()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	args := []string{"build", "-tags", suite.BuildTags, "-ldflags", "-s -w", "-o", cache + string(os.PathSeparator)}
	for _, m := range mains {
		args = append(args, "./"+m.Dir)
	}
	home, err := os.MkdirTemp("", "piyasa-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	if _, stderr, err := Tools(home).Exec(root, "go", args...); err != nil {
		return fmt.Errorf("%v\n%s", err, stderr)
	}
	// go build names each binary after its package directory.
	for _, m := range mains {
		if err := linkOrCopy(filepath.Join(cache, filepath.Base(m.Dir)), filepath.Join(dir, m.Executable)); err != nil {
			return err
		}
	}
	return nil
}

// BinCache is the directory the e2e packages of this checkout share their
// built binaries in: ${XDG_CACHE_HOME:-~/.cache}/kubectl-piyasa/e2e-bin/<hash
// of the repository root> (one per checkout: worktrees do not overwrite each
// other's).
func BinCache() string {
	sum := sha256.Sum256([]byte(RepoRoot()))
	return filepath.Join(CacheHome(), "kubectl-piyasa", "e2e-bin", hex.EncodeToString(sum[:6]))
}

// linkOrCopy makes dst a hard link of src, or a copy where no link can be made.
func linkOrCopy(src, dst string) error {
	_ = os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
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
	sb      *Sandbox
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

// Kubectl returns `kubectl args...` run in the package's sandbox (the test
// PATH and KUBECONFIG, see Sandbox).
func Kubectl(t testing.TB, args ...string) *Cmd {
	return Command(t, "kubectl", args...)
}

// Piyasa returns `kubectl piyasa args...`.
func Piyasa(t testing.TB, args ...string) *Cmd {
	return Command(t, "kubectl", append([]string{"piyasa"}, args...)...)
}

// Command returns any program run in the package's sandbox: PATH is
// Env.Path, KUBECONFIG the cluster's, HOME Env.Home, and nothing else of the
// environment the tests were started in.
func Command(t testing.TB, name string, args ...string) *Cmd {
	return Default().Command(t, name, args...)
}

// Default is the package's sandbox (Env.Path, Env.Kubeconfig, Env.Home).
func Default() *Sandbox {
	return &Sandbox{Path: Env.Path, Kubeconfig: Env.Kubeconfig, Home: Env.Home}
}

// WithStdin sets standard input.
func (c *Cmd) WithStdin(r io.Reader) *Cmd { c.stdin = r; return c }

// WithEnv adds KEY=VALUE pairs to the environment (a key given twice: the last wins).
func (c *Cmd) WithEnv(kv ...string) *Cmd { c.env = append(c.env, kv...); return c }

// InDir sets the working directory.
func (c *Cmd) InDir(dir string) *Cmd { c.dir = dir; return c }

// WithTimeout bounds the run (default 5 minutes); the process is killed after it.
func (c *Cmd) WithTimeout(d time.Duration) *Cmd { c.timeout = d; return c }

// String is the command line as logged.
func (c *Cmd) String() string { return commandLine(c.name, c.args) }

// Start starts the command without waiting; the caller waits on the returned
// *exec.Cmd. It fails the test if the command cannot be started. What the
// command prints (a copy, unless the writer is a file such as a terminal)
// and writes is scanned for the canary when the test ends.
func (c *Cmd) Start(stdout, stderr io.Writer) *exec.Cmd {
	c.t.Helper()
	cmd := c.build(context.Background())
	var outCopy, errCopy *lockedBuffer
	cmd.Stdout, outCopy = tee(stdout)
	cmd.Stderr, errCopy = tee(stderr)
	c.t.Logf("$ %s &", c)
	start := fsNow()
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("%s: %v", c, err)
	}
	c.t.Cleanup(func() {
		if outCopy != nil {
			canary.output(c.t, "$ "+c.String()+": stdout", outCopy.Bytes())
		}
		if errCopy != nil {
			canary.output(c.t, "$ "+c.String()+": stderr", errCopy.Bytes())
		}
		c.scanWritten(start)
	})
	return cmd
}

// scanWritten scans the files the command wrote for the canary.
func (c *Cmd) scanWritten(start time.Time) {
	var env []string
	for _, kv := range c.env {
		if _, v, ok := strings.Cut(kv, "="); ok {
			env = append(env, v)
		}
	}
	canary.written(c.t, "$ "+c.String(), c.dir, c.args, env, start)
}

func (c *Cmd) build(ctx context.Context) *exec.Cmd {
	env := c.sb.With(c.env...)
	path, err := lookPath(c.name, env.Path)
	if err != nil {
		path = c.name
	}
	cmd := exec.CommandContext(ctx, path, c.args...)
	cmd.Env = env.Environ()
	cmd.Stdin = c.stdin
	cmd.Dir = c.dir
	return cmd
}

// Run runs the command and returns its result, whatever its exit code; it
// fails the test (Fatal) only when the command cannot be run at all or runs
// past its timeout. The command line, exit code and duration are logged.
func (c *Cmd) Run() Result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	cmd := c.build(ctx)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	fsStart := fsNow()
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Duration: time.Since(start)}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			r.Code = ee.ExitCode()
		} else {
			c.t.Fatalf("$ %s: %v", c, err)
		}
	}
	canary.output(c.t, "$ "+c.String()+": stdout", stdout.Bytes())
	canary.output(c.t, "$ "+c.String()+": stderr", stderr.Bytes())
	c.scanWritten(fsStart)
	if ctx.Err() != nil {
		c.t.Fatalf("$ %s: timed out after %s\nstdout:\n%s\nstderr:\n%s", c, c.timeout, r.Stdout, r.Stderr)
	}
	c.t.Logf("$ %s  # exit %d in %s", c, r.Code, r.Duration.Round(time.Millisecond))
	return r
}

// RunOK runs the command and fails the test unless it exits 0.
func (c *Cmd) RunOK() Result {
	c.t.Helper()
	r := c.Run()
	if r.Code != 0 {
		c.t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", c, r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// ExpectCode runs the command and fails the test unless it exits with code.
func (c *Cmd) ExpectCode(code int) Result {
	c.t.Helper()
	r := c.Run()
	if r.Code != code {
		c.t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", c, r.Code, code, r.Stdout, r.Stderr)
	}
	return r
}

// commandLine is a command as logged: multi-line or long arguments cut short.
func commandLine(name string, args []string) string {
	parts := []string{name}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$") {
			a = fmt.Sprintf("%q", a)
		}
		if len(a) > 120 {
			a = a[:117] + "..."
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
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
