// Package foundation tests the suite's shared behaviour end to end: the
// dispatcher through kubectl's plugin lookup, the kubectl flags, exit codes,
// and the local control plane itself.
package foundation

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/piyasa/kubectl-piyasa/shared/suite"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

func TestHelpListsSubcommands(t *testing.T) {
	r := harness.Piyasa(t, "--help").RunOK()
	for _, s := range suite.Subcommands {
		if !strings.Contains(r.Stdout, s.Name) || !strings.Contains(r.Stdout, s.Short) {
			t.Errorf("help does not list %s:\n%s", s.Name, r.Stdout)
		}
	}
	// with no argument at all, the same list
	if r2 := harness.Piyasa(t).RunOK(); r2.Stdout != r.Stdout {
		t.Errorf("bare `kubectl piyasa` differs from --help:\n%s", r2.Stdout)
	}
}

func TestNotInstalledSubcommandHasNoBinary(t *testing.T) {
	for _, s := range suite.Subcommands {
		if _, err := os.Stat(filepath.Join(harness.Env.BinDir, suite.Binary(s.Name))); err == nil {
			continue
		}
		r := harness.Piyasa(t, s.Name).ExpectCode(2)
		if !strings.Contains(r.Stderr, "not installed") {
			t.Errorf("%s: %s", s.Name, r.Stderr)
		}
		help := harness.Piyasa(t, "--help").RunOK()
		if !strings.Contains(help.Stdout, s.Short+" (not installed)") {
			t.Errorf("help does not mark %s as not installed", s.Name)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"-n", "foo", "version"}} {
		r := harness.Piyasa(t, args...).RunOK()
		if !strings.Contains(r.Stdout, "kubectl-piyasa ") || !strings.Contains(r.Stdout, "Server: v1.36") {
			t.Errorf("%v:\n%s", args, r.Stdout)
		}
	}
	r := harness.Piyasa(t, "version", "-o", "json").RunOK()
	for _, s := range []string{`"apiVersion": "piyasa.io/v1alpha1"`, `"kind": "VersionList"`, `"gitVersion": "v1.36`} {
		if !strings.Contains(r.Stdout, s) {
			t.Errorf("version -o json lacks %s:\n%s", s, r.Stdout)
		}
	}
	// each installed subcommand answers --version with its stamped version
	for _, s := range suite.Subcommands {
		if _, err := os.Stat(filepath.Join(harness.Env.BinDir, suite.Binary(s.Name))); err != nil {
			continue
		}
		v := harness.Command(t, suite.Binary(s.Name), "--version").RunOK()
		if !strings.HasPrefix(v.Stdout, suite.Binary(s.Name)+" v") {
			t.Errorf("%s --version: %s", s.Name, v.Stdout)
		}
	}
}

func TestUnknownSubcommandExits2WithSuggestion(t *testing.T) {
	r := harness.Piyasa(t, "deplyo").ExpectCode(2)
	if !strings.Contains(r.Stderr, `did you mean "deploy"`) {
		t.Errorf("no suggestion: %s", r.Stderr)
	}
	harness.Piyasa(t, "frobnicate").ExpectCode(2)
}

// twoContextKubeconfig writes a kubeconfig with context "local" on the test
// cluster and context "elsewhere" on an address where nothing listens.
func twoContextKubeconfig(t *testing.T) string {
	cfg, err := clientcmd.LoadFromFile(harness.Env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cur := cfg.Contexts[cfg.CurrentContext]
	local := cur.DeepCopy()
	local.Namespace = "from-context"
	cfg.Contexts["local"] = local
	down := cfg.Clusters[cur.Cluster].DeepCopy()
	down.Server = "https://127.0.0.1:1"
	cfg.Clusters["nowhere"] = down
	elsewhere := cur.DeepCopy()
	elsewhere.Cluster = "nowhere"
	cfg.Contexts["elsewhere"] = elsewhere
	cfg.CurrentContext = "elsewhere"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestContextFlagIsHonoured(t *testing.T) {
	kc := twoContextKubeconfig(t)
	// the current context points nowhere: exit 3
	r := harness.Piyasa(t, "--kubeconfig", kc, "--request-timeout", "2s", "version").ExpectCode(3)
	if !strings.Contains(r.Stderr, "127.0.0.1:1") {
		t.Errorf("error does not name the server: %s", r.Stderr)
	}
	// --context selects the live cluster, before or after the subcommand
	for _, args := range [][]string{
		{"--kubeconfig", kc, "--context", "local", "version"},
		{"version", "--kubeconfig", kc, "--context", "local"},
	} {
		r := harness.Piyasa(t, args...).RunOK()
		if !strings.Contains(r.Stdout, harness.Env.Server) {
			t.Errorf("%v: server not shown:\n%s", args, r.Stdout)
		}
	}
}

func TestUnreachableServerExits3Quickly(t *testing.T) {
	r := harness.Piyasa(t, "--server", "https://127.0.0.1:1", "--request-timeout", "2s", "version").ExpectCode(3)
	assertOneLineError(t, r)
	if r.Duration > 5*time.Second {
		t.Errorf("took %s", r.Duration)
	}

	// A server that accepts connections and never answers: --request-timeout must end the wait.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	r = harness.Piyasa(t, "--server", "https://"+ln.Addr().String(), "--insecure-skip-tls-verify", "--request-timeout", "2s", "version").ExpectCode(3)
	assertOneLineError(t, r)
	if r.Duration > 5*time.Second {
		t.Errorf("silent server: took %s", r.Duration)
	}
	t.Logf("unreachable: exit 3 in %s", r.Duration)
}

func assertOneLineError(t *testing.T, r harness.Result) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: cannot reach the cluster") {
		t.Errorf("want one error line, got:\n%s", r.Stderr)
	}
}

func TestClusterRunsDeploymentToAvailable(t *testing.T) {
	ns := harness.Namespace(t, "found")
	start := time.Now()
	harness.ApplyYAML(t, ns, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
`)
	harness.Kubectl(t, "wait", "-n", ns, "--for=condition=Available", "deployment/web", "--timeout=60s").RunOK()
	t.Logf("deployment Available %.1fs after apply", time.Since(start).Seconds())
	d, err := harness.Client(t).AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil || d.Status.AvailableReplicas != 2 {
		t.Fatalf("available=%v err=%v", d.Status.AvailableReplicas, err)
	}
}

func TestNamespaceFromContextAndFlag(t *testing.T) {
	kc := twoContextKubeconfig(t)
	status := func(args ...string) map[string]any {
		t.Helper()
		r := harness.Piyasa(t, append([]string{"--kubeconfig", kc, "--context", "local"}, args...)...).RunOK()
		var doc map[string]any
		if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, r.Stdout)
		}
		return doc
	}
	// the context's namespace, then -n before and after the subcommand, then --env
	if ns := status("deploy", "status", "-o", "json")["namespace"]; ns != "from-context" {
		t.Errorf("namespace from context = %v", ns)
	}
	if ns := status("-n", "foo", "deploy", "status", "-o", "json")["namespace"]; ns != "foo" {
		t.Errorf("-n before the subcommand: %v", ns)
	}
	if ns := status("deploy", "status", "-n", "bar", "-o", "json")["namespace"]; ns != "bar" {
		t.Errorf("-n after the subcommand: %v", ns)
	}
	doc := status("deploy", "status", "--env", "prod", "-o", "json")
	if doc["namespace"] != "piyasa-chatbot" || doc["environment"] != "prod" {
		t.Errorf("--env prod: %v %v", doc["namespace"], doc["environment"])
	}
}

// With only the separate binaries on PATH (no dispatcher), kubectl's own
// longest-name plugin lookup still runs `kubectl piyasa deploy`.
func TestSubcommandWithoutDispatcher(t *testing.T) {
	dir := t.TempDir()
	bin := suite.Binary("deploy")
	if err := os.Symlink(filepath.Join(harness.Env.BinDir, bin), filepath.Join(dir, bin)); err != nil {
		t.Fatal(err)
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		kubectl = filepath.Join(harness.Env.ClusterBin, "kubectl")
	}
	cmd := exec.Command(kubectl, "piyasa", "deploy", "status", "-n", "nothing-here", "-o", "json")
	cmd.Env = append(os.Environ(), "PATH="+dir, "KUBECONFIG="+harness.Env.Kubeconfig)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl piyasa deploy without the dispatcher: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"namespace": "nothing-here"`) {
		t.Errorf("unexpected output:\n%s", out)
	}
	// and the dispatcher is really absent: `kubectl piyasa` alone is unknown to kubectl
	cmd = exec.Command(kubectl, "piyasa", "--help")
	cmd.Env = append(os.Environ(), "PATH="+dir, "KUBECONFIG="+harness.Env.Kubeconfig)
	if out, err := cmd.CombinedOutput(); err == nil && strings.Contains(string(out), "Subcommands:") {
		t.Errorf("dispatcher unexpectedly found:\n%s", out)
	}
}
