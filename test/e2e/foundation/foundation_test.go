// Package foundation tests the suite's shared behaviour end to end: the
// dispatcher through kubectl's plugin lookup, the kubectl flags, exit codes,
// and the local control plane itself.
package foundation

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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
		// No app is deployed there: status exits 1 and still prints its document.
		r := harness.Piyasa(t, append([]string{"--kubeconfig", kc, "--context", "local"}, args...)...).ExpectCode(1)
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
	sb := harness.NewSandbox(t).With("PATH=" + dir)
	r := sb.Command(t, kubectl, "piyasa", "deploy", "status", "-n", "nothing-here", "-o", "json").ExpectCode(1) // not deployed
	if !strings.Contains(r.Stdout, `"namespace": "nothing-here"`) {
		t.Errorf("unexpected output:\n%s", r.Stdout)
	}
	// and the dispatcher is really absent: `kubectl piyasa` alone is unknown to kubectl
	if r := sb.Command(t, kubectl, "piyasa", "--help").Run(); r.Code == 0 && strings.Contains(r.Stdout, "Subcommands:") {
		t.Errorf("dispatcher unexpectedly found:\n%s", r.Stdout)
	}
}

// installed are the subcommands whose binaries were built.
func installed(t *testing.T) []string {
	var subs []string
	for _, s := range suite.Subcommands {
		if _, err := os.Stat(filepath.Join(harness.Env.BinDir, suite.Binary(s.Name))); err == nil {
			subs = append(subs, s.Name)
		}
	}
	if len(subs) == 0 {
		t.Fatal("no subcommand built")
	}
	return subs
}

// A missing --kubeconfig and a --context, --cluster or --user the kubeconfig
// lacks: exit 3, one error line and a hint, in every binary (issue 16 #3).
func TestMissingKubeconfigAndUnknownContextExit3(t *testing.T) {
	kc := twoContextKubeconfig(t)
	for _, sub := range installed(t) {
		for _, c := range []struct {
			args      []string
			msg, hint string
		}{
			{[]string{sub, "--kubeconfig", "/nonexistent/kubeconfig"}, "error: kubeconfig /nonexistent/kubeconfig does not exist", "hint: check --kubeconfig"},
			{[]string{"--kubeconfig", kc, sub, "--context", "nope"}, `error: the kubeconfig has no context "nope"`, "hint: check --context and --kubeconfig; list them with: kubectl config get-contexts"},
			{[]string{sub, "--kubeconfig", kc, "--context", "local", "--user", "nobody"}, `error: the kubeconfig has no user "nobody"`, "hint: check --user"},
		} {
			args := c.args
			switch sub {
			case "deploy", "scale", "migrate":
				args = append(args, "status")
			case "backup":
				args = append(args, "schedule", "show")
			}
			r := harness.Piyasa(t, args...).ExpectCode(3)
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			if len(lines) != 2 || lines[0] != c.msg || !strings.HasPrefix(lines[1], c.hint) {
				t.Errorf("%v: stderr\n%s\nwant %q and %q", args, r.Stderr, c.msg, c.hint)
			}
		}
	}
}

// `kubectl piyasa <sub> version --help` is help, not an error.
func TestSubcommandVersionHelp(t *testing.T) {
	for _, sub := range installed(t) {
		for _, args := range [][]string{{sub, "version", "--help"}, {"-n", "x", sub, "version", "-h"}} {
			r := harness.Piyasa(t, args...).RunOK()
			if !strings.Contains(r.Stdout, "Print the version of "+suite.Binary(sub)) || !strings.Contains(r.Stdout, "-o, --output") || r.Stderr != "" {
				t.Errorf("%v:\nstdout:\n%s\nstderr:\n%s", args, r.Stdout, r.Stderr)
			}
		}
	}
}

// A typo of a subcommand's command: exit 2 and "did you mean" (issue 16 #19).
func TestSubcommandTypoSuggests(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", "stauts"}, "status"},
		{[]string{"diagnose", "explian"}, "explain"},
	} {
		if _, err := os.Stat(filepath.Join(harness.Env.BinDir, suite.Binary(c.args[0]))); err != nil {
			continue
		}
		r := harness.Piyasa(t, c.args...).ExpectCode(2)
		want := `error: unknown command "` + c.args[len(c.args)-1] + `" for "kubectl piyasa ` + c.args[0] + `"` + "\n" + `hint: did you mean "` + c.want + `"?` + "\n"
		if r.Stderr != want {
			t.Errorf("%v: stderr\n%s\nwant\n%s", c.args, r.Stderr, want)
		}
	}
}

// -v/--v is kubectl's log level in every binary: client-go's request log on
// stderr, stdout untouched; --version stays a long flag.
func TestVerbosityFlag(t *testing.T) {
	for _, args := range [][]string{{"-v=6", "deploy", "status", "-n", "nothing-here", "-o", "json"}, {"deploy", "status", "--v", "6", "-n", "nothing-here", "-o", "json"}} {
		r := harness.Piyasa(t, args...).ExpectCode(1) // nothing deployed there
		var doc map[string]any
		if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
			t.Errorf("%v: stdout is not the JSON document: %v\n%s", args, err, r.Stdout)
		}
		if !strings.Contains(r.Stderr, `"Response" verb="GET" url="`+harness.Env.Server) {
			t.Errorf("%v: no request log on stderr:\n%s", args, r.Stderr)
		}
	}
	if r := harness.Piyasa(t, "deploy", "status", "-n", "nothing-here", "-o", "json").ExpectCode(1); strings.Contains(r.Stderr, `"Response"`) || strings.Count(r.Stderr, "\n") > 2 {
		t.Errorf("without -v, stderr has more than the two-line error: %s", r.Stderr)
	}
	v := harness.Command(t, suite.Binary("deploy"), "--version").RunOK()
	if !strings.HasPrefix(v.Stdout, suite.Binary("deploy")+" v") {
		t.Errorf("--version: %s", v.Stdout)
	}
}

// --match-server-version compares the server's gitVersion with the client
// library's (client-go v0.X.Y is Kubernetes v1.X.Y), as kubectl does.
func TestMatchServerVersion(t *testing.T) {
	gomod, err := os.ReadFile(filepath.Join(harness.Env.Root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	client := ""
	for _, l := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "k8s.io/client-go" {
			client = "v1." + strings.TrimPrefix(f[1], "v0.")
		}
	}
	sv, err := harness.Client(t).Discovery().ServerVersion()
	if err != nil || client == "" {
		t.Fatalf("client %q, server %v, %v", client, sv, err)
	}
	args := []string{"deploy", "--match-server-version", "status", "-n", "nothing-here", "-o", "json"}
	if sv.GitVersion == client {
		// Nothing is deployed there (exit 1), but the versions were accepted.
		if r := harness.Piyasa(t, args...).ExpectCode(1); strings.Contains(r.Stderr, "differs from client version") {
			t.Errorf("equal versions refused: %s", r.Stderr)
		}
	} else {
		r := harness.Piyasa(t, args...).ExpectCode(1)
		if !strings.Contains(r.Stderr, "server version ("+sv.GitVersion+") differs from client version ("+client+")") {
			t.Errorf("stderr: %s", r.Stderr)
		}
	}
	// a server that is not the client's version is refused
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"20","gitVersion":"v1.20.0"}`)
	}))
	defer fake.Close()
	r := harness.Piyasa(t, "deploy", "--server", fake.URL, "--match-server-version", "status", "-n", "x").ExpectCode(1)
	if want := "error: server version (v1.20.0) differs from client version (" + client + ")"; !strings.HasPrefix(r.Stderr, want) {
		t.Errorf("stderr %q, want %q", r.Stderr, want)
	}
}

// The developer's shell does not reach the commands: $PIYASA_ENV=prod in the
// test process leaves the default environment dev.
func TestShellEnvironmentDoesNotLeak(t *testing.T) {
	t.Setenv("PIYASA_ENV", "prod")
	r := harness.Piyasa(t, "deploy", "status", "-n", "nothing-here", "-o", "json").ExpectCode(1) // nothing deployed
	if !strings.Contains(r.Stdout, `"environment": "dev"`) {
		t.Errorf("PIYASA_ENV of the test process leaked:\n%s", r.Stdout)
	}
	// what a test sets with WithEnv does
	r = harness.Piyasa(t, "deploy", "status", "-n", "nothing-here", "-o", "json").WithEnv("PIYASA_ENV=prod").ExpectCode(1)
	if !strings.Contains(r.Stdout, `"environment": "prod"`) {
		t.Errorf("WithEnv(PIYASA_ENV=prod) not seen:\n%s", r.Stdout)
	}
}

// `make build` names the binaries as package suite does and links
// kubectl_complete-piyasa-<sub>, so that with ./bin on PATH (the Quick
// start) kubectl completes `kubectl piyasa <sub> ...`.
func TestMakeBuildCompletionLinks(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bin")
	harness.Tools(t.TempDir()).Command(t, "make", "build", "BIN="+bin).InDir(harness.Env.Root).WithTimeout(10 * time.Minute).RunOK()
	mains, err := suite.Mains(harness.Env.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mains {
		if st, err := os.Lstat(filepath.Join(bin, m.Executable)); err != nil || !st.Mode().IsRegular() {
			t.Errorf("make build: %s: %v", m.Executable, err)
		}
		if m.Sub == "" {
			continue
		}
		link := filepath.Join(bin, suite.CompletionLink(m.Sub))
		if target, err := os.Readlink(link); err != nil || target != suite.CompletionHelper {
			t.Errorf("%s -> %q (%v), want -> %s", link, target, err, suite.CompletionHelper)
		}
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		kubectl = filepath.Join(harness.Env.ClusterBin, "kubectl")
	}
	sb := harness.NewSandbox(t).With("PATH=" + bin + string(os.PathListSeparator) + filepath.Dir(kubectl))
	r := sb.Command(t, kubectl, "__complete", "piyasa", "deploy", "stat").RunOK()
	if !strings.HasPrefix(r.Stdout, "status") {
		t.Errorf("kubectl __complete piyasa deploy stat:\n%s\n%s", r.Stdout, r.Stderr)
	}
}
