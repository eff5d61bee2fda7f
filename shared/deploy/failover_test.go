package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
)

// Bad command lines are exit 2 before any request, naming what is wrong.
func TestFailoverUsage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, []byte(wavesFleet), 0o600); err != nil {
		t.Fatal(err)
	}
	prev := prepareFailover
	t.Cleanup(func() { prepareFailover = prev })
	var prepared []string
	prepareFailover = func(r fleet.Region, g *cli.Global) {
		prepared = append(prepared, r.Name)
		f := clitest.New("piyasa-chatbot-dev")
		g.KubeClient, g.DynamicClient, g.RESTClientGetter = f.KubeClient, f.DynamicClient, f.RESTClientGetter
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--to", "us"}, "needs --fleet FILE and --to REGION"},
		{[]string{"--fleet", path}, "needs --fleet FILE and --to REGION"},
		{[]string{"--fleet", path, "--to", "mars"}, "--to mars: no region of"},
		{[]string{"--fleet", path, "--to", "eu-ctx"}, "region eu is already the primary"},
		{[]string{"--fleet", path, "--to", "us", "--context", "x"}, "--context cannot be used with failover"},
		{[]string{"--fleet", path, "--to", "us", "--planned", "--fence-wait", "1m"}, "--fence-wait is for an unplanned failover"},
		{[]string{"--fleet", path, "--to", "us", "--accept-data-loss", "-1"}, "--accept-data-loss must be 0 or more"},
		{[]string{"--fleet", path, "--to", "us", "--dry-run=server"}, "--dry-run=server is not supported"},
		{[]string{"--fleet", path, "--to", "us", "-o", "xml"}, "xml"},
		{[]string{"rejoin", "--fleet", path, "eu"}, "region eu is the primary"},
		{[]string{"rejoin", "--fleet", path, "mars"}, "mars: no region of"},
		{[]string{"rejoin", "eu"}, "needs --fleet FILE"},
	} {
		f := clitest.New("")
		cmd := NewCmd(f.Global)
		cmd.SetArgs(append([]string{"failover"}, c.args...))
		cmd.SetOut(f.Stdout)
		cmd.SetErr(f.Stderr)
		err := cmd.Execute()
		e := f.Outcome(err)
		if e == nil || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, c.want) {
			t.Errorf("%v: %+v, want exit 2 with %q", c.args, e, c.want)
		}
	}
	if len(prepared) == 0 {
		t.Error("no region was prepared: the checks after the regions' Globals were not reached")
	}
}

func TestConfirmRegion(t *testing.T) {
	for in, ok := range map[string]bool{"us\n": true, " us \n": true, "eu\n": false, "": false} {
		f := clitest.New("")
		f.In.WriteString(in)
		err := confirmRegion(f.Global, "This makes us the primary.", "us")
		if (err == nil) != ok {
			t.Errorf("%q: %v", in, err)
		}
		if !strings.Contains(f.Stderr.String(), "Type the region's name (us)") {
			t.Errorf("prompt: %q", f.Stderr.String())
		}
	}
}

// The plan names the steps in order: the workers stop in the old region
// before they start in the new one, in both kinds.
func TestFailoverSteps(t *testing.T) {
	for _, planned := range []bool{true, false} {
		o := &FailoverOptions{Fleet: "f.yaml", Planned: planned, from: &foRegion{Region: fleet.Region{Name: "eu"}}, to: &foRegion{Region: fleet.Region{Name: "us"}}}
		steps := strings.Join(o.steps(), "\n")
		stop := strings.Index(steps, "eu: workers, api and frontend scaled to 0")
		if !planned {
			stop = strings.Index(steps, "eu: fenced where it answers")
		}
		start := strings.Index(steps, "us: workers")
		if stop < 0 || start < 0 || stop > start || !strings.Contains(steps, "us: PostgreSQL promoted") {
			t.Errorf("planned=%v: steps\n%s", planned, steps)
		}
	}
}
