// Package krew tests the release archives and the Krew index end to end,
// offline: scripts/release.sh builds the archives, a local HTTP server on
// 127.0.0.1 serves them, a throwaway git repository is the index, and krew
// v0.4.4 (built from the Go module proxy, cached outside the repository)
// installs the plugin into an isolated KREW_ROOT. The installed suite is then
// run through the machine's kubectl and its plugin lookup.
//
// No cluster is started: installing needs none, and `kubectl piyasa version`
// talks to a fake API server that answers /version.
//
// PIYASA_E2E_ALL_PLATFORMS=1 builds and validates all five platforms (slow on a
// cold build cache); by default the linux platforms (what validate-krew-manifest
// is run on) and the host's are built.
package krew

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// KrewVersion is the krew release the tests build.
const KrewVersion = "v0.4.4"

// Version is the version the test release is stamped with.
const Version = "v0.99.0"

// AllPlatforms are the platforms of a release.
var AllPlatforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

var env struct {
	Root      string
	Tmp       string
	Dist      string // the release's output
	Tools     string // krew, kubectl-krew, validate-krew-manifest
	Kubectl   string // the kubectl binary used
	BaseURL   string // the archive server
	Platforms []string
	Sums      map[string]string // archive name -> sha256
	Binaries  []string          // the executables in the archives
	Subs      []string          // the suite subcommands in the archives
	Kubecfg   string            // kubeconfig of the fake API server
}

// TestMain runs the package and then the harness's canary check (harness.CheckCanary).
func TestMain(m *testing.M) { os.Exit(harness.CheckCanary(runMain(m))) }

func runMain(m *testing.M) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "krew e2e: "+format+"\n", a...)
		return 1
	}
	env.Root = harness.RepoRoot()
	tmp, err := os.MkdirTemp("", "piyasa-krew-e2e-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)
	env.Tmp = tmp

	if env.Tools, err = buildKrew(); err != nil {
		return fail("building krew %s: %v", KrewVersion, err)
	}
	if env.Kubectl, err = findKubectl(); err != nil {
		return fail("%v", err)
	}

	env.Dist = filepath.Join(tmp, "dist")
	// The server serves dist/ under /releases/<version>/, like a release download URL.
	mux := http.NewServeMux()
	mux.Handle("/releases/"+Version+"/", http.StripPrefix("/releases/"+Version+"/", http.FileServer(http.Dir(env.Dist))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	env.BaseURL = srv.URL + "/releases/" + Version
	api := fakeAPIServer()
	defer api.Close()
	env.Kubecfg = filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(env.Kubecfg, []byte(kubeconfig(api.URL)), 0o600); err != nil {
		return fail("%v", err)
	}

	env.Platforms = []string{"linux/amd64", "linux/arm64"}
	if host := runtime.GOOS + "/" + runtime.GOARCH; !slices.Contains(env.Platforms, host) {
		env.Platforms = append(env.Platforms, host)
	}
	if os.Getenv("PIYASA_E2E_ALL_PLATFORMS") == "1" {
		env.Platforms = AllPlatforms
	}
	start := time.Now()
	stderr, err := harness.Release(env.Dist, Version, env.BaseURL, env.Platforms)
	if err != nil {
		return fail("scripts/release.sh: %v\n%s", err, stderr)
	}
	fmt.Fprintf(os.Stderr, "krew e2e: release of %s built in %.0fs\n%s", strings.Join(env.Platforms, ", "), time.Since(start).Seconds(), lastLines(stderr, len(env.Platforms)+1))

	if env.Sums, err = readSums(filepath.Join(env.Dist, "SHA256SUMS")); err != nil {
		return fail("%v", err)
	}
	out, _, err := harness.Tools(tmp).Exec(tmp, "tar", "tzf", filepath.Join(env.Dist, archive("linux/amd64")))
	if err != nil {
		return fail("listing the linux/amd64 archive: %v", err)
	}
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "kubectl") {
			env.Binaries = append(env.Binaries, f)
		}
		if sub, ok := strings.CutPrefix(f, "kubectl-piyasa-"); ok {
			env.Subs = append(env.Subs, sub)
		}
	}
	return m.Run()
}

// archive is the archive name of a platform in the test release.
func archive(platform string) string {
	os, arch, _ := strings.Cut(platform, "/")
	if os == "windows" {
		return fmt.Sprintf("kubectl-piyasa_%s_%s_%s.zip", Version, os, arch)
	}
	return fmt.Sprintf("kubectl-piyasa_%s_%s_%s.tar.gz", Version, os, arch)
}

// cacheDir is where krew is built once: ${XDG_CACHE_HOME:-~/.cache}/kubectl-piyasa/krew-<version>.
func cacheDir() string {
	return filepath.Join(harness.CacheHome(), "kubectl-piyasa", "krew-"+KrewVersion)
}

// buildKrew builds krew and validate-krew-manifest from the Go module proxy
// into the cache (reused when present) and links krew as kubectl-krew, the
// name kubectl's plugin lookup (and validate-krew-manifest) runs it by.
func buildKrew() (string, error) {
	dir := cacheDir()
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(filepath.Dir(dir), ".krew-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	build := harness.Tools(work).With("GOBIN="+work, "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if _, stderr, err := build.Exec(work, "go", "install", "-trimpath", "-ldflags", "-s -w",
		"sigs.k8s.io/krew/cmd/krew@"+KrewVersion, "sigs.k8s.io/krew/cmd/validate-krew-manifest@"+KrewVersion); err != nil {
		return "", fmt.Errorf("%v\n%s", err, stderr)
	}
	if err := os.Symlink("krew", filepath.Join(work, "kubectl-krew")); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(work, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	_ = os.RemoveAll(dir) // an incomplete earlier build
	if err := os.Rename(work, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, ".complete")); statErr == nil {
			return dir, nil // a concurrent run finished first
		}
		return "", err
	}
	return dir, nil
}

// findKubectl returns the machine's kubectl, else the control plane's (built by scripts/cp-build.sh).
func findKubectl() (string, error) {
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p, nil
	}
	bin, err := harness.ControlPlane()
	if err != nil {
		return "", fmt.Errorf("no kubectl on PATH and %v", err)
	}
	p := filepath.Join(bin, "kubectl")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no kubectl on PATH nor in the control plane cache")
	}
	return p, nil
}

func readSums(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 {
			sums[strings.TrimPrefix(fields[1], "*")] = fields[0]
		}
	}
	return sums, sc.Err()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// Namespaces are the namespaces the fake API server lists.
var Namespaces = []string{"default", "piyasa-dev", "piyasa-prod"}

// fakeAPIServer answers /version and the namespace list like a Kubernetes API
// server, for `kubectl piyasa version` and namespace completion.
func fakeAPIServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/version":
			fmt.Fprint(w, `{"major":"1","minor":"36","gitVersion":"v1.36.3","platform":"linux/amd64"}`)
		case "/api/v1/namespaces":
			items := make([]string, 0, len(Namespaces))
			for _, n := range Namespaces {
				items = append(items, `{"metadata":{"name":"`+n+`"}}`)
			}
			fmt.Fprint(w, `{"kind":"NamespaceList","apiVersion":"v1","metadata":{},"items":[`+strings.Join(items, ",")+`]}`)
		default:
			http.NotFound(w, r)
		}
	}))
}

func kubeconfig(server string) string {
	return `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: ` + server + `
users:
- name: fake
  user: {}
contexts:
- name: fake
  context: {cluster: fake, user: fake, namespace: default}
current-context: fake
`
}
