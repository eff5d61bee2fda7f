package deploy

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clienttesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
)

// fleetFile writes a fleet of two dev regions in namespace devNS: eu
// (context ctx-eu) the primary, us (ctx-us) the standby, with settings.
func fleetFile(t *testing.T, settings string) string {
	t.Helper()
	doc := "apiVersion: piyasa.io/v1alpha1\nkind: Fleet\nsettings:\n  standbyApi: zero\n" + settings + `regions:
  - name: us
    context: ctx-us
    environment: dev
    namespace: ` + devNS + `
    role: standby
    wave: 2
  - name: eu
    context: ctx-eu
    environment: dev
    namespace: ` + devNS + `
    role: primary
    wave: 1
`
	path := filepath.Join(t.TempDir(), "piyasa-fleet.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fleetT is the two regions' fake clusters and what deploy --fleet did in them.
type fleetT struct {
	top      *clitest.T
	regions  map[string]*clitest.T
	mu       sync.Mutex
	applied  map[string][]*unstructured.Unstructured // by context
	execs    []string                                // context/pod: stdin
	execArgs []string
	execErr  error
}

// newFleetT makes both regions with the app running (liveApp), a running
// postgres pod, and in the primary the replication Service as svc.
func newFleetT(svc *corev1.Service) *fleetT {
	ft := &fleetT{top: clitest.New(""), regions: map[string]*clitest.T{}, applied: map[string][]*unstructured.Unstructured{}}
	for _, ctx := range []string{"ctx-eu", "ctx-us"} {
		objs := append(liveApp(imgV1), runtime.Object(runningPostgres()))
		if ctx == "ctx-eu" && svc != nil {
			objs = append(objs, svc)
		}
		tt := clitest.New(devNS, objs...)
		tt.FakeDynamic.PrependReactor("patch", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
			pa, ok := a.(clienttesting.PatchAction)
			if !ok || pa.GetPatchType() != types.ApplyPatchType {
				return false, nil, nil
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(pa.GetPatch()); err != nil {
				return true, nil, err
			}
			ft.mu.Lock()
			ft.applied[ctx] = append(ft.applied[ctx], u)
			ft.mu.Unlock()
			return true, u, nil
		})
		ft.regions[ctx] = tt
	}
	return ft
}

// run runs deploy's command line with --fleet on the regions' fakes.
func (ft *fleetT) run(args ...string) error {
	o := NewOptions(ft.top.Global)
	o.fl.prepare = func(r fleet.Region, g *cli.Global) {
		tt := ft.regions[r.Context]
		g.KubeClient, g.DynamicClient, g.RESTClientGetter = tt.KubeClient, tt.DynamicClient, tt.RESTClientGetter
	}
	o.fl.exec = func(_ context.Context, g *cli.Global, pod, _ string, cmd []string, stdin io.Reader) ([]byte, error) {
		b, _ := io.ReadAll(stdin)
		ft.execs = append(ft.execs, *g.ConfigFlags.Context+"/"+pod+": "+string(b))
		ft.execArgs = append(ft.execArgs, cmd...)
		return []byte("psql: error: boom\n"), ft.execErr
	}
	root := cli.NewRoot("deploy", ft.top.Global)
	root.RunE = cli.RunE(o)
	o.AddFlags(root)
	root.SetArgs(args)
	return root.ExecuteContext(context.Background())
}

func lbService(ip string) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dev-" + app.ReplicationService, Namespace: devNS},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 5432, NodePort: 31432}}}}
	if ip != "" {
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	}
	return s
}

func replicationSecretOf(t *testing.T, tt *clitest.T) map[string][]byte {
	t.Helper()
	s, err := tt.Fake.CoreV1().Secrets(devNS).Get(context.Background(), app.ReplicationSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Secret %s: %v", app.ReplicationSecret, err)
	}
	return s.Data
}

// cloneEnv returns the env of the initContainer clone-primary in an applied postgres Deployment.
func cloneEnv(objs []*unstructured.Unstructured) map[string]string {
	for _, u := range objs {
		if u.GetKind() != app.KindDeployment || u.GetName() != "dev-"+app.Postgres {
			continue
		}
		inits, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "initContainers")
		out := map[string]string{}
		for _, c := range inits {
			env, _ := c.(map[string]any)["env"].([]any)
			for _, e := range env {
				m := e.(map[string]any)
				v, _ := m["value"].(string)
				out[m["name"].(string)] = v
			}
		}
		return out
	}
	return nil
}

// TestDeployFleet: the primary first (its Secret, its app, the replication
// role through psql with a SCRAM verifier on stdin), then the standby with
// the same Secret and its clone-primary pointed at the primary's
// load-balancer address; no value of the Secret is ever printed.
func TestDeployFleet(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	ft := newFleetT(lbService("203.0.113.7"))
	err := ft.run("--fleet", fleetFile(t, ""), "--env-file", env)
	stdout, stderr := ft.top.Output()
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	eu, us := strings.Index(stdout, "=== context ctx-eu (region eu, primary"), strings.Index(stdout, "=== context ctx-us (region us, standby")
	if eu < 0 || us < eu {
		t.Fatalf("the primary is not deployed first:\n%s", stdout)
	}
	for _, want := range []string{"secret/piyasa-replication created (3 keys, values not shown)", "role piyasa_replicator created or updated",
		"service/dev-db-replication: the standbys reach the primary at 203.0.113.7:5432",
		"deployment/dev-postgres: clone-primary clones the primary region eu at 203.0.113.7:5432"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "fleet deployed: eu (primary, wave 1), then us (standby, wave 2)") {
		t.Errorf("stderr:\n%s", stderr)
	}
	primary, standby := replicationSecretOf(t, ft.regions["ctx-eu"]), replicationSecretOf(t, ft.regions["ctx-us"])
	if len(primary) != 3 || !equalData(primary, standby) {
		t.Fatalf("the regions' replication Secrets differ or lack keys: %d and %d keys", len(primary), len(standby))
	}
	pw := string(primary[app.KeyReplicationPassword])
	if len(pw) < 40 || strings.Contains(stdout+stderr, pw) {
		t.Fatalf("password of %d characters, or printed", len(pw))
	}
	if blk, _ := pem.Decode(primary[app.KeyTLSCert]); blk == nil {
		t.Error("tls.crt is not PEM")
	} else if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		t.Errorf("tls.crt: %v", err)
	}
	if len(ft.execs) != 1 || !strings.HasPrefix(ft.execs[0], "ctx-eu/dev-postgres-0: ") || !strings.Contains(ft.execs[0], "ALTER ROLE piyasa_replicator WITH LOGIN REPLICATION PASSWORD 'SCRAM-SHA-256$4096:") {
		t.Fatalf("psql execs %q", ft.execs)
	}
	if strings.Contains(strings.Join(append(ft.execArgs, ft.execs...), " "), pw) {
		t.Fatal("the password went to the pod in clear")
	}
	got := cloneEnv(ft.applied["ctx-us"])
	if got[app.EnvPrimaryHost] != "203.0.113.7" || got[app.EnvPrimaryPort] != "5432" {
		t.Errorf("standby clone-primary env %v", got)
	}
	// The standby: workers, api and frontend at 0 (not the running count
	// kept), TOTAL_WORKERS and the images the primary ended with.
	for _, u := range ft.applied["ctx-us"] {
		n, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
		comp := workloadComponent(u)
		switch {
		case found && n != 0 && (comp == app.Worker || comp == app.API || comp == app.Frontend):
			t.Errorf("standby %s/%s has %d replicas", u.GetKind(), u.GetName(), n)
		case comp == app.API && renderedImage([]*unstructured.Unstructured{u}, app.API) != imgV1:
			t.Errorf("standby api image %s, want the primary's %s", renderedImage([]*unstructured.Unstructured{u}, app.API), imgV1)
		case u.GetKind() == "ConfigMap" && u.GetName() == "dev-"+app.ConfigMapName:
			if tw, _, _ := unstructured.NestedString(u.Object, "data", app.KeyTotalWorkers); tw != "1" {
				t.Errorf("standby TOTAL_WORKERS %q, want the primary's 1", tw)
			}
		}
	}
	if cloneEnv(ft.applied["ctx-eu"]) != nil && len(cloneEnv(ft.applied["ctx-eu"])) != 0 {
		t.Error("the primary's postgres has a clone-primary initContainer")
	}

	// A redeploy keeps the password and the certificate.
	ft.top = clitest.New("")
	if err := ft.run("--fleet", fleetFile(t, ""), "--env-file", env); err != nil {
		t.Fatal(err)
	}
	if again := replicationSecretOf(t, ft.regions["ctx-us"]); !equalData(again, primary) {
		t.Error("a redeploy changed the replication Secret")
	}
	if stdout, _ := ft.top.Output(); !strings.Contains(stdout, "secret/piyasa-replication unchanged") {
		t.Errorf("redeploy stdout:\n%s", stdout)
	}
}

func equalData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestDeployFleetPrimaryNotReachable: a standby whose primary has no address
// yet is not deployed; the error names it and says what to do. A failing
// primary stops the run before any standby.
func TestDeployFleetPrimaryNotReachable(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	ft := newFleetT(lbService(""))
	err := ft.run("--fleet", fleetFile(t, ""), "--env-file", env)
	e := cli_error(err)
	if e == nil || e.Code != cli.ExitFailed ||
		!strings.HasPrefix(e.Msg, "region us (standby, context ctx-us): cannot follow the primary region eu: the primary's Service dev-db-replication has no load-balancer address yet") ||
		!strings.Contains(e.Hint, "settings.primaryHost") {
		t.Fatalf("err = %#v", e)
	}
	if n := len(ft.applied["ctx-us"]); n != 0 {
		t.Errorf("%d objects applied in the standby", n)
	}
	// The primary's psql fails: nothing in the standby either.
	ft = newFleetT(lbService("203.0.113.7"))
	ft.execErr = errors.New("command terminated with exit code 2")
	err = ft.run("--fleet", fleetFile(t, ""), "--env-file", env)
	if e := cli_error(err); e == nil || !strings.HasPrefix(e.Msg, "region eu (primary, context ctx-eu): cannot create the replication role piyasa_replicator in pod dev-postgres-0: psql: error: boom") ||
		!strings.Contains(e.Hint, "not deployed: us") {
		t.Fatalf("err = %#v", e)
	}
	if _, err := ft.regions["ctx-us"].Fake.CoreV1().Secrets(devNS).Get(context.Background(), app.ReplicationSecret, metav1.GetOptions{}); err == nil {
		t.Error("the standby got its Secret though the primary failed")
	}
}

// TestDeployFleetAddressSettings: settings.primaryHost is used as given; a
// NodePort Service's node port is the default port then.
func TestDeployFleetAddressSettings(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	svc := lbService("")
	svc.Spec.Type = corev1.ServiceTypeNodePort
	ft := newFleetT(svc)
	if err := ft.run("--fleet", fleetFile(t, "  replicationService: NodePort\n  primaryHost: pg.eu.example.com\n"), "--env-file", env); err != nil {
		t.Fatal(err)
	}
	if got := cloneEnv(ft.applied["ctx-us"]); got[app.EnvPrimaryHost] != "pg.eu.example.com" || got[app.EnvPrimaryPort] != "31432" {
		t.Errorf("clone-primary env %v", got)
	}
}

// TestDeployFleetDryRun: --dry-run=client shows the plan of every region in
// order and sends no request.
func TestDeployFleetDryRun(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	ft := newFleetT(nil)
	if err := ft.run("--fleet", fleetFile(t, "  primaryHost: 10.0.0.5\n  primaryPort: 6432\n"), "--env-file", env, "--dry-run=client"); err != nil {
		t.Fatal(err)
	}
	stdout, _ := ft.top.Output()
	for _, want := range []string{
		"=== context ctx-eu (region eu, primary, namespace " + devNS + ")\nsecret/piyasa-replication (REPLICATION_PASSWORD, tls.crt, tls.key, made once and the same in every region, values not shown) (dry run)",
		"service/dev-db-replication (type LoadBalancer): the standbys reach it at 10.0.0.5:6432 (dry run)",
		"deployment/dev-postgres: clone-primary clones the primary region eu at 10.0.0.5:6432 when its data directory is empty; workers, api and frontend at 0 (dry run)",
		"networkpolicy/dev-postgres-replication (dry run)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Index(stdout, "region eu") > strings.Index(stdout, "region us") {
		t.Errorf("the standby comes first:\n%s", stdout)
	}
	for ctx, tt := range ft.regions {
		if n := len(tt.Fake.Actions()) + len(tt.FakeDynamic.Actions()); n != 0 {
			t.Errorf("%s: a client dry run sent %d requests", ctx, n)
		}
	}
}

// TestDeployFleetRefuses: what --fleet cannot be combined with, and a fleet
// whose standby api is readOnly (the app has no read-only switch), exit 2
// before any request.
func TestDeployFleetRefuses(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	f := fleetFile(t, "")
	readOnly := filepath.Join(t.TempDir(), "f.yaml")
	b, _ := os.ReadFile(f)
	if err := os.WriteFile(readOnly, bytes.Replace(b, []byte("standbyApi: zero"), []byte("standbyApi: readOnly"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--fleet", f, "--context", "x"}, "--context cannot be used with --fleet"},
		{[]string{"--fleet", f, "-n", "x"}, "--namespace cannot be used with --fleet"},
		{[]string{"--fleet", f, "--env", "prod"}, "--env cannot be used with --fleet"},
		{[]string{"--fleet", f, "--manifests", "."}, "--manifests cannot be used with --fleet"},
		{[]string{"--fleet", f, "--wait=false"}, "--wait=false cannot be used with --fleet"},
		{[]string{"--fleet", readOnly}, "settings.standbyApi is readOnly, but the app has no read-only switch"},
		{[]string{"--fleet", filepath.Join(t.TempDir(), "none.yaml")}, "--fleet: open"},
		{[]string{"--fleet", fleetFile(t, "  primaryPort: 0\n")}, "piyasa-fleet.yaml:5: settings.primaryPort must be a port (1-65535), not 0"},
	} {
		ft := newFleetT(nil)
		err := ft.run(append(c.args, "--env-file", env)...)
		if e := cli_error(err); e == nil || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, c.want) {
			t.Errorf("%q: %v, want exit 2 with %q", c.args, err, c.want)
		}
		for ctx, tt := range ft.regions {
			if n := len(tt.Fake.Actions()) + len(tt.FakeDynamic.Actions()); n != 0 {
				t.Errorf("%q: %s got %d requests", c.args, ctx, n)
			}
		}
	}
}

// TestScramVerifier: PostgreSQL's format, a fresh salt each time, and the
// password nowhere in it.
func TestScramVerifier(t *testing.T) {
	a, err := scramVerifier([]byte("pencil"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := scramVerifier([]byte("pencil"))
	parts := strings.FieldsFunc(a, func(r rune) bool { return r == '$' || r == ':' })
	if len(parts) != 5 || parts[0] != "SCRAM-SHA-256" || parts[1] != "4096" || a == b || strings.Contains(a, "pencil") {
		t.Errorf("verifier %q (again %q)", a, b)
	}
}
