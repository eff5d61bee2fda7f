package dispatch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fleetSuite writes a kubectl-piyasa-scale whose __server answers per
// --context: "dead" as an unreachable cluster, "hang" never, others with a
// version.
func fleetSuite(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("fake binaries are shell scripts")
	}
	dir := t.TempDir()
	script := `#!/bin/sh
case $1 in
version) echo '{"binary":"kubectl-piyasa-scale","version":"v9.9.9","commit":"c0ffee","date":"d","goVersion":"go","platform":"p"}';;
__server) shift
  case "$*" in
  *--context=dead*) echo '{"error":{"code":3,"message":"cannot reach the cluster at https://127.0.0.1:1: connection refused","hint":"check --context"}}';;
  *--context=hang*) exec sleep 600;;
  *) ctx=$(echo "$*" | sed 's/.*--context=//'); echo '{"server":{"host":"https://'$ctx':6443","gitVersion":"v1.36.3","platform":"linux/amd64"}}';;
  esac;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "kubectl-piyasa-scale"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVersionContexts(t *testing.T) {
	dir := fleetSuite(t)
	code, out, errOut := runVersion(dir, "version", "--contexts", "a,dead,b,hang", "--cluster-timeout", "1s")
	if code != 3 {
		t.Errorf("exit %d, want 3 (the worst)", code)
	}
	for _, want := range []string{
		"kubectl-piyasa-scale      v9.9.9",
		"=== context a\nServer: v1.36.3 (https://a:6443)\n\n=== context dead\n\n=== context b\nServer: v1.36.3 (https://b:6443)\n\n=== context hang\n",
		"CONTEXT   ROLE   NAMESPACE   EXIT   RESULT",
		"a         -      -           0      ok",
		"dead      -      -           3      cannot reach the cluster at https://127.0.0.1:1",
		"hang      -      -           3      no answer from context hang within 1s (--cluster-timeout)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "error: cannot reach the cluster at https://127.0.0.1:1: connection refused\nhint: check --context\n") ||
		!strings.HasSuffix(errOut, "error: 2 of 4 clusters did not succeed: dead (exit 3), hang (exit 3)\n") {
		t.Errorf("stderr:\n%s", errOut)
	}

	code, out, _ = runVersion(dir, "version", "--contexts", "a,dead", "-o", "json")
	var doc struct {
		APIVersion, Kind string
		Items            []struct {
			Context  string
			ExitCode int
			Error    string
			Document *struct {
				Kind   string
				Server ServerInfo
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 3 || doc.Kind != "List" || doc.APIVersion != APIVersion || len(doc.Items) != 2 {
		t.Fatalf("json: exit %d %v\n%s", code, err, out)
	}
	if it := doc.Items[0]; it.Context != "a" || it.Document == nil || it.Document.Kind != "VersionList" || it.Document.Server.Host != "https://a:6443" {
		t.Errorf("item a: %+v", it)
	}
	if it := doc.Items[1]; it.Context != "dead" || it.ExitCode != 3 || it.Document != nil || !strings.Contains(it.Error, "cannot reach") {
		t.Errorf("item dead: %+v", it)
	}
}

func TestVersionFleetFile(t *testing.T) {
	dir := fleetSuite(t)
	file := filepath.Join(t.TempDir(), "piyasa-fleet.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("apiVersion: piyasa.io/v1alpha1\nkind: Fleet\nregions:\n- {name: eu, context: a, environment: prod, role: primary, wave: 1}\n- {name: us, context: b, environment: dev, role: standby, wave: 2}\n")
	code, out, errOut := runVersion(dir, "version", "--fleet", file)
	if code != 0 || errOut != "" || !strings.Contains(out, "=== context b (region us, standby, namespace piyasa-chatbot-dev)\nServer: v1.36.3 (https://b:6443)\n") ||
		!strings.Contains(out, "a         eu       primary   piyasa-chatbot       0      ok") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	write("apiVersion: piyasa.io/v1alpha1\nkind: Fleet\nregions:\n- {name: eu, context: a, environment: prod, role: boss, wave: 1}\n")
	if code, _, errOut := runVersion(dir, "version", "--fleet", file); code != 2 || !strings.HasPrefix(errOut, "error: "+file+":4: region \"eu\": role must be primary or standby\n") {
		t.Errorf("bad file: exit %d %q", code, errOut)
	}
}

func TestVersionFleetUsage(t *testing.T) {
	dir := fleetSuite(t)
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--context", "x", "version", "--contexts", "a"}, "error: --context cannot be used with --fleet or --contexts"},
		{[]string{"version", "--contexts", "a", "--fleet", "f"}, "error: --fleet and --contexts exclude each other"},
		{[]string{"version", "--cluster-timeout", "3s"}, "error: --cluster-timeout is for --fleet or --contexts"},
		{[]string{"version", "--contexts", "a", "--client"}, "error: --client asks no cluster"},
		{[]string{"version", "--contexts", "a,a"}, `error: --contexts: context "a" is given twice`},
		{[]string{"version", "--fleet", "no-such-file.yaml"}, "error: --fleet: open no-such-file.yaml"},
	} {
		if code, _, errOut := runVersion(dir, c.args...); code != 2 || !strings.HasPrefix(errOut, c.err) {
			t.Errorf("%q: exit %d %q", c.args, code, errOut)
		}
	}
}
