package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sandbox is the environment a command runs in, built from an allow-list
// and never inherited from the shell the tests were started in (krew's
// lesson: `PIYASA_ENV=prod go test ./test/...` must test what CI tests):
//
//	PATH        Path
//	HOME        Home (a directory of the test run; kubectl's cache and kuberc live there)
//	KUBECONFIG  Kubeconfig, when set
//	KUBERC=off  kubectl reads no preferences file
//	Vars        what the test adds (Sandbox.With, Cmd.WithEnv): the last value of a key wins
//
// Commands that build Go code get the Go tool's settings too (Tools, GoEnv).
type Sandbox struct {
	// Path is PATH.
	Path string
	// Kubeconfig is KUBECONFIG ("": not set).
	Kubeconfig string
	// Home is HOME.
	Home string
	// Vars are further KEY=VALUE pairs.
	Vars []string
}

// NewSandbox returns a sandbox with its own HOME (a temporary directory of
// t) on the package's PATH and cluster (Env.Path, Env.Kubeconfig; for a
// package without a cluster, the machine's PATH).
func NewSandbox(t testing.TB) *Sandbox {
	t.Helper()
	path := Env.Path
	if path == "" {
		path = os.Getenv("PATH")
	}
	return &Sandbox{Path: path, Kubeconfig: Env.Kubeconfig, Home: t.TempDir()}
}

// With returns a copy of s with KEY=VALUE pairs added; PATH=, HOME= and
// KUBECONFIG= set those fields.
func (s *Sandbox) With(kv ...string) *Sandbox {
	c := *s
	c.Vars = append([]string(nil), s.Vars...)
	for _, v := range kv {
		switch k, val, _ := strings.Cut(v, "="); k {
		case "PATH":
			c.Path = val
		case "HOME":
			c.Home = val
		case "KUBECONFIG":
			c.Kubeconfig = val
		default:
			c.Vars = append(c.Vars, v)
		}
	}
	return &c
}

// Environ is the whole environment of a command run in s.
func (s *Sandbox) Environ() []string {
	env := []string{"PATH=" + s.Path, "HOME=" + s.Home, "KUBERC=off"}
	if s.Kubeconfig != "" {
		env = append(env, "KUBECONFIG="+s.Kubeconfig)
	}
	// the last value of a key wins, in its first position
	pos := map[string]int{}
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		pos[k] = i
	}
	for _, kv := range s.Vars {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := pos[k]; ok {
			env[i] = kv
			continue
		}
		pos[k] = len(env)
		env = append(env, kv)
	}
	return env
}

// Command returns name run in s.
func (s *Sandbox) Command(t testing.TB, name string, args ...string) *Cmd {
	return &Cmd{t: t, sb: s, name: name, args: args, timeout: 5 * time.Minute}
}

// Exec runs a command in s outside any test (from TestMain) in dir and
// returns its standard output and error; the command line, exit and
// duration are logged to standard error.
func (s *Sandbox) Exec(dir, name string, args ...string) (stdout, stderr string, err error) {
	path, lerr := lookPath(name, s.Path)
	if lerr != nil {
		path = name
	}
	cmd := exec.Command(path, args...)
	cmd.Env = s.Environ()
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	line := commandLine(name, args)
	fmt.Fprintf(os.Stderr, "harness: $ %s  # exit %d in %s\n", line, code, time.Since(start).Round(time.Millisecond))
	canary.output(nil, "$ "+line+": stdout", out.Bytes())
	canary.output(nil, "$ "+line+": stderr", errb.Bytes())
	return out.String(), errb.String(), err
}

// Tools returns the sandbox of the build tools and scripts (go build,
// scripts/cp-build.sh, cluster.sh, release.sh, git): the machine's PATH, home
// as HOME, the Go tool's settings (GoEnv: the build and module caches stay
// the developer's, so nothing is rebuilt) and XDG_CACHE_HOME, where the
// control plane and krew are cached.
func Tools(home string) *Sandbox {
	s := &Sandbox{Path: os.Getenv("PATH"), Home: home}
	return s.With(append(GoEnv(), "XDG_CACHE_HOME="+CacheHome())...)
}

// CacheHome is the cache directory of the user running the tests
// ($XDG_CACHE_HOME, else ~/.cache).
func CacheHome() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache")
}

// goVars are the Go tool's settings a build in a sandbox gets.
var goVars = []string{"GOCACHE", "GOPATH", "GOMODCACHE", "GOFLAGS", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOTOOLCHAIN"}

var goEnv = sync.OnceValue(func() []string {
	// Ask the go tool itself, with the real HOME (for its defaults and the go
	// env file) and only the Go variables of the environment.
	home, _ := os.UserHomeDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	for _, k := range append([]string{"GOENV"}, goVars...) {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	cmd := exec.Command("go", append([]string{"env", "-json"}, goVars...)...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness: go env: %v\n", err)
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(out, &m); err != nil {
		fmt.Fprintf(os.Stderr, "harness: go env: %v\n", err)
		return nil
	}
	var kv []string
	for _, k := range goVars {
		if v := m[k]; v != "" {
			kv = append(kv, k+"="+v)
		}
	}
	return kv
})

// GoEnv returns the Go tool's settings (GOCACHE, GOPATH, GOMODCACHE,
// GOFLAGS, GOPROXY ...) as KEY=VALUE pairs, for sandboxes that build Go code.
func GoEnv() []string { return goEnv() }

// Release runs scripts/release.sh in the Tools sandbox: the archives of the
// given platforms into dist, with download URLs under uriBase and no Krew
// index written. It returns what the script printed on standard error.
func Release(dist, version, uriBase string, platforms []string) (stderr string, err error) {
	root := RepoRoot()
	home, err := os.MkdirTemp("", "piyasa-release-home-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(home)
	_, stderr, err = Tools(home).Exec(root, "bash", filepath.Join(root, "scripts", "release.sh"),
		"--version", version, "--platforms", strings.Join(platforms, " "),
		"--dist", dist, "--uri-base", uriBase, "--index", "")
	return stderr, err
}
