package dispatch

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// The dispatcher and the completion helper stay small: they must not link
// the Kubernetes client libraries (they ask the subcommands instead).
func TestDispatcherLinksNoKubernetesClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	for _, pkg := range []string{"../../plugins/piyasa", "../../plugins/complete-piyasa"} {
		out, err := exec.Command(goBin, "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, banned := range []string{"k8s.io/client-go", "k8s.io/cli-runtime", "k8s.io/apimachinery", "k8s.io/api/", "k8s.io/kubectl", "sigs.k8s.io/kustomize", "github.com/piyasa/kubectl-piyasa/shared/cli", "github.com/piyasa/kubectl-piyasa/shared/output"} {
				if dep == strings.TrimSuffix(banned, "/") || strings.HasPrefix(dep, strings.TrimSuffix(banned, "/")+"/") {
					t.Errorf("%s links %s", filepath.Base(pkg), dep)
				}
			}
		}
	}
}

// sharedFlags must be the flags of every subcommand's root (cli.Global's).
func TestSharedFlags(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	cli.NewGlobal(genericiooptions.IOStreams{}).AddFlags(fs)
	var want []flagDef
	fs.VisitAll(func(f *pflag.Flag) { want = append(want, flagDef{f.Name, f.Shorthand, f.Value.Type()}) })
	if !reflect.DeepEqual(sharedFlags, want) {
		t.Errorf("sharedFlags = %v\nwant (cli.Global's flags) %v", sharedFlags, want)
	}
	if pf := output.NewFlags(); !reflect.DeepEqual(Formats, []string{output.Table, output.Wide, output.JSON, output.YAML}) || pf.Output != formatTable {
		t.Errorf("Formats = %q", Formats)
	}
}

func TestPrintDocumentMatchesOutput(t *testing.T) {
	doc := map[string]any{
		"items":  []any{map[string]any{"binary": "kubectl-piyasa", "version": "v0.0.0-dev", "date": "2026-11-26T00:00:00Z", "installed": true, "path": "/a <b> & c"}},
		"server": ServerInfo{Host: "https://127.0.0.1:6443", GitVersion: "v1.36.3", Platform: "linux/amd64"},
	}
	for _, format := range []string{formatJSON, formatYAML} {
		var got, want bytes.Buffer
		if err := printDocument(&got, format, "VersionList", doc); err != nil {
			t.Fatal(err)
		}
		if err := output.PrintDocument(&want, format, "VersionList", doc); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s:\n%s\nwant (shared/output):\n%s", format, got.String(), want.String())
		}
	}
	if APIVersion != "piyasa.io/v1alpha1" {
		t.Errorf("APIVersion %q", APIVersion)
	}
}

// The document of the subcommands' __server reads as the dispatcher's.
func TestServerVersionDocMatchesCLI(t *testing.T) {
	if ServerVersionCmd != cli.ServerVersionCmd {
		t.Fatalf("%q != cli's %q", ServerVersionCmd, cli.ServerVersionCmd)
	}
	for _, in := range []cli.ServerVersionDoc{
		{Server: &cli.ServerVersionInfo{Host: "https://h:6443", GitVersion: "v1.36.3", Platform: "linux/amd64"}},
		{Error: &cli.ServerVersionErr{Code: 3, Message: "cannot reach the API server", Hint: "check --context"}},
	} {
		raw, _ := json.Marshal(in)
		var out ServerVersionDoc
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		back, _ := json.Marshal(out)
		if string(back) != string(raw) {
			t.Errorf("%s read as %s", raw, back)
		}
	}
}

// fakeSuite writes subcommand scripts that answer version -o json and
// __server (with answer as its output and code as its exit code).
func fakeSuite(t *testing.T, answer string, code int, subs ...string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("fake binaries are shell scripts")
	}
	dir := t.TempDir()
	for _, sub := range subs {
		script := "#!/bin/sh\n" +
			"case $1 in\n" +
			"version) echo '{\"binary\":\"kubectl-piyasa-" + sub + "\",\"version\":\"v9.9.9\",\"commit\":\"c0ffee\",\"date\":\"d\",\"goVersion\":\"go\",\"platform\":\"p\"}';;\n" +
			"__server) shift; echo \"$*\" > \"$(dirname \"$0\")/args-" + sub + "\"; printf '%s\\n' '" + answer + "'; exit " + strconv.Itoa(code) + ";;\n" +
			"esac\n"
		if err := os.WriteFile(filepath.Join(dir, "kubectl-piyasa-"+sub), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runVersion(dir string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	d := &Dispatcher{IOStreams: IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut}, SelfDir: dir,
		LookPath: func(string) (string, error) { return "", os.ErrNotExist }}
	code := d.Run(args)
	return code, out.String(), errOut.String()
}

func TestVersionAsksASubcommandForTheServer(t *testing.T) {
	dir := fakeSuite(t, `{"server":{"host":"https://h:6443","gitVersion":"v1.36.3","platform":"linux/amd64"}}`, 0, "scale", "diagnose")
	code, out, errOut := runVersion(dir, "--context", "c1", "version", "-n", "x", "--as-group=a", "--as-group=b")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"kubectl-piyasa-scale      v9.9.9", "kubectl-piyasa-deploy     not installed", "\nServer: v1.36.3 (https://h:6443)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	// The first installed subcommand answers, with the kubectl flags given.
	args, err := os.ReadFile(filepath.Join(dir, "args-scale"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(args)); got != "--as-group=a --as-group=b --context=c1 --namespace=x" {
		t.Errorf("flags passed: %q", got)
	}
	code, out, _ = runVersion(dir, "version", "-o", "json")
	var doc struct {
		APIVersion, Kind string
		Items            []map[string]any
		Server           ServerInfo
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || doc.Kind != "VersionList" || doc.APIVersion != APIVersion || len(doc.Items) != 6 || doc.Server.GitVersion != "v1.36.3" {
		t.Errorf("json: exit %d %v\n%s", code, err, out)
	}
	_ = os.Remove(filepath.Join(dir, "args-scale"))
	if code, out, _ := runVersion(dir, "version", "--client"); code != 0 || strings.Contains(out, "Server:") {
		t.Errorf("--client: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "args-scale")); err == nil {
		t.Error("--client asked the server")
	}
}

func TestVersionServerErrors(t *testing.T) {
	dir := fakeSuite(t, `{"error":{"code":3,"message":"cannot reach the API server at https://h:6443","hint":"check --context"}}`, 0, "deploy")
	code, out, errOut := runVersion(dir, "version")
	if code != 3 || !strings.Contains(out, "kubectl-piyasa-deploy") || errOut != "error: cannot reach the API server at https://h:6443\nhint: check --context\n" {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	// A binary that does not know __server (an older release).
	dir = fakeSuite(t, `not json`, 2, "deploy")
	if code, _, errOut := runVersion(dir, "version"); code != 2 || !strings.HasPrefix(errOut, "error: kubectl-piyasa-deploy cannot report the server version") || !strings.Contains(errOut, "hint: ") {
		t.Errorf("older binary: exit %d %q", code, errOut)
	}
	// No subcommand installed.
	if code, _, errOut := runVersion(t.TempDir(), "version"); code != 2 || !strings.Contains(errOut, "no subcommand of the suite is installed") {
		t.Errorf("none installed: exit %d %q", code, errOut)
	}
	if code, _, errOut := runVersion(t.TempDir(), "version", "--client"); code != 0 || errOut != "" {
		t.Errorf("none installed, --client: exit %d %q", code, errOut)
	}
}

func TestVersionUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"version", "--help"}, 0, "Usage:\n  kubectl piyasa [flags] version", ""},
		{[]string{"help", "version"}, 0, "Usage:\n  kubectl piyasa [flags] version", ""},
		{[]string{"version", "--frob"}, 2, "", "error: unknown flag: --frob\nhint: " + versionUsage + "\n"},
		{[]string{"version", "x"}, 2, "", "error: version takes no arguments\nhint: " + versionUsage + "\n"},
		{[]string{"version", "-o", "xml", "--client"}, 2, "", "error: unknown output format \"xml\": use -o table|wide|json|yaml\n"},
		{[]string{"-n", "x"}, 2, "", "error: no subcommand given\nhint: run 'kubectl piyasa --help' for the list\n"},
	} {
		code, out, errOut := runVersion(dir, c.args...)
		if code != c.code || !strings.Contains(out, c.out) || errOut != c.err {
			t.Errorf("%q: exit %d\n%s\n%q", c.args, code, out, errOut)
		}
	}
}
