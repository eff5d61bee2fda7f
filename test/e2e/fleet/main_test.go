// Package fleet_test runs the fan-out of the commands that read state
// (--fleet, --contexts) through the real `kubectl piyasa ...`: a kubeconfig
// with two contexts on the harness cluster, each on its own namespace with
// the app deployed, a third on a dead address (127.0.0.1:1) and a fourth on
// an address that accepts connections and never answers.
package fleet_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// setup is the fleet of a test.
type setup struct {
	// kubeconfig has the contexts eu and us (the harness cluster, namespaces
	// euNS and usNS), dead (127.0.0.1:1) and silent (never answers).
	kubeconfig string
	euNS, usNS string
	// fleet is a fleet file of eu (primary), us and dead.
	fleet string
}

// newSetup deploys the dev overlay into two fresh namespaces and writes
// the kubeconfig and the fleet file.
func newSetup(t *testing.T) *setup {
	t.Helper()
	dir := t.TempDir()
	s := &setup{euNS: harness.Namespace(t, "fleet-eu"), usNS: harness.Namespace(t, "fleet-us")}
	envFile := harness.InitEnv(t, filepath.Join(dir, "dev.env"))
	for _, ns := range []string{s.euNS, s.usNS} {
		harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", envFile, "--wait=false").RunOK()
	}
	s.kubeconfig = filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, s.kubeconfig, map[string]string{"eu": s.euNS, "us": s.usNS}, silentServer(t))
	s.fleet = filepath.Join(dir, "piyasa-fleet.yaml")
	writeFile(t, s.fleet, `apiVersion: piyasa.io/v1alpha1
kind: Fleet
regions:
  - name: eu
    context: eu
    environment: dev
    namespace: `+s.euNS+`
    role: primary
    wave: 1
  - name: us
    context: us
    environment: dev
    namespace: `+s.usNS+`
    role: standby
    wave: 2
  - name: gone
    context: dead
    environment: dev
    role: standby
    wave: 2
`)
	return s
}

// writeKubeconfig writes the harness's kubeconfig with a context per
// namespace on its cluster, "dead" on 127.0.0.1:1 and "silent" on silent.
func writeKubeconfig(t *testing.T, path string, namespaces map[string]string, silent string) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(harness.Env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cur := cfg.Contexts[cfg.CurrentContext]
	if cur == nil {
		t.Fatalf("the harness kubeconfig has no current context")
	}
	for name, ns := range namespaces {
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: cur.Cluster, AuthInfo: cur.AuthInfo, Namespace: ns}
	}
	for name, server := range map[string]string{"dead": "https://127.0.0.1:1", "silent": "https://" + silent} {
		c := *cfg.Clusters[cur.Cluster]
		c.Server = server
		cfg.Clusters[name] = &c
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: cur.AuthInfo}
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

// silentServer listens on a loopback port, accepts connections and never
// answers (an API server that hangs); it returns host:port.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// summaryRow returns the row of the table of the clusters that starts with context.
func summaryRow(t *testing.T, out, context string) []string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if f := strings.Fields(lines[i]); len(f) > 0 && f[0] == context {
			return f
		}
		if strings.HasPrefix(lines[i], "CONTEXT ") {
			break
		}
	}
	t.Fatalf("no row of context %s in the table of the clusters:\n%s", context, out)
	return nil
}
