// Package runbooks_test runs the shell runbooks of scripts/runbooks against
// the local cluster, as an on-call person would: their exit codes, what they
// print, and the state they leave, including that --dry-run changes nothing.
package runbooks_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// release.sh migrates: Alembic needs Debian's Python (WithMigratePython).
func TestMain(m *testing.M) { harness.Main(m, harness.WithMigratePython()) }

// runbook returns `bash scripts/runbooks/NAME args...`.
func runbook(t testing.TB, name string, args ...string) *harness.Cmd {
	return harness.Command(t, "bash", append([]string{filepath.Join(harness.RepoRoot(), "scripts", "runbooks", name)}, args...)...)
}

// scaleDoc is what the tests read of `scale status -o json`.
type scaleDoc struct {
	Components []struct {
		Component    string `json:"component"`
		Desired      int32  `json:"desired"`
		TotalWorkers *int32 `json:"totalWorkers"`
		HPA          *struct {
			Min int32 `json:"minReplicas"`
			Max int32 `json:"maxReplicas"`
		} `json:"hpa"`
	} `json:"components"`
}

func scaleStatus(t testing.TB, ns string) scaleDoc {
	t.Helper()
	r := harness.Piyasa(t, "scale", "status", "--env", "dev", "-n", ns, "-o", "json").Run()
	var d scaleDoc
	if err := json.Unmarshal([]byte(r.Stdout), &d); err != nil {
		t.Fatalf("scale status -o json (exit %d): %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	return d
}

func (d scaleDoc) get(comp string) (desired int32, hpaMin, hpaMax int32) {
	for _, c := range d.Components {
		if c.Component == comp {
			if c.HPA != nil {
				return c.Desired, c.HPA.Min, c.HPA.Max
			}
			return c.Desired, 0, 0
		}
	}
	return -1, 0, 0
}

func TestRunbooksHelpAndBadInput(t *testing.T) {
	for _, rb := range []string{"first-deploy.sh", "release.sh", "nightly-backup.sh", "incident.sh", "rotate-secrets.sh", "scale-for-event.sh", "dr-drill.sh", "region-drill.sh"} {
		if _, err := os.Stat(filepath.Join(harness.RepoRoot(), "scripts", "runbooks", rb)); err != nil {
			continue // not written yet: the test of that runbook says so
		}
		r := runbook(t, rb, "--help").RunOK()
		if !strings.Contains(r.Stdout, "Usage: "+rb) || !strings.Contains(r.Stdout, "--dry-run") {
			t.Errorf("%s --help:\n%s", rb, r.Stdout)
		}
		r = runbook(t, rb, "--bogus-flag").ExpectCode(2)
		if !strings.Contains(r.Stderr, "error:") {
			t.Errorf("%s --bogus-flag: %s", rb, r.Stderr)
		}
	}
}

func TestShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is required (Debian package shellcheck; .ci/run installs it)")
	}
	files, _ := filepath.Glob(filepath.Join(harness.RepoRoot(), "scripts", "runbooks", "*.sh"))
	if len(files) < 5 {
		t.Fatalf("runbooks: %v", files)
	}
	out, err := exec.Command(sc, append([]string{"-x"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck:\n%s", out)
	}
}

// TestOnCallDay chains the runbooks on one namespace in the order a day on
// call would: first deploy, rotate a secret, scale for an event and back, and
// an incident report after a fault.
func TestOnCallDay(t *testing.T) {
	ns := harness.Namespace(t, "rb")
	dir := t.TempDir()
	envPath := filepath.Join(dir, ".env")
	target := []string{"--env", "dev", "-n", ns}
	cs := harness.Client(t)
	ctx := context.Background()

	t.Run("first-deploy --dry-run changes nothing", func(t *testing.T) {
		r := runbook(t, "first-deploy.sh", append(target, "--env-file", envPath, "--dry-run")...).RunOK()
		if !strings.Contains(r.Stdout, "would run: kubectl piyasa deploy init-env") || !strings.Contains(r.Stdout, "would run: kubectl piyasa deploy --env-file") {
			t.Fatalf("dry run output:\n%s", r.Stdout)
		}
		if _, err := os.Stat(envPath); err == nil {
			t.Fatal("--dry-run wrote the .env")
		}
		deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(deps.Items) != 0 {
			t.Fatalf("--dry-run created %d deployments (%v)", len(deps.Items), err)
		}
	})

	t.Run("first-deploy", func(t *testing.T) {
		r := runbook(t, "first-deploy.sh", append(target, "--env-file", envPath)...).RunOK()
		t.Logf("first-deploy.sh stdout:\n%s", r.Stdout)
		st, err := os.Stat(envPath)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf(".env: %v %v", st, err)
		}
		if !strings.Contains(r.Stdout, "To reach it:\n  kubectl port-forward -n "+ns+" svc/dev-api-service 8000:8000") {
			t.Fatalf("no access commands:\n%s", r.Stdout)
		}
		harness.NoLeak(t, r.Stdout+r.Stderr, envPath)
		// From here on the .env's secret values hold the harness's canary
		// (rotate-secrets deploys them), as every e2e .env does.
		harness.CanaryEnv(t, envPath)
	})
	if t.Failed() {
		return
	}

	t.Run("rotate-secrets", func(t *testing.T) {
		data, err := os.ReadFile(envPath)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		rotated := harness.CanaryValue("rotated-api-key")
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "API_KEY=") {
				l = "API_KEY=" + rotated
			}
			lines = append(lines, l)
		}
		newEnv := filepath.Join(dir, "new.env")
		if err := os.WriteFile(newEnv, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		secret := func() string {
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, "dev-piyasa-secrets", metav1.GetOptions{})
			if err != nil {
				s, err = cs.CoreV1().Secrets(ns).Get(ctx, "piyasa-secrets", metav1.GetOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			return string(s.Data["API_KEY"])
		}
		before := secret()
		r := runbook(t, "rotate-secrets.sh", append([]string{newEnv, "--dry-run"}, target...)...).RunOK()
		if !strings.Contains(r.Stdout, "would run: kubectl piyasa deploy secret rotate") || secret() != before {
			t.Fatalf("dry run rotated or printed nothing:\n%s", r.Stdout)
		}
		r = runbook(t, "rotate-secrets.sh", append([]string{newEnv}, target...)...).RunOK()
		t.Logf("rotate-secrets.sh stdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
		if secret() != rotated {
			t.Fatal("API_KEY not rotated")
		}
		harness.NoLeak(t, r.Stdout+r.Stderr, newEnv)
		runbook(t, "rotate-secrets.sh", append([]string{filepath.Join(dir, "missing.env")}, target...)...).ExpectCode(2)
	})

	t.Run("scale-for-event and back", func(t *testing.T) {
		before := scaleStatus(t, ns)
		w0, _, _ := before.get("worker")
		_, min0, max0 := before.get("api")
		if min0 == 0 {
			t.Fatalf("the dev api has no HPA? %+v", before)
		}
		r := runbook(t, "scale-for-event.sh", append(target, "--api", "2", "--worker", "3", "--dry-run")...).RunOK()
		if !strings.Contains(r.Stdout, "would run: kubectl piyasa scale hpa api --min 2") || !strings.Contains(r.Stdout, "would run: kubectl piyasa scale worker 3") {
			t.Fatalf("dry run:\n%s", r.Stdout)
		}
		if w, _, _ := scaleStatus(t, ns).get("worker"); w != w0 {
			t.Fatalf("dry run scaled the workers to %d", w)
		}
		r = runbook(t, "scale-for-event.sh", append(target, "--api", "2", "--worker", "3")...).RunOK()
		t.Logf("scale-for-event.sh stdout:\n%s", r.Stdout)
		after := scaleStatus(t, ns)
		if w, _, _ := after.get("worker"); w != 3 {
			t.Fatalf("workers %d, want 3", w)
		}
		if _, min, _ := after.get("api"); min != 2 {
			t.Fatalf("api HPA min %d, want 2", min)
		}
		i := strings.Index(r.Stdout, "To return to the previous state: ")
		if i < 0 {
			t.Fatalf("no return command:\n%s", r.Stdout)
		}
		back := strings.TrimSpace(r.Stdout[i+len("To return to the previous state: "):])
		harness.Command(t, "bash", "-c", back).RunOK()
		restored := scaleStatus(t, ns)
		if w, _, _ := restored.get("worker"); w != w0 {
			t.Fatalf("workers %d after the return command, want %d", w, w0)
		}
		if _, min, max := restored.get("api"); min != min0 || max != max0 {
			t.Fatalf("api HPA %d-%d after the return command, want %d-%d", min, max, min0, max0)
		}
		// --until: held, then returned by the runbook itself.
		runbook(t, "scale-for-event.sh", append(target, "--worker", "3", "--until", "now + 2 seconds")...).RunOK()
		if w, _, _ := scaleStatus(t, ns).get("worker"); w != w0 {
			t.Fatalf("workers %d after --until, want %d", w, w0)
		}
		runbook(t, "scale-for-event.sh", append(target, "--worker", "three")...).ExpectCode(2)
	})

	t.Run("incident report", func(t *testing.T) {
		out := t.TempDir()
		// A fault diagnose knows: TOTAL_WORKERS no longer matches the workers.
		harness.Kubectl(t, "patch", "configmap", "dev-piyasa-config", "-n", ns, "--type=merge", "-p", `{"data":{"TOTAL_WORKERS":"7"}}`).RunOK()
		r := runbook(t, "incident.sh", append(target, "--out", out, "--dry-run")...).ExpectCode(1)
		if files, _ := filepath.Glob(filepath.Join(out, "*")); len(files) != 0 {
			t.Fatalf("--dry-run wrote %v", files)
		}
		r = runbook(t, "incident.sh", append(target, "--out", out)...).ExpectCode(1)
		t.Logf("incident.sh stdout:\n%s", r.Stdout)
		if !strings.Contains(r.Stdout, "PIY401") {
			t.Fatalf("top findings lack PIY401:\n%s", r.Stdout)
		}
		reports, _ := filepath.Glob(filepath.Join(out, "incident-*.md"))
		bundles, _ := filepath.Glob(filepath.Join(out, "incident-*.tar.gz"))
		if len(reports) != 1 || len(bundles) != 1 {
			t.Fatalf("report %v bundle %v", reports, bundles)
		}
		report, err := os.ReadFile(reports[0])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(report), "PIY401") || !strings.Contains(string(report), "fix: `kubectl piyasa scale worker") {
			t.Fatalf("report:\n%s", report)
		}
		if st, _ := os.Stat(bundles[0]); st.Mode().Perm() != 0o600 {
			t.Fatalf("bundle mode %v", st.Mode())
		}
		harness.NoLeak(t, string(report)+r.Stdout+r.Stderr, envPath)
	})
}
