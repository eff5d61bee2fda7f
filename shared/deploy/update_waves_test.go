package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/migrate/migraterun"
)

// wavesFleet is a fleet of three regions: eu (primary, wave 1), us and ap
// (standby, wave 2), listed out of wave order.
const wavesFleet = `apiVersion: piyasa.io/v1alpha1
kind: Fleet
regions:
  - name: us
    context: us-ctx
    environment: dev
    role: standby
    wave: 2
  - name: eu
    context: eu-ctx
    environment: dev
    role: primary
    wave: 1
  - name: ap
    context: ap-ctx
    environment: dev
    role: standby
    wave: 2
`

func TestPlanWaves(t *testing.T) {
	f, err := fleet.Parse("f.yaml", []byte(wavesFleet))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, w := range planWaves(f) {
		for _, r := range w {
			got = append(got, fmt.Sprintf("%d:%s", i+1, r.Name))
		}
	}
	if strings.Join(got, " ") != "1:eu 2:us 2:ap" {
		t.Fatalf("plan %v", got)
	}
}

// fakeDiagnose plays kubectl-piyasa-diagnose: per context, the findings it
// reports (severity:code); it exits as --fail-on says.
type fakeDiagnose struct {
	mu       sync.Mutex
	findings map[string][]string
	// onRun, when set, is called first (a test cancels its context there).
	onRun func(context string)
	ran   []string
}

func (d *fakeDiagnose) use(t *testing.T) {
	find, run := findDiagnose, runDiagnose
	t.Cleanup(func() { findDiagnose, runDiagnose = find, run })
	findDiagnose = func() (string, bool) { return "/opt/piyasa/kubectl-piyasa-diagnose", true }
	runDiagnose = func(ctx context.Context, _ string, args []string, _ io.Writer) ([]byte, int, error) {
		var kctx, failOn string
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "--context="); ok {
				kctx = v
			}
			if v, ok := strings.CutPrefix(a, "--fail-on="); ok {
				failOn = v
			}
		}
		d.mu.Lock()
		d.ran = append(d.ran, kctx)
		d.mu.Unlock()
		if d.onRun != nil {
			d.onRun(kctx)
		}
		if ctx.Err() != nil {
			return nil, cli.ExitInterrupted, nil
		}
		rep := map[string]any{"kind": "DiagnoseReport", "apiVersion": "piyasa.io/v1alpha1"}
		var findings []map[string]string
		code, errs, warns := 0, 0, 0
		for _, f := range d.findings[kctx] {
			sev, id, _ := strings.Cut(f, ":")
			findings = append(findings, map[string]string{"code": id, "severity": sev, "message": "the check " + id + " failed"})
			if sev == "error" {
				errs++
			} else {
				warns++
			}
			if sev == "error" || failOn == "warning" {
				code = 1
			}
		}
		rep["summary"] = map[string]int{"errors": errs, "warnings": warns}
		rep["findings"] = findings
		b, _ := json.Marshal(rep)
		return b, code, nil
	}
}

// wavesSetup is a release's fakes: an app per region and the fleet file.
type wavesSetup struct {
	regions map[string]*clitest.T
	file    string
	diag    *fakeDiagnose
}

func newWavesSetup(t *testing.T) *wavesSetup {
	s := &wavesSetup{regions: map[string]*clitest.T{}, diag: &fakeDiagnose{findings: map[string][]string{}}}
	for _, ctx := range []string{"eu-ctx", "us-ctx", "ap-ctx"} {
		s.regions[ctx] = clitest.New(devNS, liveApp(imgV1)...)
	}
	s.file = filepath.Join(t.TempDir(), "piyasa-fleet.yaml")
	if err := os.WriteFile(s.file, []byte(wavesFleet), 0o600); err != nil {
		t.Fatal(err)
	}
	prev := prepareRegion
	t.Cleanup(func() { prepareRegion = prev })
	prepareRegion = func(r fleet.Region, g *cli.Global) {
		tt := s.regions[r.Context]
		g.KubeClient, g.DynamicClient, g.RESTClientGetter = tt.KubeClient, tt.DynamicClient, tt.RESTClientGetter
		g.Getenv = tt.Getenv
	}
	s.diag.use(t)
	return s
}

// release runs `deploy update --fleet FILE args... -o json` and returns
// its exit code, document and standard error.
func (s *wavesSetup) release(t *testing.T, ctx context.Context, args ...string) (int, Release, string) {
	t.Helper()
	top := clitest.New("")
	root := NewCmd(top.Global)
	root.SetArgs(append([]string{"update", "--fleet", s.file, "-o", "json"}, args...))
	err := root.ExecuteContext(ctx)
	stdout, stderr := top.Output()
	var doc Release
	if jerr := json.Unmarshal([]byte(stdout), &doc); jerr != nil {
		t.Fatalf("exit %d (%v), no document: %v\n%s\n%s", code(err), err, jerr, stdout, stderr)
	}
	if err != nil {
		stderr += "error: " + err.Error()
	}
	return code(err), doc, stderr
}

// images returns each region's api image (by context).
func (s *wavesSetup) images(t *testing.T) map[string]string {
	out := map[string]string{}
	for ctx, tt := range s.regions {
		out[ctx] = apiImage(t, tt)
		if w := getSTS(t, tt, "dev-worker").Spec.Template.Spec.Containers[0].Image; w != out[ctx] {
			t.Fatalf("%s: api %s, worker %s", ctx, out[ctx], w)
		}
	}
	return out
}

// states returns "region=state" in the document's order.
func states(doc Release) string {
	var s []string
	for _, r := range doc.Regions {
		s = append(s, r.Region+"="+r.State)
	}
	return strings.Join(s, " ")
}

func TestFleetRelease(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		findings map[string][]string
		code     int
		states   string
		// images by context afterwards (v1 or v2)
		images map[string]string
		// diagnosed are the contexts diagnose ran in
		diagnosed string
		reason    map[string]string
	}{
		{name: "all updated", code: 0, states: "eu=updated us=updated ap=updated",
			images: map[string]string{"eu-ctx": imgV2, "us-ctx": imgV2, "ap-ctx": imgV2}, diagnosed: "ap-ctx eu-ctx us-ctx",
			findings: map[string][]string{"us-ctx": {"warning:PIY501"}}},
		{name: "first wave's gate fails: rolled back, second wave not touched", code: 1,
			findings: map[string][]string{"eu-ctx": {"error:PIY401"}},
			states:   "eu=rolledBack us=notTouched ap=notTouched",
			images:   map[string]string{"eu-ctx": imgV1, "us-ctx": imgV1, "ap-ctx": imgV1}, diagnosed: "eu-ctx",
			reason: map[string]string{"eu": "found PIY401: the check PIY401 failed", "us": "wave 1 failed in region eu"}},
		{name: "second wave: one region fails, both rolled back", code: 1,
			findings: map[string][]string{"ap-ctx": {"error:PIY401"}},
			states:   "eu=updated us=rolledBack ap=rolledBack",
			images:   map[string]string{"eu-ctx": imgV2, "us-ctx": imgV1, "ap-ctx": imgV1}, diagnosed: "ap-ctx eu-ctx us-ctx",
			reason: map[string]string{"us": "region ap of the same wave failed"}},
		{name: "gate on warning is stricter", args: []string{"--gate-on", "warning"}, code: 1,
			findings: map[string][]string{"eu-ctx": {"warning:PIY501"}},
			states:   "eu=rolledBack us=notTouched ap=notTouched",
			images:   map[string]string{"eu-ctx": imgV1, "us-ctx": imgV1, "ap-ctx": imgV1}, diagnosed: "eu-ctx"},
		{name: "dry run: the plan, nothing changed", args: []string{"--dry-run=client"}, code: 0,
			states: "eu=planned us=planned ap=planned",
			images: map[string]string{"eu-ctx": imgV1, "us-ctx": imgV1, "ap-ctx": imgV1}, diagnosed: "",
			reason: map[string]string{"ap": "wave 2 of 2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newWavesSetup(t)
			s.diag.findings = c.findings
			got, doc, stderr := s.release(t, context.Background(), append([]string{"--image", "v2.0.0"}, c.args...)...)
			if got != c.code || states(doc) != c.states {
				t.Fatalf("exit %d, states %s; want %d, %s\n%s", got, states(doc), c.code, c.states, stderr)
			}
			if imgs := s.images(t); fmt.Sprint(imgs) != fmt.Sprint(c.images) {
				t.Errorf("images %v, want %v", imgs, c.images)
			}
			ran := append([]string(nil), s.diag.ran...)
			sortStrings(ran)
			if strings.Join(ran, " ") != c.diagnosed {
				t.Errorf("diagnose ran in %v, want %q", ran, c.diagnosed)
			}
			for _, r := range doc.Regions {
				if want := c.reason[r.Region]; want != "" && !strings.Contains(r.Reason, want) {
					t.Errorf("region %s: reason %q lacks %q", r.Region, r.Reason, want)
				}
				if r.Images[0].From != imgV1 || r.Images[0].To != imgV2 {
					t.Errorf("region %s: images %+v", r.Region, r.Images)
				}
			}
			if doc.ExitCode != c.code || doc.Waves != 2 {
				t.Errorf("document: exitCode %d, waves %d", doc.ExitCode, doc.Waves)
			}
		})
	}
}

// TestFleetReleaseMigratesOnceInThePrimary: --migrate runs the migration
// once, with the primary's context, before wave 1; a failed migration
// changes nothing anywhere.
func TestFleetReleaseMigratesOnceInThePrimary(t *testing.T) {
	s := newWavesSetup(t)
	child := &fakeChild{stdout: runDoc(t, migraterun.Result{State: "Complete", Job: "dev-db-migrate-1", From: "0001"})}
	child.use(t)
	got, doc, stderr := s.release(t, context.Background(), "--image", "v2.0.0", "--migrate", "--no-backup")
	if got != 0 || len(child.runs) != 1 {
		t.Fatalf("exit %d, %d migrations\n%s", got, len(child.runs), stderr)
	}
	if args := strings.Join(child.runs[0], " "); !strings.Contains(args, "--context=eu-ctx") || !strings.Contains(args, "--image="+imgV2) {
		t.Errorf("migrate args: %s", args)
	}
	if m := doc.Migration; m == nil || m.State != "applied" || m.Region != "eu" || m.Job != "dev-db-migrate-1" {
		t.Errorf("migration %+v", doc.Migration)
	}
	if strings.Index(stderr, "Migration in the primary region eu") > strings.Index(stderr, "Wave 1 (1 of 2)") {
		t.Errorf("the migration did not come before wave 1:\n%s", stderr)
	}

	s = newWavesSetup(t)
	child = &fakeChild{stdout: runDoc(t, migraterun.Result{State: "Failed", Job: "dev-db-migrate-2"}), code: 1}
	child.use(t)
	got, doc, stderr = s.release(t, context.Background(), "--image", "v2.0.0", "--migrate", "--no-backup")
	if got != 1 || states(doc) != "eu=notTouched us=notTouched ap=notTouched" || doc.Migration.State != StateFailed {
		t.Fatalf("failed migration: exit %d, %s, %+v\n%s", got, states(doc), doc.Migration, stderr)
	}
	if len(s.diag.ran) != 0 || s.images(t)["eu-ctx"] != imgV1 {
		t.Errorf("a region was touched after a failed migration: %v %v", s.diag.ran, s.images(t))
	}
}

// TestFleetReleaseUnreachableChangesNothing: a region that cannot be read
// before the release stops it before any change (exit 3).
func TestFleetReleaseUnreachableChangesNothing(t *testing.T) {
	s := newWavesSetup(t)
	failOn(s.regions["ap-ctx"], "get", "deployments", 0, fmt.Errorf("dial tcp 10.0.0.1:6443: connect: connection refused"))
	got, doc, stderr := s.release(t, context.Background(), "--image", "v2.0.0")
	if got != cli.ExitCluster || states(doc) != "eu=notTouched us=notTouched ap=unreachable" {
		t.Fatalf("exit %d, %s\n%s", got, states(doc), stderr)
	}
	delete(s.regions, "ap-ctx") // its reads fail
	if imgs := s.images(t); imgs["eu-ctx"] != imgV1 || imgs["us-ctx"] != imgV1 || len(s.diag.ran) != 0 {
		t.Errorf("changed: images %v, diagnosed %v", imgs, s.diag.ran)
	}
}

// TestFleetReleaseInterrupted: Ctrl-C while wave 1's gate runs stops the
// release there (exit 130): wave 2 is not touched and nothing is rolled back.
func TestFleetReleaseInterrupted(t *testing.T) {
	s := newWavesSetup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.diag.onRun = func(string) { cancel() }
	got, doc, stderr := s.release(t, ctx, "--image", "v2.0.0")
	if got != cli.ExitInterrupted || states(doc) != "eu=interrupted us=notTouched ap=notTouched" {
		t.Fatalf("exit %d, %s\n%s", got, states(doc), stderr)
	}
	if !strings.Contains(doc.Regions[1].Reason, "interrupted before wave 2") {
		t.Errorf("us: %q", doc.Regions[1].Reason)
	}
	if imgs := s.images(t); imgs["eu-ctx"] != imgV2 || imgs["us-ctx"] != imgV1 {
		t.Errorf("images: %v", imgs)
	}
}

// TestFleetReleaseUsage: the flags a release refuses exit 2 before any request.
func TestFleetReleaseUsage(t *testing.T) {
	s := newWavesSetup(t)
	for _, args := range [][]string{
		{"--context", "x"}, {"-n", "ns"}, {"--no-rollback"}, {"--gate-on", "info"}, {"--dry-run=server"}, {"--wait=false"},
	} {
		top := clitest.New("")
		root := NewCmd(top.Global)
		root.SetArgs(append([]string{"update", "--fleet", s.file, "--image", "v2.0.0"}, args...))
		if err := root.ExecuteContext(context.Background()); code(err) != cli.ExitUsage {
			t.Errorf("%v: exit %d (%v)", args, code(err), err)
		}
	}
	top := clitest.New(devNS, liveApp(imgV1)...)
	root := NewCmd(top.Global)
	root.SetArgs([]string{"update", "--image", "v2.0.0", "--gate-on", "warning"})
	if err := root.ExecuteContext(context.Background()); code(err) != cli.ExitUsage {
		t.Errorf("--gate-on without --fleet: exit %d (%v)", code(err), err)
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

// TestFleetReleaseTable: the table says per region what happened, and the
// progress of each region is prefixed with its name on standard error.
func TestFleetReleaseTable(t *testing.T) {
	s := newWavesSetup(t)
	s.diag.findings = map[string][]string{"eu-ctx": {"error:PIY401"}}
	top := clitest.New("")
	root := NewCmd(top.Global)
	root.SetArgs([]string{"update", "--fleet", s.file, "--image", "v2.0.0"})
	err := root.ExecuteContext(context.Background())
	stdout, stderr := top.Output()
	if code(err) != 1 || !strings.Contains(err.Error(), "the release stopped: eu rolled back") {
		t.Fatalf("exit %d: %v", code(err), err)
	}
	for _, want := range []string{"WAVE", "eu-ctx", "rolled back", "not touched", imgV1 + " -> " + imgV2, "wave 1 failed in region eu"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	for _, want := range []string{"Wave 1 (1 of 2): eu (eu-ctx)", "[eu] deployment/dev-api image " + imgV1 + " -> " + imgV2, "[eu] Rolling back"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "[us]") {
		t.Errorf("wave 2 was touched:\n%s", stderr)
	}
}
