package harness

import (
	"slices"
	"strings"
	"testing"
)

// The developer's shell does not reach a command: only the allow-list and
// what the test adds.
func TestSandboxIsHermetic(t *testing.T) {
	t.Setenv("PIYASA_ENV", "prod")
	t.Setenv("KUBECONFIG", "/home/dev/.kube/prod")
	t.Setenv("KUBERC", "/home/dev/.kube/kuberc")
	sb := NewSandbox(t).With("EXTRA=1", "KUBECONFIG=/tmp/kc")
	r := sb.Command(t, "env").WithEnv("EXTRA=2", "MORE=x").RunOK()
	var keys []string
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		k, v, _ := strings.Cut(l, "=")
		keys = append(keys, k)
		switch k {
		case "HOME":
			if v != sb.Home || v == "" {
				t.Errorf("HOME=%s, want the sandbox's %s", v, sb.Home)
			}
		case "KUBECONFIG":
			if v != "/tmp/kc" {
				t.Errorf("KUBECONFIG=%s", v)
			}
		case "KUBERC":
			if v != "off" {
				t.Errorf("KUBERC=%s", v)
			}
		case "EXTRA":
			if v != "2" {
				t.Errorf("EXTRA=%s, want the last value 2", v)
			}
		}
	}
	slices.Sort(keys)
	if want := []string{"EXTRA", "HOME", "KUBECONFIG", "KUBERC", "MORE", "PATH"}; !slices.Equal(keys, want) {
		t.Errorf("environment keys %v, want %v\n%s", keys, want, r.Stdout)
	}
}

func TestToolsHaveTheGoSettings(t *testing.T) {
	t.Setenv("PIYASA_ENV", "prod")
	env := Tools(t.TempDir()).Environ()
	has := func(k string) bool {
		return slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
	}
	for _, k := range []string{"PATH", "HOME", "GOCACHE", "GOMODCACHE", "GOPATH", "XDG_CACHE_HOME"} {
		if !has(k) {
			t.Errorf("no %s in %v", k, env)
		}
	}
	if has("PIYASA_ENV") {
		t.Errorf("PIYASA_ENV leaked: %v", env)
	}
}

func TestCommandLine(t *testing.T) {
	if got := commandLine("kubectl", []string{"piyasa", "-n", "x y", ""}); got != `kubectl piyasa -n "x y" ""` {
		t.Errorf("commandLine = %s", got)
	}
}
