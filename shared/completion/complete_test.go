package completion

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/dispatch"
)

// newDispatcher returns a dispatcher whose directory holds fake subcommand
// binaries that answer __complete by echoing their arguments.
func newDispatcher(t *testing.T, installed ...string) *dispatch.Dispatcher {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("fake binaries are shell scripts")
	}
	dir := t.TempDir()
	for _, sub := range installed {
		script := "#!/bin/sh\necho \"" + sub + ":$*\"\necho ':4'\n"
		if err := os.WriteFile(filepath.Join(dir, "kubectl-piyasa-"+sub), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	d := dispatch.New(dispatch.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &out})
	d.SelfDir = dir
	d.LookPath = func(string) (string, error) { return "", os.ErrNotExist }
	Register(d)
	return d
}

func complete(d *dispatch.Dispatcher, desc bool, args ...string) ([]string, cobra.ShellCompDirective) {
	return (&Completer{D: d, Descriptions: desc}).Complete(args)
}

func TestSubcommandNames(t *testing.T) {
	d := newDispatcher(t, "deploy")
	got, dir := complete(d, false, "depl")
	if !slices.Equal(got, []string{"deploy"}) || dir != cobra.ShellCompDirectiveNoFileComp {
		t.Fatalf("depl: got %q %d", got, dir)
	}
	got, _ = complete(d, false, "-n", "x", "")
	for _, want := range []string{"deploy", "scale", "migrate", "backup", "diagnose", "version", "completion", "help"} {
		if !slices.Contains(got, want) {
			t.Errorf("after -n x: %q missing from %q", want, got)
		}
	}
	if slices.Contains(got, CompleteCmd) {
		t.Errorf("hidden builtin completed: %q", got)
	}
	got, _ = complete(d, true, "d")
	if len(got) != 2 || !strings.HasPrefix(got[0], "deploy\t") || !strings.HasSuffix(got[1], "(not installed)") {
		t.Errorf("descriptions: %q", got)
	}
}

func TestDelegation(t *testing.T) {
	d := newDispatcher(t, "deploy", "scale")
	// Words after the subcommand go to its binary, with the flags given before it.
	got, dir := complete(d, false, "--context", "c1", "scale", "wor")
	if !slices.Equal(got, []string{"scale:__completeNoDesc --context c1 wor"}) || dir != cobra.ShellCompDirectiveNoFileComp {
		t.Fatalf("got %q %d", got, dir)
	}
	got, _ = complete(d, true, "deploy", "")
	if !slices.Equal(got, []string{"deploy:__complete "}) {
		t.Fatalf("got %q", got)
	}
	// A flag value before the subcommand is completed by an installed subcommand.
	got, _ = complete(d, false, "-n", "")
	if !slices.Equal(got, []string{"deploy:__completeNoDesc -n "}) {
		t.Fatalf("-n: got %q", got)
	}
	// An alias is completed by its subcommand's binary, its name first.
	got, _ = complete(d, false, "--context", "c1", "failover", "--t")
	if !slices.Equal(got, []string{"deploy:__completeNoDesc failover --context c1 --t"}) {
		t.Fatalf("failover: got %q", got)
	}
	// A subcommand that is not installed completes nothing.
	if got, _ := complete(d, false, "diagnose", ""); len(got) != 0 {
		t.Fatalf("not installed: got %q", got)
	}
}

func TestOwnCompletions(t *testing.T) {
	d := newDispatcher(t)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--env", ""}, []string{"dev", "prod"}},
		{[]string{"--env", "p"}, []string{"prod"}},
		{[]string{"completion", ""}, Shells},
		{[]string{"completion", "z"}, []string{"zsh"}},
		{[]string{"version", "-o", "j"}, []string{"json"}},
		{[]string{"help", "sc"}, []string{"scale"}},
		{[]string{"--", ""}, nil},
		{[]string{"-n", ""}, nil}, // no subcommand installed to ask the cluster
	}
	for _, c := range cases {
		got, _ := complete(d, false, c.args...)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.args, got, c.want)
		}
	}
}

func TestProtocol(t *testing.T) {
	d := newDispatcher(t)
	var out bytes.Buffer
	d.Out = &out
	if code := d.Run([]string{CompleteNoDescCmd, "dep"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if out.String() != "deploy\n:4\n" {
		t.Fatalf("got %q", out.String())
	}
	comps, dir := Parse("a\tdesc\nb\n:6\n")
	if !slices.Equal(comps, []string{"a\tdesc", "b"}) || dir != 6 {
		t.Fatalf("Parse: %q %d", comps, dir)
	}
}

func TestCompletionBuiltin(t *testing.T) {
	for _, shell := range Shells {
		d := newDispatcher(t)
		var out, errOut bytes.Buffer
		d.Out, d.ErrOut = &out, &errOut
		if code := d.Run([]string{"completion", shell}); code != 0 {
			t.Fatalf("%s: exit %d: %s", shell, code, errOut.String())
		}
		if !strings.Contains(out.String(), "kubectl-piyasa") || !strings.Contains(out.String(), "__complete") {
			t.Errorf("%s: script does not complete kubectl-piyasa through __complete", shell)
		}
	}
	d := newDispatcher(t)
	var out, errOut bytes.Buffer
	d.Out, d.ErrOut = &out, &errOut
	if code := d.Run([]string{"completion", "bsh"}); code != 2 || !strings.Contains(errOut.String(), `did you mean "bash"`) {
		t.Fatalf("bad shell: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := d.Run([]string{"completion"}); code != 2 || out.Len() != 0 {
		t.Fatalf("no shell: exit %d", code)
	}
	out.Reset()
	if code := d.Run([]string{"help", "completion"}); code != 0 || !strings.Contains(out.String(), "kubectl_complete-piyasa") {
		t.Fatalf("help completion: exit %d\n%s", code, out.String())
	}
	d.Help(&out)
	if !strings.Contains(out.String(), "completion") || strings.Contains(out.String(), CompleteCmd) {
		t.Fatalf("help: %s", out.String())
	}
}
