package fleet_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/diagnose"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// list is the -o json document of a fan-out.
type list struct {
	APIVersion, Kind string
	Items            []struct {
		Context, Region, Role, Namespace string
		ExitCode                         int
		Error, Hint                      string
		Document                         map[string]any
	}
}

func parseList(t *testing.T, r harness.Result, n int) list {
	t.Helper()
	var l list
	if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.Stdout)
	}
	if l.APIVersion != "piyasa.io/v1alpha1" || l.Kind != "List" || len(l.Items) != n {
		t.Fatalf("want a List of %d items:\n%s", n, r.Stdout)
	}
	return l
}

// guard bounds a fan-out run: it must end within its --cluster-timeout (20s
// by default), plus the start of the binaries. It is a hang guard, not a
// measurement.
const guard = 90 * time.Second

func TestFleet(t *testing.T) {
	s := newSetup(t)
	kc := "--kubeconfig=" + s.kubeconfig

	t.Run("deploy status --fleet", func(t *testing.T) {
		// Each live region says what `deploy status` says of it alone.
		single := map[string]int{}
		for region, ns := range map[string]string{"eu": s.euNS, "us": s.usNS} {
			single[region] = harness.Piyasa(t, "deploy", "status", "--env", "dev", "-n", ns).Run().Code
		}
		r := harness.Piyasa(t, "deploy", "status", "--fleet", s.fleet, kc).WithTimeout(guard).ExpectCode(3)
		for _, want := range []string{
			"=== context eu (region eu, primary, namespace " + s.euNS + ")\nCOMPONENT",
			"=== context us (region us, standby, namespace " + s.usNS + ")\nCOMPONENT",
			"=== context dead (region gone, standby, namespace piyasa-chatbot-dev)\n",
			"CONTEXT   REGION   ROLE      NAMESPACE",
		} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.Stdout)
			}
		}
		if strings.Index(r.Stdout, "=== context eu") > strings.Index(r.Stdout, "=== context us") ||
			strings.Index(r.Stdout, "=== context us") > strings.Index(r.Stdout, "=== context dead") {
			t.Errorf("the sections are not in the fleet's order:\n%s", r.Stdout)
		}
		for region, ns := range map[string]string{"eu": s.euNS, "us": s.usNS} {
			row := summaryRow(t, r.Stdout, region)
			if row[1] != region || row[3] != ns || row[4] != itoa(single[region]) {
				t.Errorf("row of %s: %q, want namespace %s and exit %d (as deploy status alone)", region, row, ns, single[region])
			}
		}
		dead := strings.Join(summaryRow(t, r.Stdout, "dead"), " ")
		if !strings.HasPrefix(dead, "dead gone standby piyasa-chatbot-dev 3 ") || !strings.Contains(dead, "127.0.0.1:1") {
			t.Errorf("row of dead: %q", dead)
		}
		var bad []string
		for _, region := range []string{"eu", "us"} {
			if single[region] != 0 {
				bad = append(bad, region+" (exit "+itoa(single[region])+")")
			}
		}
		bad = append(bad, "dead (exit 3)")
		if want := "error: " + itoa(len(bad)) + " of 3 clusters did not succeed: " + strings.Join(bad, ", ") + "\n"; !strings.HasSuffix(r.Stderr, want) {
			t.Errorf("stderr:\n%s\nwant it to end with %q", r.Stderr, want)
		}
	})

	t.Run("diagnose --fleet -o json", func(t *testing.T) {
		r := harness.Piyasa(t, "diagnose", "--fleet", s.fleet, kc, "-o", "json").WithTimeout(guard).ExpectCode(3)
		l := parseList(t, r, 3)
		for i, want := range []struct{ context, region, role, ns string }{
			{"eu", "eu", "primary", s.euNS}, {"us", "us", "standby", s.usNS}, {"dead", "gone", "standby", "piyasa-chatbot-dev"},
		} {
			it := l.Items[i]
			if it.Context != want.context || it.Region != want.region || it.Role != want.role || it.Namespace != want.ns {
				t.Errorf("item %d: %+v, want %+v", i, it, want)
			}
		}
		for _, it := range l.Items[:2] {
			if it.Document["kind"] != "DiagnoseReport" || it.Document["namespace"] != it.Namespace || it.ExitCode > 1 {
				t.Errorf("item %s: exit %d, document kind %v namespace %v (error %q)", it.Context, it.ExitCode, it.Document["kind"], it.Document["namespace"], it.Error)
			}
		}
		if it := l.Items[2]; it.ExitCode != 3 || it.Document != nil || !strings.Contains(it.Error, "127.0.0.1:1") {
			t.Errorf("item dead: %+v", it)
		}
	})

	t.Run("diagnose --fleet across the regions", func(t *testing.T) {
		// Only the checks across regions: each region's own run checks nothing,
		// so the exit code is theirs alone.
		two := filepath.Join(t.TempDir(), "two.yaml")
		raw, err := os.ReadFile(s.fleet)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, two, strings.Split(string(raw), "  - name: gone")[0])
		across := func() ([]diagnose.FleetFinding, int) {
			r := harness.Piyasa(t, "diagnose", "--fleet", two, kc, "--only", "PIY990,PIY992", "-o", "json").WithTimeout(guard).Run()
			var l struct {
				Findings []diagnose.FleetFinding `json:"findings"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil {
				t.Fatalf("%v\n%s", err, r.Stdout)
			}
			return l.Findings, r.Code
		}
		// Both regions run the dev app's workers: the same shards twice.
		if f, code := across(); code != 1 || len(f) != 1 || f[0].Code != "PIY990" || strings.Join(f[0].Regions, ",") != "eu,us" {
			t.Fatalf("workers in eu and us: exit %d %+v", code, f)
		}
		// The standby's workers stopped as a standby keeps them (StatefulSet at
		// 0, TOTAL_WORKERS kept): nothing across the regions once they are gone.
		harness.Kubectl(t, "scale", "statefulset", "dev-worker", "--replicas=0", "-n", s.usNS).RunOK()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
			f, code := across()
			if code == 0 && len(f) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("workers in eu only: exit %d %+v", code, f)
			}
		}
		// Started again with another count: twice the shards and TOTAL_WORKERS differing.
		harness.Piyasa(t, "scale", "worker", "3", "-n", s.usNS, "--env", "dev", "--timeout", "2m").RunOK()
		r := harness.Piyasa(t, "diagnose", "--fleet", two, kc, "--only", "PIY990,PIY992").WithTimeout(guard).ExpectCode(1)
		for _, want := range []string{"across the regions:\nPIY990 ERROR: workers run in more than one region: eu (", "PIY992 WARNING: TOTAL_WORKERS differs between regions: "} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.Stdout)
			}
		}
	})

	t.Run("version --contexts", func(t *testing.T) {
		r := harness.Piyasa(t, "version", "--contexts", "eu,dead,us", kc).WithTimeout(guard).ExpectCode(3)
		for _, c := range []string{"eu", "us"} {
			if row := summaryRow(t, r.Stdout, c); row[3] != "0" || row[4] != "ok" {
				t.Errorf("row of %s: %q", c, row)
			}
			if !strings.Contains(r.Stdout, "=== context "+c+"\nServer: v1.") {
				t.Errorf("no server version in the section of %s:\n%s", c, r.Stdout)
			}
		}
		if row := strings.Join(summaryRow(t, r.Stdout, "dead"), " "); !strings.HasPrefix(row, "dead - - 3 ") || !strings.Contains(row, "127.0.0.1:1") {
			t.Errorf("row of dead: %q", row)
		}
		if !strings.Contains(r.Stdout, "kubectl-piyasa-deploy") {
			t.Errorf("no client versions:\n%s", r.Stdout)
		}
	})

	t.Run("a cluster that never answers is cut at --cluster-timeout", func(t *testing.T) {
		r := harness.Piyasa(t, "deploy", "status", "--contexts", "eu,silent", "--cluster-timeout", "3s", kc, "-o", "json").WithTimeout(guard).ExpectCode(3)
		l := parseList(t, r, 2)
		if it := l.Items[0]; it.Context != "eu" || it.Namespace != s.euNS || it.Document["kind"] != "DeployStatus" {
			t.Errorf("item eu: %+v", it)
		}
		if it := l.Items[1]; it.Context != "silent" || it.ExitCode != 3 || it.Error != "no answer from context silent within 3s (--cluster-timeout)" {
			t.Errorf("item silent: %+v", it)
		}
	})

	t.Run("scale, backup and migrate status --contexts", func(t *testing.T) {
		for _, cmd := range [][]string{{"scale", "status"}, {"backup", "status"}, {"migrate", "status"}} {
			r := harness.Piyasa(t, append(cmd, "--contexts", "us,dead", kc, "-o", "yaml")...).WithTimeout(guard).ExpectCode(3)
			if !strings.Contains(r.Stdout, "kind: List\n") || !strings.Contains(r.Stdout, "context: us\n") || !strings.Contains(r.Stdout, "context: dead\n") ||
				!strings.Contains(r.Stdout, "namespace: "+s.usNS+"\n") {
				t.Errorf("%s: stdout:\n%s", strings.Join(cmd, " "), r.Stdout)
			}
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		bad := s.fleet + ".bad.yaml"
		writeFile(t, bad, "apiVersion: piyasa.io/v1alpha1\nkind: Fleet\nregions:\n  - name: eu\n    context: eu\n    environment: dev\n    role: leader\n    wave: 1\n")
		for _, args := range [][]string{
			{"deploy", "status", "--fleet", bad, kc},
			{"diagnose", "--fleet", bad, kc},
			{"version", "--fleet", bad, kc},
		} {
			r := harness.Piyasa(t, args...).ExpectCode(2)
			if !strings.HasPrefix(r.Stderr, "error: "+bad+":7: region \"eu\": role must be primary or standby\n") || r.Stdout != "" && args[0] != "version" {
				t.Errorf("%q: stdout:\n%s\nstderr:\n%s", args, r.Stdout, r.Stderr)
			}
		}
		r := harness.Piyasa(t, "diagnose", "--contexts", "eu,us", "--context", "eu", kc).ExpectCode(2)
		if !strings.HasPrefix(r.Stderr, "error: --context cannot be used with --fleet or --contexts") {
			t.Errorf("stderr:\n%s", r.Stderr)
		}
	})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
