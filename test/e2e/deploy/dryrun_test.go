package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestOverlaysPassServerDryRun: the rendered dev and prod overlays are
// accepted by the API server (server-side apply, dry run), and a full
// `deploy --dry-run=server` of prod (Secret included) changes nothing.
func TestOverlaysPassServerDryRun(t *testing.T) {
	for _, env := range []string{"dev", "prod"} {
		t.Run(env, func(t *testing.T) {
			ns := harness.Namespace(t, "dryrun-"+env)
			y := harness.Piyasa(t, "deploy", "render", "--env", env, "-n", ns).RunOK().Stdout
			r := harness.Kubectl(t, "apply", "--server-side", "--field-manager", "kubectl-piyasa", "--dry-run=server", "-f", "-").
				WithStdin(strings.NewReader(y)).RunOK()
			if n := strings.Count(r.Stdout, "(server dry run)"); n < 30 {
				t.Fatalf("only %d objects passed:\n%s", n, r.Stdout)
			}
			t.Logf("%s: %d objects pass the server-side dry run", env, strings.Count(r.Stdout, "(server dry run)"))
		})
	}
	ns := harness.Namespace(t, "dryrun-deploy")
	env := newEnvFile(t, ".env")
	env = editEnv(t, env, "OPENAI_API_KEY", "sk-proj-"+harness.CanaryValue("realistic"))
	env = editEnv(t, env, "GROQ_API_KEY", "")
	env = editEnv(t, env, "GEMINI_API_KEY", "")
	r := harness.Piyasa(t, "deploy", "--env", "prod", "-n", ns, "--env-file", env, "--dry-run=server").RunOK()
	noLeak(t, r, env)
	if !strings.Contains(r.Stdout, "deployment/prod-api serverside-applied (server dry run)") {
		t.Fatalf("output:\n%s", r.Stdout)
	}
	harness.Kubectl(t, "get", "deployment", "prod-api", "-n", ns).ExpectCode(1)
	harness.Kubectl(t, "get", "secret", "piyasa-secrets", "-n", ns).ExpectCode(1)
}

// TestBareDryRunKeepsKubeconfig: a bare --dry-run is kubectl's (client, with
// its deprecation warning) and never takes the next argument: `deploy
// --dry-run --kubeconfig K` reads K as the kubeconfig (issue 9 #3). KUBECONFIG
// points nowhere, so only --kubeconfig can reach the cluster.
func TestBareDryRunKeepsKubeconfig(t *testing.T) {
	ns := harness.Namespace(t, "dryrun-bare")
	env := newEnvFile(t, ".env")
	r := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--dry-run", "--kubeconfig", harness.Env.Kubeconfig).
		WithEnv("KUBECONFIG=/nonexistent/kubeconfig").RunOK()
	if !strings.Contains(r.Stdout, "deployment/dev-api (dry run)") || !strings.Contains(r.Stderr, "--dry-run=client") {
		t.Fatalf("bare --dry-run:\nstdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}
	r = harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--dry-run=server", "--kubeconfig", harness.Env.Kubeconfig).
		WithEnv("KUBECONFIG=/nonexistent/kubeconfig").RunOK()
	if !strings.Contains(r.Stdout, "deployment/dev-api serverside-applied (server dry run)") {
		t.Fatalf("server dry run through --kubeconfig:\n%s\n%s", r.Stdout, r.Stderr)
	}
	noLeak(t, r, env)
	harness.Kubectl(t, "get", "deployment", "dev-api", "-n", ns).ExpectCode(1)
	harness.Kubectl(t, "get", "secret", "piyasa-secrets", "-n", ns).ExpectCode(1)
}

func editEnv(t *testing.T, src, key, value string) string { return edit(t, src, key, value) }

// kubeScoreVersion is the pinned kube-score, built from the Go module proxy.
const kubeScoreVersion = "v1.20.0"

// TestKubeScore: kube-score finds nothing CRITICAL in the rendered dev and
// prod overlays. The figures are logged (go test -v).
func TestKubeScore(t *testing.T) {
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(cache, "kubectl-piyasa", "kube-score-"+kubeScoreVersion)
	bin, _ = filepath.Abs(bin)
	if _, err := os.Stat(filepath.Join(bin, "kube-score")); err != nil {
		cmd := exec.Command("go", "install", "github.com/zegl/kube-score/cmd/kube-score@"+kubeScoreVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building kube-score %s: %v\n%s", kubeScoreVersion, err, out)
		}
	}
	line := regexp.MustCompile(`\[(CRITICAL|WARNING|OK|SKIPPED)\]`)
	for _, env := range []string{"dev", "prod"} {
		y := harness.Piyasa(t, "deploy", "render", "--env", env).RunOK().Stdout
		f := filepath.Join(t.TempDir(), env+".yaml")
		if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command(filepath.Join(bin, "kube-score"), "score", "--output-format", "ci", f).CombinedOutput()
		counts := map[string]int{}
		for _, m := range line.FindAllStringSubmatch(string(out), -1) {
			counts[m[1]]++
		}
		t.Logf("kube-score %s on %s: %d CRITICAL, %d WARNING, %d OK, %d SKIPPED", kubeScoreVersion, env,
			counts["CRITICAL"], counts["WARNING"], counts["OK"], counts["SKIPPED"])
		if counts["OK"] == 0 {
			t.Fatalf("kube-score gave no results:\n%s", out)
		}
		if counts["CRITICAL"] > 0 {
			var crit []string
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, "[CRITICAL]") {
					crit = append(crit, l)
				}
			}
			t.Errorf("kube-score CRITICAL on %s:\n%s", env, strings.Join(crit, "\n"))
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "[WARNING]") {
				t.Logf("  %s", l)
			}
		}
	}
}
