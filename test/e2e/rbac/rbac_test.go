package rbac_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/diagnose"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

var dev = app.Environments["dev"]

// world is the namespace every subtest shares: the dev overlay deployed by
// the deployer ServiceAccount, PostgreSQL and Alembic behind its pods, and a
// ServiceAccount per Role.
type world struct {
	ns       string
	envFile  string
	pg       *harness.MigratePG
	backups  string
	password string
	// backup is the file the operator's backup create wrote.
	backup string
}

func user(ns, sa string) string { return "system:serviceaccount:" + ns + ":" + sa }

// as runs `kubectl piyasa args... -n NS --as system:serviceaccount:NS:sa`.
func (w *world) as(t *testing.T, sa string, args ...string) *harness.Cmd {
	return harness.Piyasa(t, append(args, "-n", w.ns, "--as", user(w.ns, sa))...).WithTimeout(3 * time.Minute)
}

// grant makes ServiceAccount sa and binds it to the Roles of `deploy render
// --rbac` with args (--role R, --cluster-reader), applied as a user would:
// render piped into kubectl apply.
func grant(t *testing.T, ns, sa string, args ...string) {
	t.Helper()
	harness.Kubectl(t, "create", "serviceaccount", sa, "-n", ns).RunOK()
	y := harness.Piyasa(t, append([]string{"deploy", "render", "--rbac", "-n", ns, "--bind-service-account", sa}, args...)...).RunOK().Stdout
	harness.Kubectl(t, "apply", "-f", "-").WithStdin(strings.NewReader(y)).RunOK()
	for _, a := range args {
		if a == "--cluster-reader" {
			t.Cleanup(func() {
				harness.Kubectl(t, "delete", "clusterrolebinding", "piyasa-cluster-reader-sa-"+ns+"-"+sa, "--ignore-not-found").Run()
			})
		}
	}
}

// review asks the authorizer (as the admin, for sa) whether sa holds r.
func review(t *testing.T, ns, sa string, r rbac.Right) bool {
	t.Helper()
	attrs := &authorizationv1.ResourceAttributes{Verb: r.Verb, Group: r.Group, Resource: r.Resource, Subresource: r.Subresource, Name: r.Name}
	if !r.Cluster {
		attrs.Namespace = ns
	}
	res, err := harness.Client(t).AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: user(ns, sa), Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: attrs}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status.Allowed
}

// settle waits until the authorizer's cache shows sa holding allowed and not
// denied: RBAC changes reach the authorizer through a watch.
func settle(t *testing.T, ns, sa string, allowed, denied []rbac.Right) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, r := range allowed {
			ok = ok && review(t, ns, sa, r)
		}
		for _, r := range denied {
			ok = ok && !review(t, ns, sa, r)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rights of %s never settled (allowed %v, denied %v)", sa, allowed, denied)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var listPods = rbac.Right{Verb: "list", Resource: "pods"}

// setup deploys the app as the deployer ServiceAccount into a namespace whose
// Roles and bindings come from `deploy render --rbac`.
func setup(t *testing.T) *world {
	t.Helper()
	w := &world{ns: harness.Namespace(t, "rbac"), backups: filepath.Join(t.TempDir(), "backups")}
	for _, r := range rbac.RoleNames {
		grant(t, w.ns, r, "--role", r)
	}
	grant(t, w.ns, "oncall", "--role", rbac.Viewer, "--cluster-reader")
	for _, sa := range []string{rbac.Viewer, rbac.Operator, rbac.Deployer} {
		settle(t, w.ns, sa, []rbac.Right{listPods}, nil)
	}
	settle(t, w.ns, "oncall", []rbac.Right{listPods, {Verb: "list", Resource: "nodes", Cluster: true}}, nil)

	w.envFile = filepath.Join(t.TempDir(), "dev.env")
	harness.Piyasa(t, "deploy", "init-env", "-f", w.envFile).RunOK()
	w.password = harness.EnvValue(t, w.envFile, app.KeyDatabasePassword)
	w.pg = harness.MigratePGStart(t, w.password)
	w.pg.Superuser(t, "ALTER USER piyasa_user CREATEDB") // backup verify --restore-test makes a scratch database
	w.as(t, rbac.Deployer, "deploy", "--env", "dev", "--env-file", w.envFile).RunOK()
	// the database behind the pods: a deployer's config set (restarts api and worker, waits)
	w.as(t, rbac.Deployer, "deploy", "config", "set", "DATABASE_HOST=127.0.0.1", fmt.Sprintf("DATABASE_PORT=%d", w.pg.Port), "DATABASE_URL="+w.pg.URL()).RunOK()
	c, _ := app.LookupComponent(app.API)
	proj, err := filepath.Abs(filepath.Join("..", "migrate", "testdata", "alembic"))
	if err != nil {
		t.Fatal(err)
	}
	harness.MigrateKubelet(t, harness.MigrateKubeletOptions{Namespace: w.ns, WorkDir: proj, ExecDeployment: dev.WorkloadName(c),
		ExtraEnv: []string{fmt.Sprintf("PGPORT=%d", w.pg.Port), "PGHOST=127.0.0.1", "PGPASSWORD=" + w.password}})
	return w
}

// step is one command run as one Role.
type step struct {
	sa   string
	args []string
	// codes the run may exit with (default 0).
	codes []int
	check func(t *testing.T, r harness.Result)
}

func (s step) name() string { return s.sa + ": " + shortArgs(s.args) }

// shortArgs is args with each path cut to its base name (for subtest names).
func shortArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, "/") {
			a = filepath.Base(a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// TestEveryCommandAsItsRole: each command works for a ServiceAccount bound to
// exactly its Role; with one verb removed from that Role it exits 3 naming
// the verb, the resource and the namespace, and changes nothing.
func TestEveryCommandAsItsRole(t *testing.T) {
	w := setup(t)
	second := filepath.Join(t.TempDir(), "rotated.env")
	rotatedEnv(t, w.envFile, second)
	commands := map[string]bool{}

	steps := []step{
		// the viewer: read-only, no Secret
		{sa: rbac.Viewer, args: []string{"deploy", "status"}},
		{sa: rbac.Viewer, args: []string{"deploy", "history"}},
		{sa: rbac.Viewer, args: []string{"scale", "status"}},
		{sa: rbac.Viewer, args: []string{"diagnose", "-o", "json"}, codes: []int{0, 1}, check: func(t *testing.T, r harness.Result) {
			rep := report(t, r)
			for _, c := range rep.Checks {
				if c.Status != diagnose.StatusSkipped {
					continue
				}
				switch c.Reason {
				case "forbidden: list secrets", "forbidden: list nodes", "forbidden: list storageclasses",
					"forbidden: list ingressclasses", "forbidden: list apiservices":
				default:
					t.Errorf("%s skipped: %s", c.Code, c.Reason)
				}
			}
			for _, code := range []string{"PIY201", "PIY203", "PIY205"} {
				if c := check(rep, code); c.Status != diagnose.StatusSkipped || c.Reason != "forbidden: list secrets" {
					t.Errorf("viewer's %s: %+v, want skipped: forbidden: list secrets", code, c)
				}
			}
			harness.NoLeak(t, r.Stdout+r.Stderr, w.envFile)
		}},
		{sa: rbac.Viewer, args: []string{"diagnose"}, codes: []int{0, 1}, check: func(t *testing.T, r harness.Result) {
			if !strings.Contains(r.Stdout, "skipped: PIY201, PIY203, PIY205") || !strings.Contains(r.Stdout, "(forbidden: list secrets)") {
				t.Errorf("the table does not say the Secret checks were skipped and why:\n%s", r.Stdout)
			}
		}},
		{sa: rbac.Viewer, args: []string{"diagnose", "bundle", "-f", filepath.Join(t.TempDir(), "b.tar.gz")}},
		{sa: rbac.Viewer, args: []string{"migrate", "jobs"}},
		{sa: rbac.Viewer, args: []string{"backup", "schedule", "show"}},
		// the Role below is not enough: the viewer may not scale
		{sa: rbac.Viewer, args: []string{"scale", "api", "2", "--force"}, codes: []int{3}, check: func(t *testing.T, r harness.Result) {
			if !strings.Contains(r.Stderr, "missing RBAC rights for scale api in namespace "+w.ns+": patch deployments.apps, create events; nothing was changed") ||
				!strings.Contains(r.Stderr, "hint: Role piyasa-operator grants them") {
				t.Errorf("stderr:\n%s", r.Stderr)
			}
		}},
		// the viewer with the cluster-scoped reads: only the Secret checks are skipped
		{sa: "oncall", args: []string{"diagnose", "-o", "json"}, codes: []int{0, 1}, check: func(t *testing.T, r harness.Result) {
			for _, c := range report(t, r).Checks {
				if c.Status == diagnose.StatusSkipped && c.Reason != "forbidden: list secrets" {
					t.Errorf("with piyasa-cluster-reader, %s skipped: %s", c.Code, c.Reason)
				}
			}
		}},
		{sa: "oncall", args: []string{"scale", "status", "-o", "json"}},

		// the operator: scale, backup, migrate
		{sa: rbac.Operator, args: []string{"migrate", "status"}, codes: []int{1}, check: func(t *testing.T, r harness.Result) {
			if !strings.Contains(r.Stdout, "0001") {
				t.Errorf("migrate status shows no pending revision:\n%s\n%s", r.Stdout, r.Stderr)
			}
		}},
		{sa: rbac.Operator, args: []string{"migrate", "up"}},
		{sa: rbac.Operator, args: []string{"migrate", "status"}},
		{sa: rbac.Operator, args: []string{"migrate", "history"}},
		{sa: rbac.Operator, args: []string{"migrate", "unlock", "--yes"}, codes: []int{0, 1}},
		{sa: rbac.Operator, args: []string{"backup", "create", "--dir", w.backups}, check: func(t *testing.T, r harness.Result) {
			w.backup = newest(t, w.backups)
		}},
		{sa: rbac.Operator, args: []string{"backup", "list", "--dir", w.backups}},
		{sa: rbac.Operator, args: []string{"scale", "worker", "3"}},
		{sa: rbac.Operator, args: []string{"scale", "hpa", "api", "--max", "6"}},
		{sa: rbac.Operator, args: []string{"scale", "api", "2", "--force"}},
		{sa: rbac.Operator, args: []string{"scale", "status"}},
		{sa: rbac.Operator, args: []string{"backup", "schedule", "suspend"}},
		{sa: rbac.Operator, args: []string{"backup", "schedule", "resume"}},
		{sa: rbac.Operator, args: []string{"deploy", "status"}},

		// the deployer: deploy, update, rollback, config, secret rotate
		{sa: rbac.Deployer, args: []string{"deploy", "diff", "--env-file", w.envFile}, codes: []int{0, 1}},
		{sa: rbac.Deployer, args: []string{"deploy", "config", "set", "LOG_LEVEL=WARNING"}},
		{sa: rbac.Deployer, args: []string{"deploy", "secret", "rotate", "--env-file", second}},
		{sa: rbac.Deployer, args: []string{"deploy", "update", "--image", "v1.0.1"}},
		{sa: rbac.Deployer, args: []string{"deploy", "history"}},
		{sa: rbac.Deployer, args: []string{"deploy", "rollback"}},
		{sa: rbac.Deployer, args: []string{"deploy", "update", "--image", "v1.0.2", "--migrate", "--backup-first", "--backup-dir", w.backups}},
		{sa: rbac.Deployer, args: []string{"deploy", "--env", "dev", "--env-file", second}},
		{sa: rbac.Deployer, args: []string{"diagnose", "-o", "json"}, codes: []int{0, 1}, check: func(t *testing.T, r harness.Result) {
			if c := check(report(t, r), "PIY201"); c.Status == diagnose.StatusSkipped {
				t.Errorf("the deployer's PIY201 is skipped: %s", c.Reason)
			}
		}},
		{sa: rbac.Deployer, args: []string{"deploy", "status"}},
	}
	for _, s := range steps {
		if !t.Run(s.name(), func(t *testing.T) {
			r := w.as(t, s.sa, s.args...).Run()
			codes := s.codes
			if codes == nil {
				codes = []int{0}
			}
			if !contains(codes, r.Code) {
				t.Fatalf("exit %d, want %v\nstdout:\n%s\nstderr:\n%s", r.Code, codes, r.Stdout, r.Stderr)
			}
			if s.check != nil {
				s.check(t, r)
			}
			commands[command(s.args)] = true
		}) {
			t.FailNow()
		}
	}
	// a verify with a restore test: the operator's exec into postgres
	t.Run("operator: backup verify --restore-test", func(t *testing.T) {
		w.as(t, rbac.Operator, "backup", "verify", w.backup, "--restore-test").RunOK()
		commands["backup verify"] = true
	})
	// restores: into a new database, and over the live one (the app is stopped and started)
	t.Run("operator: backup restore --to-database", func(t *testing.T) {
		w.as(t, rbac.Operator, "backup", "restore", w.backup, "--to-database", "piyasa_copy").RunOK()
	})
	t.Run("operator: backup restore", func(t *testing.T) {
		w.as(t, rbac.Operator, "backup", "restore", w.backup, "--yes").RunOK()
		commands["backup restore"] = true
		w.as(t, rbac.Viewer, "deploy", "status").RunOK()
	})

	verbs := verbsRemoved(t, w)
	t.Run("viewer without list pods: diagnose skips what needs pods", func(t *testing.T) {
		diagnoseWithoutPods(t, w)
	})
	t.Logf("RBAC: %d Roles (and ClusterRole %s) applied from deploy render --rbac; %d commands run as a ServiceAccount bound to exactly their Role; "+
		"%d verbs removed one at a time: each exit 3 naming the verb, resource and namespace, nothing changed",
		len(rbac.RoleNames), rbac.ClusterReaderName, len(commands), verbs)
}

// removal is one verb taken out of a Role, and a command that needs it.
type removal struct {
	role  string
	right rbac.Right
	args  []string
}

// verbsRemoved runs each command with one verb removed from its Role (a new
// ServiceAccount bound to a copy of the Role without it) and returns how many.
func verbsRemoved(t *testing.T, w *world) int {
	R := func(verb, group, resource string) rbac.Right {
		name, sub, _ := strings.Cut(resource, "/")
		return rbac.Right{Verb: verb, Group: group, Resource: name, Subresource: sub}
	}
	cases := []removal{
		{rbac.Viewer, R("list", "apps", "statefulsets"), []string{"deploy", "status"}},
		{rbac.Viewer, R("list", "apps", "replicasets"), []string{"deploy", "history"}},
		{rbac.Viewer, R("list", "autoscaling", "horizontalpodautoscalers"), []string{"scale", "status"}},
		{rbac.Viewer, R("get", "batch", "cronjobs"), []string{"backup", "schedule", "show"}},
		{rbac.Operator, R("patch", "", "configmaps"), []string{"scale", "worker", "2"}},
		{rbac.Operator, R("patch", "apps", "statefulsets"), []string{"scale", "worker", "2"}},
		{rbac.Operator, R("create", "", "events"), []string{"scale", "api", "1", "--force"}},
		{rbac.Operator, R("watch", "", "pods"), []string{"scale", "api", "1", "--force"}},
		{rbac.Operator, R("update", "autoscaling", "horizontalpodautoscalers"), []string{"scale", "hpa", "api", "--max", "8"}},
		{rbac.Operator, R("create", "", "pods/exec"), []string{"backup", "create", "--dir", w.backups}},
		{rbac.Operator, R("create", "coordination.k8s.io", "leases"), []string{"migrate", "down", "--to", "0002", "--yes", "--no-backup"}},
		{rbac.Operator, R("create", "batch", "jobs"), []string{"migrate", "down", "--to", "0002", "--yes", "--no-backup"}},
		{rbac.Operator, R("patch", "batch", "cronjobs"), []string{"backup", "schedule", "suspend"}},
		{rbac.Operator, R("get", "apps", "deployments/scale"), []string{"backup", "restore", w.backup, "--yes"}},
		{rbac.Operator, R("create", "", "pods/exec"), []string{"migrate", "status"}},
		{rbac.Deployer, R("patch", "apps", "deployments"), []string{"deploy", "--env", "dev", "--env-file", w.envFile}},
		{rbac.Deployer, R("create", "networking.k8s.io", "networkpolicies"), []string{"deploy", "--env", "dev", "--env-file", w.envFile}},
		{rbac.Deployer, R("watch", "apps", "statefulsets"), []string{"deploy", "--env", "dev", "--env-file", w.envFile}},
		{rbac.Deployer, R("update", "", "secrets"), []string{"deploy", "secret", "rotate", "--env-file", w.envFile}},
		{rbac.Deployer, R("patch", "", "configmaps"), []string{"deploy", "config", "set", "LOG_LEVEL=INFO"}},
		{rbac.Deployer, R("get", "", "secrets"), []string{"deploy", "config", "set", "LOG_LEVEL=INFO"}},
		{rbac.Deployer, R("patch", "apps", "statefulsets"), []string{"deploy", "update", "--image", "v1.0.3"}},
		{rbac.Deployer, R("list", "apps", "replicasets"), []string{"deploy", "rollback"}},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%s without %s: %s", c.role, c.right, shortArgs(c.args)), func(t *testing.T) {
			sa := fmt.Sprintf("minus-%d", i)
			role, _ := rbac.Lookup(c.role)
			if !role.Allows(c.right) {
				t.Fatalf("%s does not grant %s", role.Name, c.right)
			}
			cut := rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-without-%d", role.Name, i)}, Rules: without(role.Rules, c.right)}
			b, _ := yaml.Marshal(cut)
			harness.ApplyYAML(t, w.ns, string(b))
			harness.Kubectl(t, "create", "serviceaccount", sa, "-n", w.ns).RunOK()
			harness.Kubectl(t, "create", "rolebinding", sa, "--role", cut.Name, "--serviceaccount", w.ns+":"+sa, "-n", w.ns).RunOK()
			settle(t, w.ns, sa, []rbac.Right{listPods}, []rbac.Right{c.right})

			before := state(t, w.ns)
			r := w.as(t, sa, c.args...).ExpectCode(3)
			line := strings.SplitN(r.Stderr, "\n", 2)[0]
			t.Logf("stderr: %s", line)
			if !strings.Contains(line, "namespace "+w.ns) || !strings.Contains(line, " "+c.right.String()) {
				t.Errorf("stderr does not name %q in namespace %s:\n%s", c.right, w.ns, r.Stderr)
			}
			if !strings.Contains(r.Stderr, "hint: Role "+role.Name+" grants them") {
				t.Errorf("the hint does not name Role %s:\n%s", role.Name, r.Stderr)
			}
			// The caller is a ServiceAccount: the hint binds it as one.
			if !strings.Contains(r.Stderr, "--bind-service-account "+sa+" -n "+w.ns) || strings.Contains(r.Stderr, "--bind-user") {
				t.Errorf("the hint does not bind ServiceAccount %s:\n%s", sa, r.Stderr)
			}
			after := state(t, w.ns)
			for _, k := range keys(before, after) {
				if before[k] != after[k] {
					t.Errorf("%s changed: %s -> %s", k, before[k], after[k])
				}
			}
		})
	}
	return len(cases)
}

// diagnoseWithoutPods: diagnose does not stop for a kind it may not list, it
// skips the checks that need it and says why; it changes nothing either.
func diagnoseWithoutPods(t *testing.T, w *world) {
	sa, right := "viewer-without-pods", rbac.Right{Verb: "list", Resource: "pods"}
	role, _ := rbac.Lookup(rbac.Viewer)
	cut := rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: without(role.Rules, right)}
	b, _ := yaml.Marshal(cut)
	harness.ApplyYAML(t, w.ns, string(b))
	harness.Kubectl(t, "create", "serviceaccount", sa, "-n", w.ns).RunOK()
	harness.Kubectl(t, "create", "rolebinding", sa, "--role", sa, "--serviceaccount", w.ns+":"+sa, "-n", w.ns).RunOK()
	settle(t, w.ns, sa, []rbac.Right{{Verb: "list", Group: "apps", Resource: "deployments"}}, []rbac.Right{right})
	before := state(t, w.ns)
	r := w.as(t, sa, "diagnose", "-o", "json").Run()
	if r.Code != 0 && r.Code != 1 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	skipped := 0
	for _, c := range report(t, r).Checks {
		if c.Reason == "forbidden: list pods" {
			skipped++
		}
	}
	if skipped == 0 {
		t.Errorf("no check skipped with forbidden: list pods:\n%s", r.Stdout)
	}
	after := state(t, w.ns)
	for _, k := range keys(before, after) {
		if before[k] != after[k] {
			t.Errorf("%s changed: %s -> %s", k, before[k], after[k])
		}
	}
}

// without returns rules with one verb of one resource taken out (a rule
// naming several resources is split).
func without(rules []rbacv1.PolicyRule, r rbac.Right) []rbacv1.PolicyRule {
	res := r.Resource
	if r.Subresource != "" {
		res += "/" + r.Subresource
	}
	var out []rbacv1.PolicyRule
	for _, rule := range rules {
		if !contains(rule.APIGroups, r.Group) || !contains(rule.Resources, res) || !contains(rule.Verbs, r.Verb) {
			out = append(out, rule)
			continue
		}
		if others := remove(rule.Resources, res); len(others) > 0 {
			o := rule
			o.Resources = others
			out = append(out, o)
		}
		if verbs := remove(rule.Verbs, r.Verb); len(verbs) > 0 {
			o := rule
			o.Resources, o.Verbs = []string{res}, verbs
			out = append(out, o)
		}
	}
	return out
}

// state is what a refused command must leave as it was: the specs of the
// workloads, HPAs and CronJobs, piyasa-config's data and annotations, the
// Secret's data (hashed), the Jobs, the Lease and the PiyasaScaled events.
func state(t *testing.T, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	cs := harness.Client(t)
	out := map[string]string{}
	put := func(key string, v any) {
		b, _ := json.Marshal(v)
		out[key] = fmt.Sprintf("%x", sha256.Sum256(b))[:16]
	}
	hs, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	autoscaled := map[string]bool{}
	for _, h := range hs.Items {
		put("hpa/"+h.Name, h.Spec)
		autoscaled[h.Spec.ScaleTargetRef.Kind+"/"+h.Spec.ScaleTargetRef.Name] = true
	}
	ds, _ := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	for _, d := range ds.Items {
		if autoscaled["Deployment/"+d.Name] {
			d.Spec.Replicas = nil // the HPA's to change
		}
		put("deployment/"+d.Name, []any{d.Spec, d.Annotations})
	}
	ss, _ := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	for _, s := range ss.Items {
		put("statefulset/"+s.Name, []any{s.Spec, s.Annotations})
	}
	cjs, _ := cs.BatchV1().CronJobs(ns).List(ctx, metav1.ListOptions{})
	for _, c := range cjs.Items {
		put("cronjob/"+c.Name, c.Spec)
	}
	cms, _ := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	for _, c := range cms.Items {
		put("configmap/"+c.Name, []any{c.Data, c.Annotations})
	}
	secs, _ := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	for _, s := range secs.Items {
		put("secret/"+s.Name, s.Data)
	}
	jobs, _ := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	var names []string
	for _, j := range jobs.Items {
		names = append(names, j.Name)
	}
	sort.Strings(names)
	out["jobs"] = strings.Join(names, ",")
	leases, _ := cs.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
	for _, l := range leases.Items {
		put("lease/"+l.Name, l.Spec.HolderIdentity)
	}
	evs, _ := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=PiyasaScaled"})
	out["PiyasaScaled events"] = fmt.Sprint(len(evs.Items))
	pods, _ := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	browse := 0
	for _, p := range pods.Items {
		if strings.Contains(p.Name, "backup-browse") {
			browse++
		}
	}
	out["browse pods"] = fmt.Sprint(browse)
	return out
}

type reportDoc struct {
	Checks []diagnose.CheckResult `json:"checks"`
}

func report(t *testing.T, r harness.Result) reportDoc {
	t.Helper()
	var rep reportDoc
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("diagnose -o json: %v\n%s", err, r.Stdout)
	}
	return rep
}

func check(rep reportDoc, code string) diagnose.CheckResult {
	for _, c := range rep.Checks {
		if c.Code == code {
			return c
		}
	}
	return diagnose.CheckResult{}
}

// rotatedEnv writes a copy of the .env at from with a new API_KEY (the
// database password stays: the real PostgreSQL keeps its own).
func rotatedEnv(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	old := harness.EnvValue(t, from, app.KeyAPIKey)
	fresh := filepath.Join(t.TempDir(), "fresh.env")
	harness.Piyasa(t, "deploy", "init-env", "-f", fresh).RunOK()
	s := strings.Replace(string(b), old, harness.EnvValue(t, fresh, app.KeyAPIKey), 1)
	if err := os.WriteFile(to, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newest returns the newest backup file in dir (not its .json or .sha256).
func newest(t *testing.T, dir string) string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	for _, de := range des {
		if n := de.Name(); !strings.HasPrefix(n, ".") && !strings.HasSuffix(n, ".json") && !strings.HasSuffix(n, ".sha256") {
			out = filepath.Join(dir, n)
		}
	}
	if out == "" {
		t.Fatalf("no backup in %s", dir)
	}
	return out
}

// command is the command of args without its flags and values ("deploy config set").
func command(args []string) string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || strings.ContainsAny(a, "=/.") || (a != "" && a[0] >= '0' && a[0] <= '9') {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

func contains[T comparable](list []T, x T) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

func remove(list []string, x string) []string {
	var out []string
	for _, v := range list {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

func keys(ms ...map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
