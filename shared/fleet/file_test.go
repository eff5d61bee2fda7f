package fleet

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

func TestParseExample(t *testing.T) {
	f, err := Load("testdata/piyasa-fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Region{
		{Name: "eu", Context: "eu-prod", Environment: "prod", Role: RolePrimary, Wave: 1, Line: 7},
		{Name: "us", Context: "us-prod", Environment: "prod", Namespace: "piyasa-chatbot-us", Role: RoleStandby, Wave: 2, Line: 12},
	}
	if !reflect.DeepEqual(f.Regions, want) {
		t.Errorf("regions = %+v\nwant %+v", f.Regions, want)
	}
	if f.Settings != (Settings{StandbyAPI: StandbyZero}) {
		t.Errorf("settings = %+v", f.Settings)
	}
	if f.Primary().Name != "eu" {
		t.Errorf("primary = %q", f.Primary().Name)
	}
	targets := f.Targets()
	if targets[0] != (Target{Context: "eu-prod", Region: "eu", Role: RolePrimary, Environment: "prod", Namespace: "piyasa-chatbot"}) ||
		targets[1].Namespace != "piyasa-chatbot-us" {
		t.Errorf("targets = %+v", targets)
	}
}

// The README shows the example file as it is.
func TestREADMEShowsTheExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("testdata/piyasa-fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	body := string(example[strings.Index(string(example), "apiVersion"):])
	if !strings.Contains(string(readme), body) {
		t.Errorf("README.md does not show testdata/piyasa-fleet.yaml (from apiVersion on):\n%s", body)
	}
}

const good = `apiVersion: piyasa.io/v1alpha1
kind: Fleet
regions:
  - name: eu
    context: eu-prod
    environment: prod
    role: primary
    wave: 1
  - name: us
    context: us-prod
    environment: prod
    role: standby
    wave: 2
`

// The replication settings: what deploy --fleet reads for the standbys,
// with their defaults, and their errors with the file and line.
func TestReplicationSettings(t *testing.T) {
	f, err := Parse("f.yaml", []byte(strings.Replace(good, "kind: Fleet\n", "kind: Fleet\nsettings:\n  replicationService: NodePort\n  primaryHost: pg.eu.example.com\n  primaryPort: 31432\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := f.Replication(); err != nil || r != (Replication{ServiceType: "NodePort", Host: "pg.eu.example.com", Port: 31432}) {
		t.Errorf("replication = %+v, %v", r, err)
	}
	if f.Settings != (Settings{StandbyAPI: StandbyZero}) {
		t.Errorf("settings = %+v", f.Settings)
	}
	f, _ = Parse("f.yaml", []byte(good))
	if r, err := f.Replication(); err != nil || r != (Replication{ServiceType: "LoadBalancer"}) {
		t.Errorf("default replication = %+v, %v", r, err)
	}
	for _, c := range []struct{ setting, want string }{
		{"replicationService: Ingress", `f.yaml:4: settings.replicationService must be LoadBalancer, NodePort, ClusterIP, not "Ingress"`},
		{"primaryPort: 70000", `f.yaml:4: settings.primaryPort must be a port (1-65535), not 70000`},
		{"primaryHost: [a]", `f.yaml:4: primaryHost must be a string`},
	} {
		f, err := Parse("f.yaml", []byte(strings.Replace(good, "kind: Fleet\n", "kind: Fleet\nsettings:\n  "+c.setting+"\n", 1)))
		if err != nil {
			t.Fatalf("%s: Parse: %v", c.setting, err)
		}
		_, err = f.Replication()
		var e *exit.Error
		if !errors.As(err, &e) || e.Code != exit.ExitUsage || !strings.HasPrefix(e.Msg, c.want) {
			t.Errorf("%s: %v, want %q", c.setting, err, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"role", "role: standby", "role: replica", `f.yaml:12: region "us": role must be primary or standby`},
		{"unknown field", "    wave: 2\n", "    wave: 2\n    weight: 3\n", `f.yaml:14: region 2: unknown field "weight"`},
		{"unknown top field", "kind: Fleet\n", "kind: Fleet\nregion: []\n", `f.yaml:3: the fleet: unknown field "region"`},
		{"repeated field", "    wave: 2\n", "    wave: 2\n    wave: 3\n", `f.yaml:14: region 2: field "wave" is given twice`},
		{"duplicate name", "name: us", "name: eu", `f.yaml:9: region "eu": the name is already used by the region at line 4`},
		{"duplicate context", "context: us-prod", "context: eu-prod", `f.yaml:9: region "us": context "eu-prod" is already used by the region at line 4`},
		{"two primaries", "role: standby", "role: primary", `f.yaml:9: region "us": role primary is already the region "eu"'s (line 4)`},
		{"no primary", "role: primary", "role: standby", `f.yaml:4: no region has role primary`},
		{"wave 0", "wave: 2", "wave: 0", `f.yaml:13: region "us": wave must be 1 or more`},
		{"wave missing", "    wave: 2\n", "", `f.yaml:9: region "us": wave is missing`},
		{"wave not a number", "wave: 2", "wave: two", `f.yaml:13: wave must be a whole number, not "two"`},
		{"environment", "environment: prod\n    role: standby", "environment: staging\n    role: standby", `f.yaml:11: region "us": environment must be dev or prod, not "staging"`},
		{"namespace", "    role: standby", "    namespace: Not_A_Namespace\n    role: standby", `f.yaml:12: region "us": namespace "Not_A_Namespace" is not a valid namespace name`},
		{"context missing", "    context: us-prod\n", "", `f.yaml:9: region "us": context (a kubeconfig context) is missing`},
		{"name missing", "  - name: us\n    context", "  - context", `f.yaml:9: region 2: name is missing`},
		{"bad name", "name: us", "name: US", `f.yaml:9: region name "US" must be a DNS label`},
		{"kind", "kind: Fleet", "kind: Flotte", `f.yaml:1: kind must be Fleet, not "Flotte"`},
		{"apiVersion", "piyasa.io/v1alpha1", "piyasa.io/v2", `f.yaml:1: apiVersion must be piyasa.io/v1alpha1`},
		{"no regions", good[strings.Index(good, "regions:"):], "regions: []\n", `f.yaml:3: regions must be a list of at least one region`},
		{"standbyApi", "kind: Fleet\n", "kind: Fleet\nsettings:\n  standbyApi: off\n", `f.yaml:4: settings.standbyApi must be readOnly or zero, not "off"`},
		{"unknown setting", "kind: Fleet\n", "kind: Fleet\nsettings:\n  maxLag: 1\n", `f.yaml:4: settings: unknown field "maxLag" (known: standbyApi, replicationService, primaryHost, primaryPort)`},
		{"yaml syntax", "    wave: 2\n", "    wave: 2\n  - [\n", `f.yaml:14: not valid YAML`},
		{"region not a mapping", "    wave: 2\n", "    wave: 2\n  - just-a-name\n", `f.yaml:14: region 3 must be a mapping`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.old) {
				t.Fatalf("the good file has no %q", c.old)
			}
			_, err := Parse("f.yaml", []byte(strings.Replace(good, c.old, c.new, 1)))
			var e *exit.Error
			if !errors.As(err, &e) || e.Code != exit.ExitUsage {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if !strings.HasPrefix(e.Msg, c.want) {
				t.Errorf("error %q\nwant it to start with %q", e.Msg, c.want)
			}
		})
	}
}

// Several problems: the first by line is reported, the others counted.
func TestParseReportsTheFirstProblem(t *testing.T) {
	bad := strings.Replace(strings.Replace(good, "wave: 2", "wave: 0", 1), "role: primary", "role: boss", 1)
	_, err := Parse("f.yaml", []byte(bad))
	var e *exit.Error
	if !errors.As(err, &e) || !strings.HasPrefix(e.Msg, `f.yaml:7: region "eu": role must be`) || !strings.Contains(e.Hint, "1 more problem") {
		t.Errorf("err = %v (hint %q)", err, e.Hint)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-fleet.yaml")
	var e *exit.Error
	if !errors.As(err, &e) || e.Code != exit.ExitUsage || !strings.Contains(e.Msg, "no-such-fleet.yaml") {
		t.Errorf("err = %v", err)
	}
}

func TestContextTargets(t *testing.T) {
	ts, err := ContextTargets([]string{"a", " b"})
	if err != nil || len(ts) != 2 || ts[1].Context != "b" || ts[0].Role != "" {
		t.Errorf("targets = %+v, %v", ts, err)
	}
	for _, bad := range [][]string{nil, {"a", ""}, {"a", "a"}} {
		if _, err := ContextTargets(bad); err == nil {
			t.Errorf("ContextTargets(%q) gave no error", bad)
		}
	}
}
