package fleetcmd_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/fleet/fleetcmd"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// greetOptions is a command that reads state: it lists the ConfigMaps of
// its namespace and prints a greeting, or fails where the list fails.
type greetOptions struct {
	*cli.Global
	Print *output.Flags
	Word  string
	Watch bool
}

func (o *greetOptions) Complete(*cobra.Command, []string) error { return o.Global.Complete() }

func (o *greetOptions) Validate() error {
	if o.Word == "invalid" {
		return cli.Usagef("--word must not be invalid")
	}
	return o.Print.Validate()
}

func (o *greetOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	list, err := cs.CoreV1().ConfigMaps(o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return cli.Failedf("cannot list: %v", err)
	}
	doc := map[string]any{"word": o.Word, "context": *o.ConfigFlags.Context, "namespace": o.Namespace, "env": o.Env.Name, "configMaps": len(list.Items)}
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, "Greeting", doc)
	}
	o.Printf("%s from %s in %s (%s)\n", o.Word, doc["context"], o.Namespace, o.Env.Name)
	o.Infof("a note of %s\n", doc["context"])
	return nil
}

// newGreet is the command as a feature package makes it.
func newGreet(g *cli.Global) *cobra.Command {
	cmd := newGreetAlone(g)
	fleetcmd.Add(cmd, g, newGreet, "watch")
	return cmd
}

func newGreetAlone(g *cli.Global) *cobra.Command {
	o := &greetOptions{Global: g, Print: output.NewFlags(), Word: "hello"}
	cmd := &cobra.Command{Use: "greet", Args: cobra.NoArgs, RunE: cli.RunE(o)}
	cmd.Flags().StringVar(&o.Word, "word", o.Word, "")
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "")
	o.Print.AddFlags(cmd)
	return cmd
}

// run runs `greet args...` with a fake clientset per context: "bad" fails
// its list, "hang" never answers.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	tg := clitest.New("")
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	root := cli.NewRoot("deploy", tg.Global)
	greet := newGreetAlone(tg.Global)
	fanout := fleetcmd.Add(greet, tg.Global, newGreet, "watch")
	root.AddCommand(greet)
	fanout.Prepare = func(target fleet.Target, g *cli.Global) {
		cs := fake.NewClientset()
		switch target.Context {
		case "bad":
			cs.PrependReactor("list", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, os.ErrPermission
			})
		case "hang":
			cs.PrependReactor("list", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				<-hang
				return true, nil, os.ErrDeadlineExceeded
			})
		}
		g.KubeClient = cs
	}
	code := cli.ExecuteContext(context.Background(), root, tg.Global, append([]string{"greet"}, args...))
	out, errOut := tg.Output()
	return code, out, errOut
}

func TestFanOutSectionsAndSummary(t *testing.T) {
	code, out, errOut := run(t, "--contexts", "a,bad,hang,b", "--word", "hi", "--env", "prod", "--cluster-timeout", "100ms")
	if code != cli.ExitCluster {
		t.Errorf("exit %d, want 3 (the hanging cluster)", code)
	}
	wantOut := "=== context a (namespace piyasa-chatbot)\nhi from a in piyasa-chatbot (prod)\n\n" +
		"=== context bad (namespace piyasa-chatbot)\n\n" +
		"=== context hang\n\n" +
		"=== context b (namespace piyasa-chatbot)\nhi from b in piyasa-chatbot (prod)\n\n"
	if !strings.HasPrefix(out, wantOut) {
		t.Errorf("stdout:\n%s\nwant it to start with:\n%s", out, wantOut)
	}
	for _, want := range []string{
		"CONTEXT   ROLE   NAMESPACE        EXIT   RESULT",
		"a         -      piyasa-chatbot   0      ok",
		"bad       -      piyasa-chatbot   1      cannot list: permission denied",
		"hang      -      -                3      no answer from context hang within 100ms (--cluster-timeout)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
	wantErr := "a note of a\nerror: cannot list: permission denied\nerror: no answer from context hang within 100ms (--cluster-timeout)\n"
	if !strings.HasPrefix(errOut, wantErr) || !strings.HasSuffix(errOut, "error: 2 of 4 clusters did not succeed: bad (exit 1), hang (exit 3)\n") {
		t.Errorf("stderr:\n%s\nwant it to start with:\n%s", errOut, wantErr)
	}
}

func TestFanOutList(t *testing.T) {
	file := filepath.Join(t.TempDir(), "piyasa-fleet.yaml")
	err := os.WriteFile(file, []byte(`apiVersion: piyasa.io/v1alpha1
kind: Fleet
regions:
  - {name: eu, context: a, environment: prod, role: primary, wave: 1}
  - {name: us, context: bad, environment: dev, namespace: us-ns, role: standby, wave: 2}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "--fleet", file, "-o", "json")
	if code != cli.ExitFailed {
		t.Errorf("exit %d, want 1", code)
	}
	var doc struct {
		APIVersion, Kind string
		Items            []fleet.Item
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Kind != "List" || len(doc.Items) != 2 {
		t.Fatalf("%v\n%s", err, out)
	}
	var eu map[string]any
	if err := json.Unmarshal(doc.Items[0].Document, &eu); err != nil || eu["kind"] != "Greeting" || eu["context"] != "a" || eu["namespace"] != "piyasa-chatbot" || eu["env"] != "prod" {
		t.Errorf("eu's document: %s (%v)", doc.Items[0].Document, err)
	}
	if it := doc.Items[0]; it.Context != "a" || it.Region != "eu" || it.Role != "primary" || it.ExitCode != 0 || it.Error != "" {
		t.Errorf("eu: %+v", it)
	}
	if it := doc.Items[1]; it.Context != "bad" || it.Namespace != "us-ns" || it.ExitCode != 1 || it.Error != "cannot list: permission denied" || it.Document != nil {
		t.Errorf("us: %+v", it)
	}
	if !strings.HasSuffix(errOut, "error: 1 of 2 clusters did not succeed: bad (exit 1)\n") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

func TestFanOutUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "piyasa-fleet.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: piyasa.io/v1alpha1\nkind: Fleet\nregions:\n  - name: eu\n    context: a\n    environment: prod\n    role: primary\n    wave: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--contexts", "a", "--context", "a"}, "error: --context cannot be used with --fleet or --contexts"},
		{[]string{"--contexts", "a", "--fleet", bad}, "error: --fleet and --contexts exclude each other"},
		{[]string{"--fleet", bad}, "error: " + bad + ":8: region \"eu\": wave must be 1 or more"},
		{[]string{"--fleet", bad, "-n", "x"}, "error: -n/--env cannot be used with --fleet"},
		{[]string{"--contexts", "a", "-w"}, "error: --watch cannot be used with --fleet or --contexts"},
		{[]string{"--contexts", "a", "--word", "invalid"}, "error: --word must not be invalid"},
		{[]string{"--contexts", "a", "--cluster-timeout", "0s"}, "error: --cluster-timeout must be more than 0"},
		{[]string{"--cluster-timeout", "1s"}, "error: --cluster-timeout is for --fleet or --contexts"},
	} {
		code, out, errOut := run(t, c.args...)
		if code != cli.ExitUsage || out != "" || !strings.HasPrefix(errOut, c.err) {
			t.Errorf("%q: exit %d\n%s\n%s", c.args, code, out, errOut)
		}
	}
}

// Without --fleet or --contexts, the command runs as it always did.
func TestNoFanOut(t *testing.T) {
	code, out, _ := run(t, "-n", "x")
	if code != 0 || !strings.HasPrefix(out, "hello from ") {
		t.Errorf("exit %d\n%s", code, out)
	}
}
