package cli_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

func serverVersion(t *testing.T, args ...string) (int, cli.ServerVersionDoc, string) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	g := cli.NewGlobal(streams)
	code := cli.Execute(cli.NewRoot("deploy", g), g, append([]string{cli.ServerVersionCmd}, args...))
	var doc cli.ServerVersionDoc
	if code == 0 {
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("output %q: %v", out.String(), err)
		}
	}
	return code, doc, errOut.String()
}

func TestServerVersionCmd(t *testing.T) {
	if len(cli.ServerVersionCmd) > len("completion") {
		t.Errorf("%q widens the command list of --help", cli.ServerVersionCmd)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"major":"1","minor":"36","gitVersion":"v1.36.3","platform":"linux/amd64"}`))
	}))
	defer srv.Close()
	code, doc, errOut := serverVersion(t, "--server", srv.URL)
	if code != 0 || doc.Error != nil || doc.Server == nil || *doc.Server != (cli.ServerVersionInfo{Host: srv.URL, GitVersion: "v1.36.3", Platform: "linux/amd64"}) {
		t.Fatalf("exit %d %+v %+v %s", code, doc.Server, doc.Error, errOut)
	}
	// An unreachable server is reported in the document, with the exit code
	// and hint the binary would have printed.
	srv.Close()
	code, doc, _ = serverVersion(t, "--server", srv.URL, "--request-timeout", "2s")
	if code != 0 || doc.Server != nil || doc.Error == nil || doc.Error.Code != cli.ExitCluster || doc.Error.Message == "" {
		t.Fatalf("unreachable: exit %d %+v %+v", code, doc.Server, doc.Error)
	}
	if code, _, errOut := serverVersion(t, "extra"); code != cli.ExitUsage || errOut == "" {
		t.Fatalf("extra argument: exit %d %q", code, errOut)
	}
}
