package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func newTestRoot() (*cobra.Command, *Global, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	g := NewGlobal(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root := NewRoot("deploy", g)
	root.AddCommand(&cobra.Command{Use: "status", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error {
		if err := g.Complete(); err != nil {
			return err
		}
		g.Printf("%s %s %s\n", g.Env.Name, g.Namespace, g.Env.Prefix)
		return nil
	}})
	return root, g, &out, &errOut
}

func TestExecuteExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status"}, ExitOK, "dev piyasa-chatbot-dev dev-"},
		{[]string{"status", "--env", "prod"}, ExitOK, "prod piyasa-chatbot prod-"},
		{[]string{"status", "-n", "piyasa-chatbot"}, ExitOK, "prod piyasa-chatbot prod-"},
		{[]string{"status", "--env", "dev", "-n", "mine"}, ExitOK, "dev mine dev-"},
		{[]string{"status", "--env", "staging"}, ExitUsage, `unknown environment "staging"`},
		{[]string{"status", "extra"}, ExitUsage, "unknown command"},
		{[]string{"status", "--bogus"}, ExitUsage, "unknown flag: --bogus"},
		{[]string{"nope"}, ExitUsage, `unknown command "nope"`},
		{[]string{"--version"}, ExitOK, "kubectl-piyasa-deploy v"},
	}
	for _, c := range cases {
		root, g, out, errOut := newTestRoot()
		g.ConfigFlags.KubeConfig = ptr("/nonexistent")
		code := Execute(root, g, c.args)
		all := out.String() + errOut.String()
		if code != c.code || !strings.Contains(all, c.want) {
			t.Errorf("%v: exit %d (want %d), output %q (want %q)", c.args, code, c.code, all, c.want)
		}
		if strings.Count(strings.TrimSpace(errOut.String()), "\n") > 1 {
			t.Errorf("%v: more than two lines of error: %q", c.args, errOut.String())
		}
	}
}

func ptr(s string) *string { return &s }
