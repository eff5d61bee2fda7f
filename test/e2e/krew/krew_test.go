package krew

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// manifest is the part of a Krew plugin manifest the tests check.
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		ShortDescription string `json:"shortDescription"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func platformsOf(m manifest) []string {
	var out []string
	for _, p := range m.Spec.Platforms {
		out = append(out, p.Selector.MatchLabels["os"]+"/"+p.Selector.MatchLabels["arch"])
	}
	return out
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestRenderedManifest checks the manifest the release script rendered:
// version from the tag, one platform per archive with its real sha256 and URI.
func TestRenderedManifest(t *testing.T) {
	m := readManifest(t, filepath.Join(env.Dist, "piyasa.yaml"))
	if m.Kind != "Plugin" || m.Metadata.Name != "piyasa" || m.Spec.Version != Version {
		t.Fatalf("manifest: kind %q name %q version %q", m.Kind, m.Metadata.Name, m.Spec.Version)
	}
	if got := platformsOf(m); !slices.Equal(got, env.Platforms) {
		t.Fatalf("platforms %v, want the built ones %v", got, env.Platforms)
	}
	for i, p := range m.Spec.Platforms {
		name := archive(env.Platforms[i])
		if p.URI != env.BaseURL+"/"+name {
			t.Errorf("%s: uri %q", env.Platforms[i], p.URI)
		}
		if p.Sha256 != env.Sums[name] || !sha256Hex.MatchString(p.Sha256) {
			t.Errorf("%s: sha256 %q, SHA256SUMS has %q", env.Platforms[i], p.Sha256, env.Sums[name])
		}
		wantBin := "kubectl-piyasa"
		if strings.HasPrefix(env.Platforms[i], "windows/") {
			wantBin += ".exe"
		}
		if p.Bin != wantBin {
			t.Errorf("%s: bin %q, want %q", env.Platforms[i], p.Bin, wantBin)
		}
	}
	if !strings.Contains(m.Spec.Caveats, "kubectl_complete-piyasa") {
		t.Errorf("caveats do not tell how to enable completion:\n%s", m.Spec.Caveats)
	}
	if len(env.Platforms) == len(AllPlatforms) && !slices.Equal(platformsOf(m), AllPlatforms) {
		t.Errorf("a full release names %v, want %v", platformsOf(m), AllPlatforms)
	}
}

// TestEveryPlatformNamed checks that the template and the index's manifest
// (written by a full `make release`) name all five platforms, and that the
// index's manifest is structurally valid for krew.
func TestEveryPlatformNamed(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join(env.Root, "krew", "piyasa.yaml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range AllPlatforms {
		os, arch, _ := strings.Cut(p, "/")
		if !strings.Contains(string(tmpl), "# platform "+p+"\n") ||
			!strings.Contains(string(tmpl), fmt.Sprintf("os: %s\n        arch: %s\n", os, arch)) ||
			!strings.Contains(string(tmpl), "{{SHA256_"+os+"_"+arch+"}}") {
			t.Errorf("template krew/piyasa.yaml.tmpl does not name %s", p)
		}
	}
	index := filepath.Join(env.Root, "krew", "plugins", "piyasa.yaml")
	m := readManifest(t, index)
	if got := platformsOf(m); !slices.Equal(got, AllPlatforms) {
		t.Errorf("krew/plugins/piyasa.yaml names %v, want %v", got, AllPlatforms)
	}
	for _, p := range m.Spec.Platforms {
		if !sha256Hex.MatchString(p.Sha256) || !strings.Contains(p.URI, "/kubectl-piyasa_"+m.Spec.Version+"_") {
			t.Errorf("krew/plugins/piyasa.yaml: platform %v: uri %q sha256 %q", p.Selector.MatchLabels, p.URI, p.Sha256)
		}
	}
	r := run(t, nil, filepath.Join(env.Tools, "validate-krew-manifest"), "-manifest", index, "-skip-install")
	if r.Code != 0 {
		t.Fatalf("validate-krew-manifest -skip-install krew/plugins/piyasa.yaml: exit %d\n%s", r.Code, r.Stderr)
	}
}

// TestValidateManifest runs validate-krew-manifest on the rendered manifest:
// it installs every platform's archive (downloaded from the local server)
// into a scratch KREW_ROOT with krew's KREW_OS/KREW_ARCH override.
func TestValidateManifest(t *testing.T) {
	r := run(t, []string{"PATH=" + userPath(t.TempDir())}, filepath.Join(env.Tools, "validate-krew-manifest"),
		"-manifest", filepath.Join(env.Dist, "piyasa.yaml"))
	if r.Code != 0 {
		t.Fatalf("validate-krew-manifest: exit %d\n%s", r.Code, r.Stderr)
	}
	want := fmt.Sprintf("all %d spec.platforms installed fine", len(env.Platforms))
	if !strings.Contains(r.Stderr, want) {
		t.Fatalf("validate-krew-manifest did not say %q:\n%s", want, r.Stderr)
	}
}

// TestInstallFromIndex is the user's path: add the index, install the plugin,
// run it through kubectl, complete a command line, uninstall.
func TestInstallFromIndex(t *testing.T) {
	u := newUser(t)
	indexRepo(t, u.index, readFile(t, filepath.Join(env.Dist, "piyasa.yaml")))

	step(t, "index add", func(t *testing.T) {
		u.ok(t, "kubectl", "krew", "index", "add", "e2e", u.index)
		r := u.ok(t, "kubectl", "krew", "index", "list")
		if !strings.Contains(r.Stdout, "e2e") || strings.Contains(r.Stdout, "default") {
			t.Fatalf("index list: want only e2e:\n%s", r.Stdout)
		}
	})
	step(t, "install", func(t *testing.T) {
		r := u.ok(t, "kubectl", "krew", "install", "e2e/piyasa")
		if !strings.Contains(r.Stderr, "Installed plugin: piyasa") || !strings.Contains(r.Stderr, "kubectl_complete-piyasa") {
			t.Fatalf("install output lacks the confirmation or the completion caveat:\n%s", r.Stderr)
		}
		if got := u.ours(t); !slices.Equal(got, []string{"kubectl-piyasa"}) {
			t.Fatalf("%s/bin holds %v, want only kubectl-piyasa (Krew links one binary)", u.root, got)
		}
		store := u.storeDir(t)
		for _, b := range env.Binaries {
			if _, err := os.Stat(filepath.Join(store, b)); err != nil {
				t.Errorf("%s not installed: %v", b, err)
			}
		}
		if _, err := os.Stat(filepath.Join(store, "LICENSE")); err != nil {
			t.Errorf("LICENSE not installed: %v", err)
		}
	})
	step(t, "kubectl piyasa --help", func(t *testing.T) {
		r := u.ok(t, "kubectl", "piyasa", "--help")
		for _, sub := range env.Subs {
			line := lineWith(r.Stdout, "  "+sub+" ")
			if line == "" || strings.Contains(line, "not installed") {
				t.Errorf("help: %s should be listed as installed: %q\n%s", sub, line, r.Stdout)
			}
		}
	})
	for _, sub := range env.Subs {
		step(t, "kubectl piyasa -n x "+sub+" --help", func(t *testing.T) {
			r := u.ok(t, "kubectl", "piyasa", "-n", "x", sub, "--help")
			if !strings.Contains(r.Stdout, "piyasa") || !strings.Contains(r.Stdout, sub) || !strings.Contains(r.Stdout, "--namespace") {
				t.Fatalf("help of %s:\n%s", sub, r.Stdout)
			}
		})
	}
	step(t, "kubectl piyasa version", func(t *testing.T) {
		r := u.ok(t, "kubectl", "piyasa", "version")
		for _, b := range env.Binaries {
			if strings.HasPrefix(b, "kubectl_complete") {
				continue
			}
			if line := lineWith(r.Stdout, b+" "); !strings.Contains(line, Version) {
				t.Errorf("version: %s: %q, want %s\n%s", b, line, Version, r.Stdout)
			}
		}
	})
	step(t, "completion", func(t *testing.T) {
		// The completion executable from the archive, as kubectl runs it.
		r := u.ok(t, filepath.Join(u.storeDir(t), "kubectl_complete-piyasa"), "depl")
		if first(r.Stdout) != "deploy" || !strings.HasSuffix(r.Stdout, ":4\n") {
			t.Fatalf("kubectl_complete-piyasa depl:\n%s", r.Stdout)
		}
		// Through kubectl's completion, after the caveat's one-time link.
		link := filepath.Join(u.root, "bin", "kubectl_complete-piyasa")
		if err := os.Symlink("kubectl-piyasa", link); err != nil {
			t.Fatal(err)
		}
		r = u.ok(t, "kubectl", "__complete", "piyasa", "depl")
		if first(r.Stdout) != "deploy" {
			t.Fatalf("kubectl __complete piyasa depl:\n%s", r.Stdout)
		}
		r = u.ok(t, "kubectl", "__complete", "piyasa", "-n", "x", "")
		for _, want := range append([]string{"version", "completion"}, env.Subs...) {
			if !slices.Contains(names(r.Stdout), want) {
				t.Errorf("kubectl __complete piyasa -n x '': %s missing:\n%s", want, r.Stdout)
			}
		}
		// Words after a subcommand, and flag values before it, are completed by
		// the subcommand binaries themselves: environments, namespaces (from
		// the API server), components.
		if len(env.Subs) == 0 {
			return
		}
		r = u.ok(t, "kubectl", "__complete", "piyasa", env.Subs[0], "--env", "")
		if got := names(r.Stdout); !slices.Equal(got, []string{"dev", "prod"}) {
			t.Errorf("kubectl __complete piyasa %s --env '': %v", env.Subs[0], got)
		}
		r = u.ok(t, "kubectl", "__complete", "piyasa", "--env", "p")
		if got := names(r.Stdout); !slices.Contains(got, "prod") { // shells filter by the prefix
			t.Errorf("kubectl __complete piyasa --env p: %v", got)
		}
		r = u.ok(t, "kubectl", "__complete", "piyasa", "-n", "")
		if got := names(r.Stdout); !slices.Equal(got, Namespaces) {
			t.Errorf("kubectl __complete piyasa -n '': %v, want %v", got, Namespaces)
		}
		r = u.ok(t, "kubectl", "__complete", "piyasa", env.Subs[0], "--namespace", "")
		if got := names(r.Stdout); !slices.Equal(got, Namespaces) {
			t.Errorf("kubectl __complete piyasa %s --namespace '': %v, want %v", env.Subs[0], got, Namespaces)
		}
		if slices.Contains(env.Subs, "scale") {
			r = u.ok(t, "kubectl", "__complete", "piyasa", "-n", "x", "scale", "")
			if got := names(r.Stdout); !slices.Contains(got, "api") || !slices.Contains(got, "worker") {
				t.Errorf("kubectl __complete piyasa -n x scale '': components missing: %v", got)
			}
		}
	})
	step(t, "bash completion scripts", func(t *testing.T) {
		// kubectl's own bash script (for `kubectl piyasa ...`) and the one of
		// `kubectl piyasa completion bash` (for kubectl-piyasa), run by bash.
		// bash-completion's _get_comp_words_by_ref is stubbed: the package may
		// not be installed.
		script := `
_get_comp_words_by_ref() { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
__ltrim_colon_completions() { :; }
complete_line() { local fn=$1; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); $fn; printf '%s\n' "${COMPREPLY[@]}"; }
source <(kubectl completion bash)
complete_line __start_kubectl kubectl piyasa -n x depl
echo ---
source <(kubectl piyasa completion bash)
complete_line __start_kubectl-piyasa kubectl-piyasa --env pr
`
		r := u.run(t, "bash", "-c", script)
		if r.Stdout != "deploy\n---\nprod\n" {
			t.Fatalf("bash completion: got\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
		}
	})
	step(t, "uninstall", func(t *testing.T) {
		store := filepath.Dir(u.storeDir(t))
		u.ok(t, "kubectl", "krew", "uninstall", "piyasa")
		if _, err := os.Stat(store); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", store, err)
		}
		if _, err := os.Stat(filepath.Join(u.root, "bin", "kubectl-piyasa")); !os.IsNotExist(err) {
			t.Errorf("kubectl-piyasa left in bin (%v)", err)
		}
		// The caveat's completion link now points at nothing: no binary runs by that name.
		if _, err := os.Stat(filepath.Join(u.root, "bin", "kubectl_complete-piyasa")); !os.IsNotExist(err) {
			t.Errorf("kubectl_complete-piyasa still runs after uninstall (%v)", err)
		}
		_ = os.Remove(filepath.Join(u.root, "bin", "kubectl_complete-piyasa"))
		if got := u.ours(t); len(got) != 0 {
			t.Errorf("left in %s/bin: %v", u.root, got)
		}
		if r := u.run(t, "kubectl", "piyasa", "--help"); r.Code == 0 {
			t.Errorf("kubectl piyasa still runs after uninstall")
		}
	})
}

// TestWrongSHA256 checks that an archive that does not match the manifest's
// sha256 is refused and nothing is installed.
func TestWrongSHA256(t *testing.T) {
	u := newUser(t)
	good := readFile(t, filepath.Join(env.Dist, "piyasa.yaml"))
	host := env.Sums[archive(hostPlatform())]
	if host == "" {
		t.Fatalf("no archive for the host platform %s", hostPlatform())
	}
	bad := strings.ReplaceAll(good, host, strings.Repeat("ab", 32)) // well-formed, wrong
	indexRepo(t, u.index, bad)
	u.ok(t, "kubectl", "krew", "index", "add", "e2e", u.index)
	r := u.run(t, "kubectl", "krew", "install", "e2e/piyasa")
	if r.Code == 0 {
		t.Fatalf("install with a wrong sha256 succeeded:\n%s", r.Stderr)
	}
	if !strings.Contains(r.Stderr, "checksum does not match") {
		t.Errorf("install failed without naming the checksum:\n%s", r.Stderr)
	}
	if got := u.ours(t); len(got) != 0 {
		t.Errorf("left in %s/bin after the failed install: %v", u.root, got)
	}
	if _, err := os.Stat(filepath.Join(u.root, "store", "piyasa")); !os.IsNotExist(err) {
		t.Errorf("store/piyasa exists after the failed install (%v)", err)
	}
}

// user is an isolated Krew installation with its own PATH, HOME and KREW_ROOT.
type user struct {
	root  string // KREW_ROOT
	index string // the throwaway index repository
	sb    *harness.Sandbox
}

func newUser(t *testing.T) *user {
	dir := t.TempDir()
	u := &user{root: filepath.Join(dir, "krew"), index: filepath.Join(dir, "index")}
	u.sb = harness.NewSandbox(t).With(
		"KREW_ROOT="+u.root,
		"KREW_NO_UPGRADE_CHECK=1",
		// Never the public index: if krew ever tried to add it, it would fail here.
		"KREW_DEFAULT_INDEX_URI="+filepath.Join(dir, "no-default-index"),
		"KUBECONFIG="+env.Kubecfg,
		"PATH="+userPath(filepath.Join(u.root, "bin")),
	)
	return u
}

func (u *user) run(t *testing.T, name string, args ...string) harness.Result {
	t.Helper()
	return u.sb.Command(t, name, args...).Run()
}

func (u *user) ok(t *testing.T, name string, args ...string) harness.Result {
	t.Helper()
	return u.sb.Command(t, name, args...).RunOK()
}

// storeDir is the installed version's directory, $KREW_ROOT/store/piyasa/<version>.
func (u *user) storeDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(u.root, "store", "piyasa", Version)
}

// ours lists the suite's entries in $KREW_ROOT/bin.
func (u *user) ours(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(u.root, "bin"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "kubectl-piyasa") || strings.HasPrefix(e.Name(), "kubectl_complete-piyasa") {
			out = append(out, e.Name())
		}
	}
	return out
}

// run runs a command in a sandbox of its own (a HOME of the test, the
// machine's PATH) with extra KEY=VALUE pairs.
func run(t *testing.T, extra []string, name string, args ...string) harness.Result {
	t.Helper()
	return harness.NewSandbox(t).With(extra...).Command(t, name, args...).Run()
}

// userPath is the PATH of an isolated user: first, then krew's tools, then
// the machine's PATH without any directory that holds a kubectl-piyasa
// binary (a `make install` there would hide what Krew installed), and the
// kubectl in use last when it is not on the machine's PATH.
func userPath(first string) string {
	parts := []string{first, env.Tools}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if d == "" {
			continue
		}
		if m, _ := filepath.Glob(filepath.Join(d, "kubectl-piyasa*")); len(m) > 0 {
			continue
		}
		if m, _ := filepath.Glob(filepath.Join(d, "kubectl_complete-piyasa*")); len(m) > 0 {
			continue
		}
		parts = append(parts, d)
	}
	if !slices.Contains(parts, filepath.Dir(env.Kubectl)) {
		parts = append(parts, filepath.Dir(env.Kubectl))
	}
	return strings.Join(parts, string(os.PathListSeparator))
}

// indexRepo makes a git repository holding plugins/piyasa.yaml, a Krew index.
func indexRepo(t *testing.T, dir, manifest string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugins", "piyasa.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	git := harness.NewSandbox(t)
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "plugins/piyasa.yaml"},
		{"-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "commit", "-q", "-m", "piyasa " + Version},
	} {
		git.Command(t, "git", args...).InDir(dir).RunOK()
	}
}

func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hostPlatform() string {
	for _, p := range env.Platforms {
		if p == runtime.GOOS+"/"+runtime.GOARCH {
			return p
		}
	}
	return env.Platforms[0]
}

func lineWith(s, substr string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

// names are the completions of a __complete answer, without descriptions and directive.
func names(out string) []string {
	var n []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, ":") {
			continue
		}
		name, _, _ := strings.Cut(l, "\t")
		n = append(n, name)
	}
	return n
}

func first(out string) string {
	if n := names(out); len(n) > 0 {
		return n[0]
	}
	return ""
}
