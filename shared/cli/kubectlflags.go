package cli

import (
	goflag "flag"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// The kubectl global flags that genericclioptions.ConfigFlags does not add,
// with kubectl's names, defaults and meaning (kubectl/pkg/cmd/cmd.go,
// profiling.go and cmdutil.MatchVersionFlags):
//
//	-v, --v N                  klog verbosity; N >= 1 sends client-go's log (e.g. -v=6: every request) to stderr
//	    --vmodule              per-file klog verbosity
//	    --match-server-version the server's version must equal the client's
//	    --warnings-as-errors   a warning from the server fails the command (exit 1)
//	    --profile, --profile-output  a Go runtime profile of the run
//
//	    --username, --password basic authentication (kubectl's ConfigFlags.WithDeprecatedPasswordFlag, without its prompt)
type kubectlFlags struct {
	username, password string
	matchServerVersion bool
	warningsAsErrors   bool
	profile            string
	profileOutput      string

	warnings      warningCounter
	stopProfiling func() error
}

// warningCounter is what rest.NewWarningWriter returns.
type warningCounter interface {
	rest.WarningHandler
	WarningCount() int
}

// Profiles are the values of --profile.
var Profiles = []string{"none", "cpu", "heap", "goroutine", "threadcreate", "block", "mutex", "trace"}

func (g *Global) addKubectlFlags(fs *pflag.FlagSet) {
	kfs := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(kfs)
	for _, name := range []string{"v", "vmodule"} {
		if fs.Lookup(name) == nil {
			fs.AddGoFlag(kfs.Lookup(name))
		}
	}
	fs.StringVar(&g.kf.username, "username", "", "Username for basic authentication to the API server")
	fs.StringVar(&g.kf.password, "password", "", "Password for basic authentication to the API server")
	fs.BoolVar(&g.kf.matchServerVersion, "match-server-version", false, "Require server version to match client version")
	fs.BoolVar(&g.kf.warningsAsErrors, "warnings-as-errors", false, "Treat warnings received from the server as errors and exit with a non-zero exit code")
	fs.StringVar(&g.kf.profile, "profile", "none", "Name of profile to capture. One of ("+strings.Join(Profiles, "|")+")")
	fs.StringVar(&g.kf.profileOutput, "profile-output", "profile.pprof", "Name of the file to write the profile to")
}

// Verbosity returns klog's verbosity (-v).
func Verbosity() int {
	for l := 10; l > 0; l-- {
		if klog.V(klog.Level(l)).Enabled() {
			return l
		}
	}
	return 0
}

// setupLogging sends klog's output to w when -v >= 1 (kubectl logs to
// stderr), and discards it otherwise (client-go's internal lines about
// cancelled requests are not for users: the suite reports errors itself).
func setupLogging(w io.Writer) {
	if Verbosity() >= 1 {
		if w == os.Stderr {
			klog.LogToStderr(true) // as kubectl: every line once, on stderr
			return
		}
		klog.LogToStderr(false)
		klog.SetOutput(w)
		return
	}
	QuietKlog()
}

// startProfiling starts the --profile capture (kubectl's initProfiling).
func (g *Global) startProfiling() error {
	var f *os.File
	var err error
	switch p := g.kf.profile; p {
	case "", "none":
		return nil
	case "cpu", "trace":
		if f, err = os.Create(g.kf.profileOutput); err != nil {
			return Usagef("--profile-output: %v", err)
		}
		if p == "cpu" {
			err = pprof.StartCPUProfile(f)
		} else {
			runtime.SetCPUProfileRate(100)
			err = trace.Start(f)
		}
		if err != nil {
			f.Close()
			return Failedf("--profile %s: %v", p, err)
		}
	case "block":
		runtime.SetBlockProfileRate(1)
	case "mutex":
		runtime.SetMutexProfileFraction(1)
	default:
		if pprof.Lookup(p) == nil {
			return Usagef("unknown profile %q: use --profile %s", p, strings.Join(Profiles, "|"))
		}
	}
	g.kf.stopProfiling = func() error {
		switch p := g.kf.profile; p {
		case "cpu":
			pprof.StopCPUProfile()
			return f.Close()
		case "trace":
			trace.Stop()
			runtime.SetCPUProfileRate(0)
			return f.Close()
		case "heap":
			runtime.GC()
		}
		out, err := os.Create(g.kf.profileOutput)
		if err != nil {
			return Failedf("--profile-output: %v", err)
		}
		defer out.Close()
		return pprof.Lookup(g.kf.profile).WriteTo(out, 0)
	}
	return nil
}

// finishProfiling writes the profile (once).
func (g *Global) finishProfiling() error {
	stop := g.kf.stopProfiling
	g.kf.stopProfiling = nil
	if stop == nil {
		return nil
	}
	return stop()
}

// warningsError is kubectl's --warnings-as-errors verdict after a successful run.
func (g *Global) warningsError() error {
	if !g.kf.warningsAsErrors || g.kf.warnings == nil {
		return nil
	}
	switch n := g.kf.warnings.WarningCount(); n {
	case 0:
		return nil
	case 1:
		return Failedf("1 warning received").WithHint("--warnings-as-errors is set")
	default:
		return Failedf("%d warnings received", n).WithHint("--warnings-as-errors is set")
	}
}

// ClientVersion is the Kubernetes version of the client library the binary
// is built with (client-go v0.X.Y is Kubernetes v1.X.Y), which
// --match-server-version compares with the server's gitVersion.
func ClientVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/client-go" {
				if rest, ok := strings.CutPrefix(d.Version, "v0."); ok {
					return "v1." + rest
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

// checkServerVersion is --match-server-version: the server's gitVersion must
// be the client's (kubectl's MatchVersionFlags compares the same field).
func (g *Global) checkServerVersion() error {
	if !g.kf.matchServerVersion {
		return nil
	}
	g.versionOnce.Do(func() {
		d, err := g.Getter().ToDiscoveryClient()
		if err != nil {
			g.versionErr = err
			return
		}
		sv, err := d.ServerVersion()
		if err != nil {
			g.versionErr = err
			return
		}
		if cv := ClientVersion(); sv.GitVersion != cv {
			g.versionErr = Failedf("server version (%s) differs from client version (%s)", sv.GitVersion, cv).
				WithHint("use a build of the plugin for the cluster's version, or leave out --match-server-version")
		}
	})
	return g.versionErr
}
