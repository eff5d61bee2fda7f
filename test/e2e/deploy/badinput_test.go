package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// edit returns a copy of a .env with key set to value ("" removes the key).
func edit(t *testing.T, src, key, value string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.HasPrefix(l, key+"=") {
			if value == "" {
				continue
			}
			l = key + "=" + value
		}
		out = append(out, l)
	}
	return writeFile(t, t.TempDir(), ".env", strings.Join(out, "\n")+"\n")
}

// TestBadInput: every bad input exits 2 with one clear line and applies
// nothing: the target namespace is never created.
func TestBadInput(t *testing.T) {
	good := newEnvFile(t, ".env")
	prodOK := edit(t, good, "OPENAI_API_KEY", "sk-proj-"+harness.CanaryValue("TESTVALUE"))
	prodOK = edit(t, prodOK, "GROQ_API_KEY", "")
	prodOK = edit(t, prodOK, "GEMINI_API_KEY", "")
	dir := t.TempDir()
	// the values of the bad lines: secrets too (the harness's canary in them)
	zz := "zzsecretzz-" + harness.Canary
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing .env", []string{"--env", "dev", "--env-file", filepath.Join(dir, "nope.env")}, "cannot read"},
		{"malformed line", []string{"--env", "dev", "--env-file", writeFile(t, dir, "m.env", "# x\nAPI_KEY\n")}, "m.env:2: not a KEY=VALUE line"},
		{"unterminated quote", []string{"--env", "dev", "--env-file", writeFile(t, dir, "q.env", "API_KEY=\""+zz+"\n")}, "q.env:1: value of API_KEY: unterminated double quote"},
		{"duplicate key", []string{"--env", "dev", "--env-file", writeFile(t, dir, "d.env", "API_KEY="+zz+"1\r\nAPI_KEY="+zz+"2\r\n")}, "d.env:2: duplicate key API_KEY (first set on line 1)"},
		{"missing key", []string{"--env", "dev", "--env-file", edit(t, good, "API_KEY", "")}, "missing key API_KEY"},
		{"missing LLM key", []string{"--env", "dev", "--env-file", edit(t, good, "OPENAI_API_KEY", "")}, "missing key OPENAI_API_KEY (LLM_PROVIDER is openai)"},
		{"bad Fernet key", []string{"--env", "dev", "--env-file", edit(t, good, "TOKEN_ENCRYPTION_KEY", zz+"-not-fernet")}, "TOKEN_ENCRYPTION_KEY is not a Fernet key"},
		{"bad MFA secret", []string{"--env", "dev", "--env-file", edit(t, good, "DEFAULT_ADMIN_MFA_SECRET", zz+"!!1")}, "DEFAULT_ADMIN_MFA_SECRET is not a base32"},
		{"unknown env", []string{"--env", "staging", "--env-file", good}, `unknown environment "staging"`},
		{"prod default password", []string{"--env", "prod", "--env-file", edit(t, prodOK, "DEFAULT_ADMIN_PASSWORD", "change-me-in-production")}, "DEFAULT_ADMIN_PASSWORD is the guide's default password"},
		{"prod placeholder", []string{"--env", "prod", "--env-file", good}, "OPENAI_API_KEY still holds the guide's placeholder value"},
		{"latest image", []string{"--env", "dev", "--env-file", good, "--image", "latest"}, `invalid image reference "latest"`},
		{"bad image", []string{"--env", "dev", "--env-file", good, "--image", "Registry/UPPER:1"}, "not a valid repository name"},
		{"bad dry-run", []string{"--env", "dev", "--env-file", good, "--dry-run=maybe"}, `invalid --dry-run value "maybe"`},
		// A bare --dry-run never takes the next argument (kubectl's parsing): "maybe" is an argument.
		{"bare dry-run and an argument", []string{"--env", "dev", "--env-file", good, "--dry-run", "maybe"}, `"maybe"`},
		{"bad manifests", []string{"--env", "dev", "--env-file", good, "--manifests", dir}, "no kustomization.yaml"},
	}
	cs := harness.Client(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ns := "deploy-bad-" + rand.String(5)
			r := harness.Piyasa(t, append([]string{"deploy", "-n", ns}, c.args...)...).ExpectCode(2)
			if !strings.Contains(r.Stderr, c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, r.Stderr)
			}
			if strings.Contains(r.Stdout+r.Stderr, "zzsecretzz") {
				t.Errorf("output shows a value")
			}
			noLeak(t, r, good)
			if lines := strings.Count(strings.TrimSpace(r.Stderr), "\n") + 1; lines > 2 {
				t.Errorf("%d lines of error, want one (and a hint):\n%s", lines, r.Stderr)
			}
			if _, err := cs.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("namespace %s was created (err %v)", ns, err)
			}
		})
	}
	// A prod .env with a real LLM key and no placeholders passes validation
	// (checked with a client dry run, which touches nothing).
	harness.Piyasa(t, "deploy", "--env", "prod", "-n", "deploy-bad-x", "--env-file", prodOK, "--dry-run=client").RunOK()
}
