package deploy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// serveHTTP starts a local HTTP server answering every path with "name path"
// and returns its port.
func serveHTTP(t *testing.T, name string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func get(url string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}

var (
	urlRE       = regexp.MustCompile(`(?m)^(api|frontend): +(http://\S+)$`)
	forwardRE   = regexp.MustCompile(`api: forwarding to pod (\S+) `)
	replacedRE  = regexp.MustCompile(`api: pod (\S+) replaced by (\S+)`)
	freePortsRE = regexp.MustCompile(`^http://localhost:(\d+)`)
)

// TestDeployAccess: `deploy access` forwards the api and the frontend through
// the API server's port-forward (kwok maps the pods' ports to local HTTP
// servers), prints the URLs, follows the api across a rollout, and stops
// with Ctrl-C.
func TestDeployAccess(t *testing.T) {
	ns := harness.Namespace(t, "deploy-access")
	env := newEnvFile(t, ".env")
	harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--timeout", "3m").RunOK()

	apiPort, fePort := serveHTTP(t, "api"), serveHTTP(t, "frontend")
	name := "access-" + ns
	harness.ApplyYAML(t, "", fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterPortForward
metadata: {name: %s}
spec:
  selector: {matchNamespaces: [%s]}
  forwards:
  - ports: [8000]
    target: {port: %d, address: 127.0.0.1}
  - ports: [5173]
    target: {port: %d, address: 127.0.0.1}
`, name, ns, apiPort, fePort))
	t.Cleanup(func() { harness.Kubectl(t, "delete", "clusterportforward", name, "--ignore-not-found").Run() })

	var stdout, stderr harness.SyncBuffer
	cmd := harness.Piyasa(t, "deploy", "access", "--env", "dev", "-n", ns, "--api-port", "0", "--frontend-port", "0").
		WithTimeout(5*time.Minute).Start(&stdout, &stderr)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
	}()
	urls := map[string]string{}
	eventually(t, 60*time.Second, "the printed URLs", func() bool {
		for _, m := range urlRE.FindAllStringSubmatch(stdout.String(), -1) {
			urls[m[1]] = m[2]
		}
		return len(urls) == 2
	})
	t.Logf("URLs: %v\n%s", urls, stderr.String())
	if !strings.HasSuffix(urls["api"], "/docs") || freePortsRE.FindString(urls["api"]) == "" || freePortsRE.FindString(urls["frontend"]) == "" {
		t.Fatalf("URLs %v: want http://localhost:PORT/docs and http://localhost:PORT", urls)
	}
	if urls["api"] == "http://localhost:8000/docs" {
		t.Errorf("--api-port 0 kept 8000")
	}
	// kwok reads the ClusterPortForward asynchronously: the first answer may take a moment.
	var body string
	eventually(t, 30*time.Second, "GET of the api URL", func() bool {
		var err error
		body, err = get(urls["api"])
		return err == nil
	})
	if body != "api /docs" {
		t.Fatalf("api answered %q", body)
	}
	if body, err := get(urls["frontend"]); err != nil || body != "frontend /" {
		t.Fatalf("frontend answered %q (%v)", body, err)
	}

	// A rollout replaces the api pod: access follows it and says so.
	m := forwardRE.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no 'forwarding to pod' line:\n%s", stderr.String())
	}
	oldPod := m[1]
	harness.Kubectl(t, "rollout", "restart", "deployment/dev-api", "-n", ns).RunOK()
	harness.Kubectl(t, "rollout", "status", "deployment/dev-api", "-n", ns, "--timeout", "2m").RunOK()
	var newPod string
	eventually(t, 60*time.Second, "the 'replaced by' line", func() bool {
		if m := replacedRE.FindStringSubmatch(stderr.String()); m != nil {
			if m[1] != oldPod {
				t.Fatalf("replaced %s, but the forwarded pod was %s:\n%s", m[1], oldPod, stderr.String())
			}
			newPod = m[2]
			return true
		}
		return false
	})
	p, err := harness.Client(t).CoreV1().Pods(ns).Get(context.Background(), newPod, metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("the new pod %s is not a live pod (%v)", newPod, err)
	}
	if body, err := get(urls["api"]); err != nil || body != "api /docs" {
		t.Fatalf("after the rollout the api answered %q (%v):\n%s", body, err, stderr.String())
	}

	// Ctrl-C stops both forwards: exit 0, and the ports are closed.
	if err := signalPlugin(cmd); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); ok || err != nil {
			t.Fatalf("access exited %v after Ctrl-C:\n%s", ee, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("access still runs 30s after Ctrl-C:\n%s", stderr.String())
	}
	t.Logf("access said:\n%s", stderr.String())
	if !strings.Contains(stderr.String(), "stopped forwarding") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	for _, u := range urls {
		if _, err := get(u); err == nil {
			t.Errorf("%s still answers after Ctrl-C", u)
		}
	}
}
