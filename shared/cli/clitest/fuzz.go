package clitest

import (
	"context"
	goflag "flag"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// ArgSep separates the arguments of a command line in a fuzz input: NUL,
// which no real argument can hold.
const ArgSep = "\x00"

// Args joins a command line into a fuzz input.
func Args(args ...string) string { return strings.Join(args, ArgSep) }

// MaxFuzzRun bounds one command line of a fuzz run: a parse that takes
// longer is a hang.
const MaxFuzzRun = 20 * time.Second

// FuzzCommandLine fuzzes the command line of the binary that newCmd builds
// (a feature package's NewCmd): each input, NUL-separated arguments, is run
// through cli.ExecuteContext on fake clients with cli.StopBeforeRun, so
// that flags, arguments, Complete and Validate all run and nothing acts.
// It fails on a panic, a hang, or an exit code other than 0-3.
//
// Nothing reaches a real cluster or the developer's files: KUBECONFIG names
// a missing file, HOME and the working directory are temporary directories,
// every REST config dials nowhere (exit 3, as an unreachable cluster), and
// inputs that name a --profile-output (which writes a file) are skipped.
func FuzzCommandLine(f *testing.F, newCmd func(*cli.Global) *cobra.Command, seeds ...[]string) {
	f.Helper()
	home := f.TempDir()
	f.Setenv("KUBECONFIG", filepath.Join(home, "no-such-kubeconfig"))
	f.Setenv("HOME", home)
	f.Setenv("NO_COLOR", "1")
	work := f.TempDir()
	f.Chdir(work)
	for _, s := range append(TreeSeeds(newCmd), seeds...) {
		f.Add(Args(s...))
	}
	// One pair of fakes for every input: nothing runs, so nothing writes to them.
	fakes := New("")
	f.Fuzz(func(t *testing.T, line string) {
		var args []string
		if line != "" {
			args = strings.Split(line, ArgSep)
		}
		for _, a := range args {
			if strings.HasPrefix(a, "--profile-output") {
				t.Skip("--profile-output writes a file")
			}
		}
		code, out, ok := runCommandLine(fakes, newCmd, args)
		if !ok {
			t.Fatalf("%q did not end within %s", args, MaxFuzzRun)
		}
		if code < cli.ExitOK || code > cli.ExitCluster {
			t.Fatalf("%q: exit %d, want 0-3\noutput:\n%s", args, code, out)
		}
		// What a command wrote into the working directory goes, so that
		// each input starts in the same state.
		if des, err := os.ReadDir(work); err == nil {
			for _, d := range des {
				_ = os.RemoveAll(filepath.Join(work, d.Name()))
			}
		}
	})
}

// TreeSeeds returns command lines of newCmd's tree for a seed corpus: every
// command's path alone and with --help, and every line of its examples
// ("kubectl piyasa deploy --env prod" gives "--env prod" to the deploy
// binary; quotes are not parsed, a pipe or redirection ends the line).
func TreeSeeds(newCmd func(*cli.Global) *cobra.Command) [][]string {
	root := newCmd(New("").Global)
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path, append(append([]string{}, path...), "--help"))
		for _, l := range strings.Split(c.Example, "\n") {
			fields := strings.Fields(l)
			if len(fields) < 3 || fields[0] != "kubectl" || fields[1] != "piyasa" {
				continue
			}
			var line []string
			for _, w := range fields[3:] { // after "kubectl piyasa <sub>"
				if w == "|" || w == "&&" || w == ";" || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "#") {
					break
				}
				line = append(line, w)
			}
			out = append(out, line)
		}
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(root, nil)
	return out
}

// runCommandLine runs one command line, stopping before Run, and returns its
// exit code and what it printed (standard output, then error); ok is false
// when it did not end in time.
func runCommandLine(fakes *T, newCmd func(*cli.Global) *cobra.Command, args []string) (code int, output string, ok bool) {
	tt := newOn("", fakes.Fake, fakes.FakeDynamic)
	tt.RESTClientGetter = noNetwork{tt.RESTClientGetter}
	cmd := newCmd(tt.Global)
	done := make(chan int, 1)
	go func() {
		done <- cli.ExecuteContext(cli.StopBeforeRun(context.Background()), cmd, tt.Global, args)
	}()
	defer resetKlog()
	select {
	case code = <-done:
		return code, tt.Stdout.String() + tt.Stderr.String(), true
	case <-time.After(MaxFuzzRun):
		return 0, "", false
	}
}

// noNetwork gives REST configs that dial nowhere: a fuzzed --server or
// --kubeconfig never reaches a real server.
type noNetwork struct {
	genericclioptions.RESTClientGetter
}

func (n noNetwork) ToRESTConfig() (*rest.Config, error) {
	c, err := n.RESTClientGetter.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	c = rest.CopyConfig(c)
	c.Dial = func(_ context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	c.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	c.ExecProvider, c.AuthProvider = nil, nil // no credential plugin runs
	return c, nil
}

func (n noNetwork) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	c, err := n.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	d, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(d), nil
}

// resetKlog undoes a -v of the last command line: klog's verbosity is global.
func resetKlog() {
	fs := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", "0")
	_ = fs.Set("vmodule", "")
}
