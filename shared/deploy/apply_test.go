package deploy

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

func TestWorkloadsOfRenderedOverlay(t *testing.T) {
	objs, err := render.Render(render.Options{Env: app.Environments["dev"]})
	if err != nil {
		t.Fatal(err)
	}
	ws := workloadsOf(objs)
	var got []string
	for _, w := range ws {
		got = append(got, w.Component+"="+w.Kind+"/"+w.Name)
	}
	want := "api=Deployment/dev-api worker=StatefulSet/dev-worker frontend=Deployment/dev-frontend postgres=Deployment/dev-postgres redis=StatefulSet/dev-redis"
	if strings.Join(got, " ") != want {
		t.Fatalf("workloads %v", got)
	}
	if p := configData(objs, app.Environments["dev"])[app.KeyLLMProvider]; p != "openai" {
		t.Fatalf("LLM_PROVIDER %q", p)
	}
}

func TestProgressLine(t *testing.T) {
	st := kube.WorkloadStatus{Workload: kube.Workload{Component: "api"}, Found: true, Desired: 2, Ready: 1,
		Message: `Waiting for deployment "dev-api" rollout to finish: 1 of 2 updated replicas are available...`}
	got := progressLine(st, 8, 3*time.Second)
	if got != `[  3s] api       1/2 ready  (Waiting for deployment "dev-api" rollout to finish: 1 of 2 updated replicas are available)` {
		t.Fatalf("%q", got)
	}
	st.Done, st.Ready = true, 2
	if got := progressLine(st, 3, 0); got != "[  0s] api  2/2 ready, rolled out" {
		t.Fatalf("%q", got)
	}
}

func TestAccessText(t *testing.T) {
	dev := accessText(app.Environments["dev"], "my-ns")
	if !strings.Contains(dev, "kubectl port-forward -n my-ns svc/dev-api-service 8000:8000") || !strings.Contains(dev, "svc/dev-frontend-service 5173:5173") {
		t.Fatal(dev)
	}
	prod := accessText(app.Environments["prod"], "piyasa-chatbot")
	if !strings.Contains(prod, "https://piyasa-chatbot.example.com") || !strings.Contains(prod, "https://api.piyasa-chatbot.example.com") {
		t.Fatal(prod)
	}
}

func TestSecretDiffMasksValues(t *testing.T) {
	live := map[string]any{"kind": "Secret", "data": map[string]any{"A": "b2xk", "B": "c2FtZQ=="}}
	merged := map[string]any{"kind": "Secret", "data": map[string]any{"A": "bmV3", "B": "c2FtZQ==", "C": "YWRkZWQ="}}
	maskSecrets(live, merged)
	d := unifiedDiff("secret/x", live, merged)
	for _, v := range []string{"b2xk", "bmV3", "c2FtZQ==", "YWRkZWQ="} {
		if strings.Contains(d, v) {
			t.Fatalf("diff shows a value:\n%s", d)
		}
	}
	if !strings.Contains(d, "-  A: '*** (masked, old)'") || !strings.Contains(d, "+  A: '*** (masked, new)'") || !strings.Contains(d, "+  C: '*** (masked)'") {
		t.Fatalf("diff:\n%s", d)
	}
}

func TestNormalizeIgnoresHPAReplicas(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{"kind": "Deployment", "metadata": map[string]any{"name": "a", "resourceVersion": "5",
		"annotations": map[string]any{"deployment.kubernetes.io/revision": "3"}}, "spec": map[string]any{"replicas": int64(4)}, "status": map[string]any{}}}
	n := normalize(u, true)
	if _, ok := n["status"]; ok {
		t.Fatal("status kept")
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(n, "spec", "replicas"); ok {
		t.Fatal("replicas kept")
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(n, "metadata", "annotations"); ok {
		t.Fatal("revision annotation kept")
	}
}

func TestPutSecretReplacesWholesale(t *testing.T) {
	cs := fake.NewClientset()
	ctx := context.Background()
	put := func(content string, dr cli.DryRun) (secretChange, error) {
		f, _ := envfile.Parse(".env", []byte(content))
		sp, err := planSecret(ctx, cs, secretObject("ns", f))
		if err != nil {
			return secretChange{}, err
		}
		return sp.change, applySecret(ctx, cs, sp, dr)
	}
	ch, err := put("A=1\nB=2\n", cli.DryRunNone)
	if err != nil || !ch.Created {
		t.Fatalf("%v %v", ch, err)
	}
	ch, err = put("A=1\nB=3\nC=4\n", cli.DryRunNone)
	if err != nil || ch.String() != "added C; changed B" {
		t.Fatalf("%v %v", ch, err)
	}
	ch, _ = put("C=4\n", cli.DryRunClient)
	if ch.String() != "removed A,B" {
		t.Fatalf("%v", ch)
	}
	s, _ := cs.CoreV1().Secrets("ns").Get(ctx, app.SecretName, metav1.GetOptions{})
	if len(s.Data) != 3 || string(s.Data["B"]) != "3" || s.Type != corev1.SecretTypeOpaque {
		t.Fatalf("client dry run changed the Secret, or the update was wrong: %v", s.Data)
	}
}

func TestConfigValidate(t *testing.T) {
	validate := func(args []string, unset bool) (*ConfigOptions, error) {
		o := NewConfigOptions(cli.NewGlobal(genericiooptions.IOStreams{}), unset)
		o.args = args
		return o, o.Validate()
	}
	for _, bad := range [][]string{
		{"NOEQUALS"}, {"A=1", "A=2"}, {"MY_SECRET=x"}, {"REDIS_PASSWORD=x"}, {"TOTAL_WORKERS=3"},
		{"DATABASE_URL=postgresql://u:pw@h:5432/db"}, {"LLM_PROVIDER=mistral"}, {"LOG_LEVEL=LOUD"}, {"CORS_ALLOWED_ORIGINS=*"},
		// issue 16 #14: the rule of redact (and diagnose), keys and values
		{"DB_PASSWD=x"}, {"SMTP_PASS=x"}, {"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"}, {"LLM_CREDENTIALS=x"},
		{"WEBHOOK=https://user:pw@hook.example.com/x"}, {"NOTE=sk-proj-abcdefghijklmnopqrstuvwxyz123456"},
	} {
		_, err := validate(bad, false)
		if e, ok := err.(*cli.Error); !ok || e.Code != cli.ExitUsage {
			t.Errorf("%v: %v", bad, err)
		}
		if err != nil && (strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "sk-proj") || strings.Contains(err.Error(), "AKIA")) {
			t.Errorf("%v: error shows the value", bad)
		}
		if err != nil && strings.Contains(err.Error(), "DESIGN") {
			t.Errorf("%v: cites a document that does not ship: %v", bad, err)
		}
	}
	o, err := validate([]string{"LOG_LEVEL=INFO", "FEATURE_X=on", "EMPTY=", "DATABASE_URL=postgresql://piyasa_user:$(DATABASE_PASSWORD)@h:5432/db"}, false)
	if err != nil || o.set["EMPTY"] != "" || o.set["FEATURE_X"] != "on" {
		t.Fatalf("%v %v", err, o.set)
	}
	if _, err := validate([]string{"DATABASE_HOST"}, true); err == nil {
		t.Fatal("unset of a key the app needs")
	}
	if o, err := validate([]string{"FEATURE_X"}, true); err != nil || o.unset[0] != "FEATURE_X" {
		t.Fatal(err)
	}
}

// TestConfigHintsAreAccepted: every hint of a refused config command names
// a command accepted in that state (issue 16 #8).
func TestConfigHintsAreAccepted(t *testing.T) {
	o := NewConfigOptions(cli.NewGlobal(genericiooptions.IOStreams{}), true)
	o.args = []string{app.KeyTotalWorkers}
	err := o.Validate()
	e, ok := err.(*cli.Error)
	if !ok || !strings.Contains(e.Hint, "kubectl piyasa scale worker N") || strings.Contains(e.Hint, "config set") {
		t.Fatalf("unset TOTAL_WORKERS: %#v", err)
	}
	// The hint for another protected key is config set, which accepts it.
	o.args = []string{app.KeyLogLevel}
	e, _ = o.Validate().(*cli.Error)
	set := NewConfigOptions(cli.NewGlobal(genericiooptions.IOStreams{}), false)
	set.args = []string{app.KeyLogLevel + "=INFO"}
	if e == nil || !strings.Contains(e.Hint, "config set LOG_LEVEL=VALUE") || set.Validate() != nil {
		t.Fatalf("unset LOG_LEVEL: %#v", e)
	}
}

func TestInitEnvNeverOverwrites(t *testing.T) {
	var out, errOut bytes.Buffer
	g := cli.NewGlobal(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
	p := t.TempDir() + "/.env"
	cmd := NewCmdInitEnv(g)
	cmd.SetArgs([]string{"-f", p})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	f, err := envfile.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range f.Entries {
		if v := e.Value.Reveal(); len(v) > 8 && strings.Contains(out.String()+errOut.String(), v) {
			t.Fatalf("init-env printed %s", e.Key)
		}
	}
	cmd = NewCmdInitEnv(g)
	cmd.SetArgs([]string{"-f", p})
	err = cmd.Execute()
	if e, ok := err.(*cli.Error); !ok || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, "already exists") {
		t.Fatalf("second init-env: %v", err)
	}
}

// TestTLSSecretNote: after a prod deploy, a missing TLS Secret is said (the
// https:// URLs fail until it exists); an existing one says nothing.
func TestTLSSecretNote(t *testing.T) {
	prodNS := app.Environments["prod"].Namespace
	tt := clitest.New(prodNS)
	note := tlsSecretNote(context.Background(), tt.Fake, prodNS)
	if !strings.Contains(note, "TLS Secret piyasa-tls-cert does not exist yet") || !strings.Contains(note, "kubectl create secret tls piyasa-tls-cert") {
		t.Errorf("missing Secret: %q", note)
	}
	tt = clitest.New(prodNS, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: app.TLSSecretName, Namespace: prodNS}})
	if note := tlsSecretNote(context.Background(), tt.Fake, prodNS); note != "" {
		t.Errorf("existing Secret: %q", note)
	}
}
