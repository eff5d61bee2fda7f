package cli

import (
	"bytes"
	goflag "flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
)

// newTestRoot is the root of kubectl-piyasa-deploy with two subcommands:
// status (prints the environment and namespace) and server (asks the API
// server for its version). env is the process environment it sees.
func newTestRoot(env map[string]string) (*cobra.Command, *Global, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	g := NewGlobal(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	if env != nil {
		g.Getenv = func(k string) string { return env[k] }
	}
	root := NewRoot("deploy", g)
	// as every feature package's root: it runs and takes no arguments, which
	// stops cobra's own "did you mean"
	root.Args = cobra.NoArgs
	root.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	root.AddCommand(&cobra.Command{Use: "status", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error {
		if err := g.Complete(); err != nil {
			return err
		}
		g.Printf("%s %s %s\n", g.Env.Name, g.Namespace, g.Env.Prefix)
		return nil
	}})
	root.AddCommand(&cobra.Command{Use: "server", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error {
		cs, err := g.Clientset()
		if err != nil {
			return err
		}
		v, err := cs.Discovery().ServerVersion()
		if err != nil {
			return err
		}
		g.Printf("server %s\n", v.GitVersion)
		return nil
	}})
	return root, g, &out, &errOut
}

// hermetic is an empty process environment.
var hermetic = map[string]string{}

func TestExecuteExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status"}, ExitOK, "dev piyasa-chatbot-dev dev-"},
		{[]string{"status", "--env", "prod"}, ExitOK, "prod piyasa-chatbot prod-"},
		{[]string{"status", "-n", "piyasa-chatbot"}, ExitOK, "prod piyasa-chatbot prod-"},
		{[]string{"status", "--env", "dev", "-n", "mine"}, ExitOK, "dev mine dev-"},
		{[]string{"status", "--env", "staging"}, ExitUsage, `unknown environment "staging"`},
		{[]string{"status", "extra"}, ExitUsage, "unknown command"},
		{[]string{"status", "--bogus"}, ExitUsage, "unknown flag: --bogus"},
		{[]string{"nope"}, ExitUsage, `unknown command "nope"`},
		{[]string{"--version"}, ExitOK, "kubectl-piyasa-deploy v"},
		{[]string{"version"}, ExitOK, "kubectl-piyasa-deploy v"},
		{[]string{"version", "--help"}, ExitOK, "Print the version of kubectl-piyasa-deploy"},
		{[]string{"version", "-h"}, ExitOK, "Usage:"},
		{[]string{"-n", "x", "version", "--help"}, ExitOK, "-o, --output"},
		// -v is kubectl's log level, --version long only
		{[]string{"-v=6", "status"}, ExitOK, "dev piyasa-chatbot-dev"},
		{[]string{"status", "--v", "2"}, ExitOK, "dev piyasa-chatbot-dev"},
		{[]string{"-v", "x", "status"}, ExitUsage, `invalid argument "x" for "-v, --v"`},
		{[]string{"--vmodule", "round_trippers=6", "status"}, ExitOK, "dev"},
		{[]string{"--profile", "bogus", "status"}, ExitUsage, `unknown profile "bogus"`},
	}
	for _, c := range cases {
		root, g, out, errOut := newTestRoot(hermetic)
		g.ConfigFlags.KubeConfig = ptr("/nonexistent")
		code := Execute(root, g, c.args)
		resetVerbosity(t)
		all := out.String() + errOut.String()
		if code != c.code || !strings.Contains(all, c.want) {
			t.Errorf("%v: exit %d (want %d), output %q (want %q)", c.args, code, c.code, all, c.want)
		}
		if strings.Count(strings.TrimSpace(errOut.String()), "\n") > 1 {
			t.Errorf("%v: more than two lines of error: %q", c.args, errOut.String())
		}
	}
}

// The default of --env is $PIYASA_ENV, read through g.Getenv: the process's
// environment by default, none of it in tests that set Getenv.
func TestEnvVarSetsTheDefaultEnvironment(t *testing.T) {
	t.Setenv(EnvVar, "prod")
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "prod piyasa-chatbot prod-"}, // os.Getenv
		{hermetic, "dev piyasa-chatbot-dev dev-"},
		{map[string]string{EnvVar: "dev"}, "dev piyasa-chatbot-dev dev-"},
	} {
		root, g, out, errOut := newTestRoot(c.env)
		g.ConfigFlags.KubeConfig = ptr("/nonexistent")
		if code := Execute(root, g, []string{"status"}); code != 0 || strings.TrimSpace(out.String()) != c.want {
			t.Errorf("env %v: exit %d, %q %q, want %q", c.env, code, out.String(), errOut.String(), c.want)
		}
	}
}

func TestUnknownSubcommandSuggests(t *testing.T) {
	for _, c := range []struct{ arg, msg, hint string }{
		{"stauts", `error: unknown command "stauts" for "kubectl piyasa deploy"`, `hint: did you mean "status"?`},
		{"serve", `error: unknown command "serve" for "kubectl piyasa deploy"`, `hint: did you mean "server"?`},
		{"frobnicate", `error: unknown command "frobnicate" for "kubectl piyasa deploy"`, `hint: see 'kubectl piyasa deploy --help' for the commands`},
	} {
		root, g, _, errOut := newTestRoot(hermetic)
		code := Execute(root, g, []string{c.arg})
		if want := c.msg + "\n" + c.hint + "\n"; code != ExitUsage || errOut.String() != want {
			t.Errorf("%s: exit %d\n%s\nwant exit 2\n%s", c.arg, code, errOut.String(), want)
		}
	}
}

func TestRootHasKubectlGlobalFlags(t *testing.T) {
	root, _, _, _ := newTestRoot(hermetic)
	fs := root.Flags()
	for _, name := range []string{"v", "vmodule", "match-server-version", "warnings-as-errors", "username", "password",
		"profile", "profile-output", "kubeconfig", "context", "cluster", "user", "token", "server", "as", "request-timeout"} {
		if root.PersistentFlags().Lookup(name) == nil {
			t.Errorf("no --%s", name)
		}
	}
	if f := root.PersistentFlags().ShorthandLookup("v"); f == nil || f.Name != "v" {
		t.Errorf("-v is %v, want kubectl's log level", f)
	}
	if f := fs.Lookup("version"); f == nil || f.Shorthand != "" {
		t.Errorf("--version: %+v, want a long flag only", f)
	}
}

func TestMissingKubeconfigAndContext(t *testing.T) {
	kc := writeKubeconfig(t, "https://127.0.0.1:1")
	for _, c := range []struct {
		args      []string
		msg, hint string
	}{
		{[]string{"--kubeconfig", "/nonexistent/kc", "server"}, "error: kubeconfig /nonexistent/kc does not exist", "hint: check --kubeconfig and $KUBECONFIG"},
		{[]string{"--kubeconfig", kc, "--context", "nope", "server"}, `error: the kubeconfig has no context "nope"`, "hint: check --context and --kubeconfig; list them with: kubectl config get-contexts"},
		{[]string{"--kubeconfig", kc, "--cluster", "nope", "server"}, `error: the kubeconfig has no cluster "nope"`, "kubectl config get-clusters"},
	} {
		root, g, _, errOut := newTestRoot(hermetic)
		code := Execute(root, g, c.args)
		lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
		if code != ExitCluster || len(lines) != 2 || lines[0] != c.msg || !strings.HasPrefix(lines[1], "hint: ") || !strings.Contains(lines[1], c.hint) {
			t.Errorf("%v: exit %d\n%s\nwant exit 3, %q and %q", c.args, code, errOut.String(), c.msg, c.hint)
		}
	}
}

// apiServer answers /version with gitVersion and, when warning is set, a
// Warning header on every response.
func apiServer(t *testing.T, gitVersion, warning string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if warning != "" {
			w.Header().Add("Warning", fmt.Sprintf(`299 - %q`, warning))
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"major":"1","minor":"36","gitVersion":%q}`, gitVersion)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestVerbosityLogsRequestsToStderr(t *testing.T) {
	url := apiServer(t, "v1.36.3", "")
	root, g, out, errOut := newTestRoot(hermetic)
	code := Execute(root, g, []string{"--server", url, "-v=6", "server"})
	resetVerbosity(t)
	if code != 0 || out.String() != "server v1.36.3\n" {
		t.Fatalf("exit %d, %q %q", code, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), `verb="GET" url="`+url+`/version" status="200 OK"`) {
		t.Errorf("-v=6 logged no request line:\n%s", errOut.String())
	}
	// without -v, nothing of klog's
	root, g, out, errOut = newTestRoot(hermetic)
	if code := Execute(root, g, []string{"--server", url, "server"}); code != 0 || errOut.Len() != 0 {
		t.Errorf("without -v: exit %d, stderr %q", code, errOut.String())
	}
	_ = out
}

func TestMatchServerVersion(t *testing.T) {
	// A test binary has no module list: ClientVersion is "unknown" here, and
	// the e2e test (foundation) checks the built binaries' v1.X.Y.
	for _, c := range []struct {
		server string
		args   []string
		code   int
		want   string
	}{
		{"v1.0.0", []string{"server"}, 0, "server v1.0.0"},
		{"v1.0.0", []string{"--match-server-version", "server"}, ExitFailed, "error: server version (v1.0.0) differs from client version (" + ClientVersion() + ")"},
		{ClientVersion(), []string{"--match-server-version", "server"}, 0, "server " + ClientVersion()},
	} {
		root, g, out, errOut := newTestRoot(hermetic)
		code := Execute(root, g, append([]string{"--server", apiServer(t, c.server, "")}, c.args...))
		if all := out.String() + errOut.String(); code != c.code || !strings.Contains(all, c.want) {
			t.Errorf("server %s %v: exit %d %q, want %d %q", c.server, c.args, code, all, c.code, c.want)
		}
	}
}

func TestWarningsAsErrors(t *testing.T) {
	url := apiServer(t, "v1.36.3", "this API is deprecated")
	for _, c := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"server"}, 0, "Warning: this API is deprecated\n"},
		{[]string{"--warnings-as-errors", "server"}, ExitFailed, "Warning: this API is deprecated\nerror: 1 warning received\nhint: --warnings-as-errors is set\n"},
	} {
		root, g, out, errOut := newTestRoot(hermetic)
		code := Execute(root, g, append([]string{"--server", url}, c.args...))
		if code != c.code || errOut.String() != c.stderr || out.String() != "server v1.36.3\n" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q", c.args, code, out.String(), errOut.String(), c.code, c.stderr)
		}
	}
}

func TestUsernamePassword(t *testing.T) {
	var user, pass string
	var ok bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok = r.BasicAuth()
		fmt.Fprint(w, `{"gitVersion":"v1.36.3"}`)
	}))
	defer srv.Close()
	root, g, out, errOut := newTestRoot(hermetic)
	g.IOStreams.In = strings.NewReader("") // nothing may be asked for
	code := Execute(root, g, []string{"--server", srv.URL, "--username", "alice", "--password", "s3cret", "server"})
	if code != 0 || !ok || user != "alice" || pass != "s3cret" || strings.Contains(errOut.String(), "Please enter") {
		t.Errorf("exit %d, basic auth %v %q %q, stdout %q, stderr %q", code, ok, user, pass, out.String(), errOut.String())
	}
}

func TestProfile(t *testing.T) {
	for _, p := range []string{"heap", "cpu"} {
		file := filepath.Join(t.TempDir(), p+".pprof")
		root, g, _, errOut := newTestRoot(hermetic)
		if code := Execute(root, g, []string{"--profile", p, "--profile-output", file, "version"}); code != 0 {
			t.Fatalf("--profile %s: exit %d %s", p, code, errOut.String())
		}
		if st, err := os.Stat(file); err != nil || st.Size() == 0 {
			t.Errorf("--profile %s wrote no profile: %v", p, err)
		}
	}
}

// writeKubeconfig writes a kubeconfig whose only context "a" points at server.
func writeKubeconfig(t *testing.T, server string) string {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "` + server + `"}}]
users: [{name: u, user: {}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
current-context: a
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// resetVerbosity puts klog's global verbosity back to 0 after a -v test.
func resetVerbosity(t *testing.T) {
	fs := goflag.NewFlagSet("reset", goflag.ContinueOnError)
	klog.InitFlags(fs)
	if err := fs.Set("v", "0"); err != nil {
		t.Fatal(err)
	}
	QuietKlog()
}

func ptr(s string) *string { return &s }
