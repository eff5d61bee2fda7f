package deploy

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

func configMap(t *testing.T, tt *clitest.T) map[string]string {
	t.Helper()
	cm, err := tt.Fake.CoreV1().ConfigMaps(devNS).Get(context.Background(), "dev-piyasa-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data
}

func restarted(t *testing.T, tt *clitest.T) []string {
	t.Helper()
	var out []string
	if _, ok := getDeploy(t, tt, "dev-api").Spec.Template.Annotations[kube.RestartedAtAnnotation]; ok {
		out = append(out, "api")
	}
	if _, ok := getSTS(t, tt, "dev-worker").Spec.Template.Annotations[kube.RestartedAtAnnotation]; ok {
		out = append(out, "worker")
	}
	return out
}

func TestConfigSetUnset(t *testing.T) {
	withGroq := func(objs []runtime.Object) []runtime.Object {
		for _, o := range objs {
			if s, ok := o.(*corev1.Secret); ok {
				s.Data[app.KeyGroqAPIKey] = []byte("gsk_test_0123456789")
			}
		}
		return objs
	}
	cases := []struct {
		name    string
		objs    []runtime.Object
		args    []string
		setup   func(tt *clitest.T)
		code    int
		key     string // key of piyasa-config checked afterwards
		value   string // "" = absent
		restart bool
		out     string
	}{
		{name: "set restarts the readers", args: []string{"config", "set", "LOG_LEVEL=DEBUG"}, key: app.KeyLogLevel, value: "DEBUG", restart: true, out: "2 workloads ready"},
		{name: "unchanged", args: []string{"config", "set", "LOG_LEVEL=INFO"}, key: app.KeyLogLevel, value: "INFO", out: "unchanged"},
		{name: "unset", args: []string{"config", "unset", "FEATURE_X"}, key: "FEATURE_X", restart: true,
			setup: func(tt *clitest.T) {
				cm, _ := tt.Fake.CoreV1().ConfigMaps(devNS).Get(context.Background(), "dev-piyasa-config", metav1.GetOptions{})
				cm.Data["FEATURE_X"] = "on"
				_, _ = tt.Fake.CoreV1().ConfigMaps(devNS).Update(context.Background(), cm, metav1.UpdateOptions{})
			}},
		{name: "unset a missing key", args: []string{"config", "unset", "NOPE"}, code: 2, key: "NOPE"},
		// issue 16 #10: a provider whose key the Secret lacks would break the pods.
		{name: "provider without its key", args: []string{"config", "set", "LLM_PROVIDER=groq"}, code: 1, key: app.KeyLLMProvider, value: "openai", out: "needs GROQ_API_KEY"},
		{name: "provider with its key", objs: withGroq(liveApp(imgV1)), args: []string{"config", "set", "LLM_PROVIDER=groq", "--wait=false"}, key: app.KeyLLMProvider, value: "groq", restart: true},
		{name: "secret-looking value", args: []string{"config", "set", "NOTE=sk-proj-abcdefghijklmnopqrstuvwxyz123456"}, code: 2, key: "NOTE"},
		{name: "conflict: nothing changed", args: []string{"config", "set", "LOG_LEVEL=DEBUG"}, code: 1, key: app.KeyLogLevel, value: "INFO",
			setup: func(tt *clitest.T) { failOn(tt, "patch", "configmaps", 0, conflict("configmaps")) }, out: "changed while this command ran"},
		{name: "forbidden", args: []string{"config", "set", "LOG_LEVEL=DEBUG"}, code: 3, key: app.KeyLogLevel, value: "INFO",
			setup: func(tt *clitest.T) { failOn(tt, "patch", "configmaps", 0, forbidden("configmaps")) }},
		{name: "not deployed", objs: []runtime.Object{}, args: []string{"config", "set", "LOG_LEVEL=DEBUG"}, code: 1, out: "not found in namespace " + devNS},
		{name: "client dry run", args: []string{"config", "set", "LOG_LEVEL=DEBUG", "--dry-run=client"}, key: app.KeyLogLevel, value: "INFO", out: "(dry run)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs := c.objs
			if objs == nil {
				objs = liveApp(imgV1)
			}
			tt := clitest.New(devNS, objs...)
			if c.setup != nil {
				c.setup(tt)
			}
			runCase(t, tt, c.args, c.code, c.out)
			if c.key == "" {
				return
			}
			if got := configMap(t, tt)[c.key]; got != c.value {
				t.Errorf("%s = %q, want %q", c.key, got, c.value)
			}
			if r := restarted(t, tt); (len(r) == 2) != c.restart {
				t.Errorf("restarted %v, want restart=%v", r, c.restart)
			}
		})
	}
}

func TestSecretRotate(t *testing.T) {
	dir := t.TempDir()
	good := writeEnv(t, dir, "good.env", "")
	cases := []struct {
		name    string
		args    []string
		setup   func(tt *clitest.T)
		code    int
		changed bool
		restart bool
		out     string
	}{
		{name: "replaces and restarts", args: []string{"secret", "rotate", "--env-file", good}, changed: true, restart: true, out: "2 workloads ready"},
		{name: "conflict once: read again and replaced", args: []string{"secret", "rotate", "--env-file", good, "--wait=false"}, changed: true, restart: true,
			setup: func(tt *clitest.T) { failOn(tt, "update", "secrets", 1, conflict("secrets")) }},
		{name: "forbidden: nothing changed", args: []string{"secret", "rotate", "--env-file", good}, code: 3,
			setup: func(tt *clitest.T) { failOn(tt, "update", "secrets", 0, forbidden("secrets")) }},
		{name: "bad .env: nothing changed", args: []string{"secret", "rotate", "--env-file", writeEnv(t, dir, "bad.env", "API_KEY")}, code: 2, out: "missing key API_KEY"},
		{name: "no .env", args: []string{"secret", "rotate"}, code: 2},
		{name: "client dry run", args: []string{"secret", "rotate", "--env-file", good, "--dry-run=client"}, out: "(dry run)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := clitest.New(devNS, liveApp(imgV1)...)
			if c.setup != nil {
				c.setup(tt)
			}
			all := runCase(t, tt, c.args, c.code, c.out)
			if strings.Contains(all, "sk-test-0123456789abcdef") {
				t.Fatal("a Secret value was printed")
			}
			s, _ := tt.Fake.CoreV1().Secrets(devNS).Get(context.Background(), app.SecretName, metav1.GetOptions{})
			if changed := len(s.Data) > 2; changed != c.changed {
				t.Errorf("Secret replaced = %v, want %v", changed, c.changed)
			}
			if r := restarted(t, tt); (len(r) == 2) != c.restart {
				t.Errorf("restarted %v, want restart=%v", r, c.restart)
			}
		})
	}
}
