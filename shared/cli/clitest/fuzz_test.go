package clitest

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// probe is a command whose Run must never be reached by a fuzz run.
type probe struct {
	*cli.Global
	n int
}

func (o *probe) Complete(*cobra.Command, []string) error { return o.Global.Complete() }
func (o *probe) Validate() error {
	if o.n < 0 {
		return cli.Usagef("-n must not be negative")
	}
	return nil
}
func (o *probe) Run(context.Context) error { panic("Run reached") }

func newProbe(g *cli.Global) *cobra.Command {
	root := cli.NewRoot("deploy", g)
	o := &probe{Global: g}
	c := &cobra.Command{Use: "probe", Args: cobra.NoArgs, RunE: cli.RunE(o),
		Example: "  kubectl piyasa deploy probe --count 3 | cat"}
	c.Flags().IntVar(&o.n, "count", 0, "a count")
	root.AddCommand(c)
	return root
}

// A fuzz run classifies as the binary does, stops before Run and reaches no server.
func TestRunCommandLine(t *testing.T) {
	t.Setenv("KUBECONFIG", "/nonexistent/kubeconfig")
	fakes := New("")
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"probe"}, 0, ""},
		{[]string{"probe", "--count", "-1"}, 2, "-n must not be negative"},
		{[]string{"probe", "--count", "x"}, 2, "invalid argument"},
		{[]string{"probe", "extra"}, 2, "unknown command"},
		{[]string{"--bogus"}, 2, "unknown flag"},
		{[]string{"--env", "staging", "probe"}, 2, "unknown environment"},
		{[]string{cli.ServerVersionCmd, "--server", "https://127.0.0.1:1"}, 0, "cannot reach the cluster"}, // a document with the error
		{[]string{"probe", "--server", "https://127.0.0.1:1", "--match-server-version"}, 0, ""},            // Complete asks no version
		{[]string{"version"}, 0, ""},
	} {
		code, out, ok := runCommandLine(fakes, newProbe, c.args)
		if !ok || code != c.code || !strings.Contains(out, c.err) {
			t.Errorf("%q: exit %d (ended %v), want %d with %q\n%s", c.args, code, ok, c.code, c.err, out)
		}
	}
}

func TestNoNetworkDialsNowhere(t *testing.T) {
	tt := New("")
	server := "https://127.0.0.1:1"
	tt.ConfigFlags.APIServer = &server
	c, err := noNetwork{tt.RESTClientGetter}.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dial(context.Background(), "tcp", "127.0.0.1:1"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial: %v", err)
	}
}

func TestTreeSeeds(t *testing.T) {
	seeds := TreeSeeds(newProbe)
	var lines []string
	for _, s := range seeds {
		lines = append(lines, Args(s...))
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{Args("probe", "--help"), Args("probe", "--count", "3"), Args("version")} {
		if !strings.Contains(all, want+"\n") && !strings.HasSuffix(all, want) {
			t.Errorf("no seed %q in %q", want, lines)
		}
	}
}
