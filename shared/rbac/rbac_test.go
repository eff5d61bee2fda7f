package rbac

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

func TestAllows(t *testing.T) {
	rule := func(groups, res, verbs []string, names ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: groups, Resources: res, Verbs: verbs, ResourceNames: names}
	}
	exec := Right{Verb: "create", Resource: "pods", Subresource: "exec"}
	for _, c := range []struct {
		name string
		rule rbacv1.PolicyRule
		r    Right
		want bool
	}{
		{"exact", rule([]string{"apps"}, []string{"deployments"}, []string{"patch"}), Right{Verb: "patch", Group: "apps", Resource: "deployments"}, true},
		{"other verb", rule([]string{"apps"}, []string{"deployments"}, []string{"get"}), Right{Verb: "patch", Group: "apps", Resource: "deployments"}, false},
		{"other group", rule([]string{""}, []string{"deployments"}, []string{"patch"}), Right{Verb: "patch", Group: "apps", Resource: "deployments"}, false},
		{"verb *", rule([]string{"apps"}, []string{"deployments"}, []string{"*"}), Right{Verb: "delete", Group: "apps", Resource: "deployments"}, true},
		{"group and resource *", rule([]string{"*"}, []string{"*"}, []string{"get"}), Right{Verb: "get", Group: "batch", Resource: "jobs"}, true},
		{"resource is not its subresource", rule([]string{""}, []string{"pods"}, []string{"create"}), exec, false},
		{"subresource", rule([]string{""}, []string{"pods/exec"}, []string{"create"}), exec, true},
		{"*/subresource", rule([]string{""}, []string{"*/exec"}, []string{"create"}), exec, true},
		{"names: the named object", rule([]string{""}, []string{"namespaces"}, []string{"get"}, "ns1"), Right{Verb: "get", Resource: "namespaces", Name: "ns1"}, true},
		{"names: another object", rule([]string{""}, []string{"namespaces"}, []string{"get"}, "ns1"), Right{Verb: "get", Resource: "namespaces", Name: "ns2"}, false},
		{"names: any object", rule([]string{""}, []string{"namespaces"}, []string{"list"}, "ns1"), Right{Verb: "list", Resource: "namespaces"}, false},
	} {
		if got := Allows(c.rule, c.r); got != c.want {
			t.Errorf("%s: Allows(%v, %s) = %v", c.name, c.rule, c.r, got)
		}
	}
}

func TestRightStrings(t *testing.T) {
	for _, c := range []struct {
		r         Right
		str, canI string
	}{
		{Right{Verb: "patch", Group: "apps", Resource: "deployments"}, "patch deployments.apps", "kubectl auth can-i patch deployments.apps -n ns1"},
		{Right{Verb: "create", Resource: "pods", Subresource: "exec"}, "create pods/exec", "kubectl auth can-i create pods --subresource exec -n ns1"},
		{Right{Verb: "list", Resource: "nodes", Cluster: true}, "list nodes", "kubectl auth can-i list nodes"},
		{Right{Verb: "patch", Resource: "namespaces", Name: "ns1"}, "patch namespaces ns1", "kubectl auth can-i patch namespaces/ns1 -n ns1"},
	} {
		if c.r.String() != c.str || c.r.CanI("ns1") != c.canI {
			t.Errorf("%#v: %q, %q", c.r, c.r.String(), c.r.CanI("ns1"))
		}
	}
}

// expand lists every right a role's rules name (one per verb, group and
// resource; "*" is not used by the suite's Roles).
func expand(t *testing.T, role Role) []Right {
	t.Helper()
	var out []Right
	for _, rule := range role.Rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, v := range rule.Verbs {
					if g == "*" || res == "*" || v == "*" {
						t.Fatalf("%s: a wildcard in %v", role.Name, rule)
					}
					name, sub, _ := strings.Cut(res, "/")
					if len(rule.ResourceNames) == 0 {
						out = append(out, Right{Verb: v, Group: g, Resource: name, Subresource: sub})
					}
					for _, n := range rule.ResourceNames {
						out = append(out, Right{Verb: v, Group: g, Resource: name, Subresource: sub, Name: n})
					}
				}
			}
		}
	}
	return out
}

func suiteRoles(t *testing.T) []Role {
	t.Helper()
	rs, err := Roles()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].Name != "piyasa-viewer" || rs[1].Name != "piyasa-operator" || rs[2].Name != "piyasa-deployer" {
		t.Fatalf("roles: %+v", rs)
	}
	return rs
}

// Each Role grants every right of the one before (an operator runs every
// status command, a deployer every operator command: update --migrate runs a
// backup and a migration).
func TestRolesNest(t *testing.T) {
	rs := suiteRoles(t)
	for i := 1; i < len(rs); i++ {
		for _, r := range expand(t, rs[i-1]) {
			if !rs[i].Allows(r) {
				t.Errorf("%s lacks %s of %s", rs[i].Name, r, rs[i-1].Name)
			}
		}
	}
}

// No Role but the deployer's reads a Secret, and none may delete the
// namespace, escalate or bind roles it does not hold.
func TestRolesKeepSecrets(t *testing.T) {
	rs := suiteRoles(t)
	for _, role := range rs {
		for _, r := range expand(t, role) {
			if r.Resource == "secrets" && role.Short != Deployer {
				t.Errorf("%s grants %s", role.Name, r)
			}
			if (r.Resource == "namespaces" && r.Verb == "delete") || r.Verb == "escalate" || r.Verb == "bind" || r.Verb == "impersonate" {
				t.Errorf("%s grants %s", role.Name, r)
			}
		}
	}
	cr, err := ClusterReader()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range expand(t, cr) {
		if r.Verb != "get" && r.Verb != "list" || r.Resource == "secrets" {
			t.Errorf("%s grants %s", cr.Name, r)
		}
	}
}

func roleIndex(short string) int {
	for i, n := range RoleNames {
		if n == short {
			return i
		}
	}
	return -1
}

// Every command's rights are granted by its Role, and not by the Role below
// (each command sits in the least Role that lets it work); its cluster-scoped
// reads by piyasa-cluster-reader.
func TestCommandsGrantedByTheirRole(t *testing.T) {
	cr, err := ClusterReader()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range Commands {
		if seen[c.Path] {
			t.Errorf("%s is listed twice", c.Path)
		}
		seen[c.Path] = true
		role, ok := Lookup(c.Role)
		if !ok {
			t.Errorf("%s: unknown role %q", c.Path, c.Role)
			continue
		}
		for _, r := range c.Rights {
			if r.Cluster {
				t.Errorf("%s: required cluster-scoped right %s: make it optional (Cluster)", c.Path, r)
			} else if !role.Allows(r) {
				t.Errorf("%s: %s does not grant %s", c.Path, role.Name, r)
			}
		}
		for _, r := range c.Cluster {
			if !r.Cluster || !cr.Allows(r) {
				t.Errorf("%s: %s does not grant %s", c.Path, cr.Name, r)
			}
		}
		deployer, _ := Lookup(Deployer)
		for _, r := range c.Optional {
			if !deployer.Allows(r) {
				t.Errorf("%s: no Role grants the optional %s", c.Path, r)
			}
		}
		need := c.Rights
		if len(need) == 0 {
			need = withoutSecrets(c.Optional) // a viewer's diagnose skips the Secret checks
		}
		g, ok := Grantor(need)
		switch {
		case !ok:
			t.Errorf("%s: no Role grants all its rights", c.Path)
		case g.Short != c.Role && lowerGrantor[c.Path] != g.Short:
			t.Errorf("%s: the least Role granting its rights is %q, the table says %q", c.Path, g.Short, c.Role)
		}
	}
}

// lowerGrantor are the commands a lower Role than their own could run: RBAC
// cannot limit a patch to fields, and the operator's patch of Deployments and
// StatefulSets (replicas, the restart annotation of scale worker, the replica
// annotations of backup restore) is also what an image change patches. The
// README says so; this list makes any other such case a test failure.
var lowerGrantor = map[string]string{
	"deploy update":   Operator,
	"deploy rollback": Operator,
}

func withoutSecrets(rs []Right) []Right {
	var out []Right
	for _, r := range rs {
		if r.Resource != "secrets" {
			out = append(out, r)
		}
	}
	return out
}

func isRead(verb string) bool { return verb == "get" || verb == "list" || verb == "watch" }

// The Roles hold nothing no command uses: every write right a Role adds to the
// one below is a right of one of its commands; every resource it reads is
// read by one of its commands or those below (reads are granted as get, list
// and watch together, as Kubernetes' view does).
func TestRolesMinimal(t *testing.T) {
	rs := suiteRoles(t)
	for i, role := range rs {
		writes := map[Right]bool{}
		reads := map[string]bool{}
		for _, c := range Commands {
			if roleIndex(c.Role) > i {
				continue
			}
			for _, r := range Join(c.Rights, c.Optional) {
				r.Name = ""
				if isRead(r.Verb) {
					reads[r.ResourceName()] = true
				}
				if roleIndex(c.Role) == i {
					writes[r] = true
				}
			}
		}
		for _, r := range expand(t, role) {
			if i > 0 && rs[i-1].Allows(r) {
				continue
			}
			if isRead(r.Verb) {
				if !reads[r.ResourceName()] {
					t.Errorf("%s grants %s, which no command of it reads", role.Name, r)
				}
			} else if !writes[r] {
				t.Errorf("%s grants %s, which no command of it needs", role.Name, r)
			}
		}
	}
	cr, _ := ClusterReader()
	for _, r := range expand(t, cr) {
		used := r.Resource == "namespaces" // shell completion of -n lists them
		for _, c := range Commands {
			for _, x := range c.Cluster {
				used = used || x.ResourceName() == r.ResourceName()
			}
		}
		if !used {
			t.Errorf("%s grants %s, which no command reads", cr.Name, r)
		}
	}
}

// fakeAuthz answers reviews: SelfSubjectRulesReview with rules, each
// SelfSubjectAccessReview by allowed (keyed by Right.String() plus " -n NS"
// when namespaced), and counts the access reviews.
type fakeAuthz struct {
	*fake.Clientset
	rules    []authorizationv1.ResourceRule
	allowed  map[string]bool
	rulesErr error
	reviews  []string
}

func newFakeAuthz(rules []authorizationv1.ResourceRule, allowed ...string) *fakeAuthz {
	f := &fakeAuthz{Clientset: fake.NewClientset(), rules: rules, allowed: map[string]bool{}}
	for _, a := range allowed {
		f.allowed[a] = true
	}
	f.PrependReactor("create", "selfsubjectrulesreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if f.rulesErr != nil {
			return true, nil, f.rulesErr
		}
		return true, &authorizationv1.SelfSubjectRulesReview{Status: authorizationv1.SubjectRulesReviewStatus{ResourceRules: f.rules}}, nil
	})
	f.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		at := r.Spec.ResourceAttributes
		key := Right{Verb: at.Verb, Group: at.Group, Resource: at.Resource, Subresource: at.Subresource, Name: at.Name}.String()
		if at.Namespace != "" {
			key += " -n " + at.Namespace
		}
		f.reviews = append(f.reviews, key)
		r.Status.Allowed = f.allowed[key]
		return true, r, nil
	})
	return f
}

func TestCheckAllGrantedByRulesSendsOneReview(t *testing.T) {
	f := newFakeAuthz([]authorizationv1.ResourceRule{
		{Verbs: []string{"get", "patch"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}},
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"namespaces"}},
	})
	n := Needs{Command: "deploy update", Role: Deployer, Namespace: "ns1",
		Rights: Join(R("apps", []string{"deployments"}, "get", "patch"), ownNamespace)}
	if err := Check(context.Background(), f.AuthorizationV1(), n); err != nil {
		t.Fatal(err)
	}
	if len(f.reviews) != 0 {
		t.Errorf("access reviews sent for rights the rules grant: %v", f.reviews)
	}
}

func TestCheckNamesEveryMissingRight(t *testing.T) {
	f := newFakeAuthz([]authorizationv1.ResourceRule{
		{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}},
	}, "list nodes", "create pods/exec -n ns1") // the authorizer grants what the rules did not show
	n := Needs{Command: "scale api|frontend N", Role: Operator, Namespace: "ns1",
		Rights: Join(R("apps", []string{"deployments"}, "get", "patch"), R("", []string{"pods/exec"}, "create"),
			R("", []string{"events"}, "create"), Cluster("", []string{"nodes"}, "list"), Cluster("storage.k8s.io", []string{"storageclasses"}, "list"))}
	err := Check(context.Background(), f.AuthorizationV1(), n)
	var e *exit.Error
	if !errors.As(err, &e) || e.Code != exit.ExitCluster {
		t.Fatalf("err = %v, want an exit-3 error", err)
	}
	want := "missing RBAC rights for scale api|frontend N in namespace ns1: patch deployments.apps, create events; cluster-wide: list storageclasses.storage.k8s.io; nothing was changed"
	if e.Msg != want {
		t.Errorf("message\n got %q\nwant %q", e.Msg, want)
	}
	if !strings.Contains(e.Hint, "Role piyasa-operator grants them") || !strings.Contains(e.Hint, "--role operator") ||
		!strings.Contains(e.Hint, "check: kubectl auth can-i patch deployments.apps -n ns1") {
		t.Errorf("hint: %s", e.Hint)
	}
	// the rules' reads are not asked again; every other right is
	if len(f.reviews) != 5 {
		t.Errorf("reviews: %v", f.reviews)
	}
}

func TestCheckWithoutRulesAsksEachRight(t *testing.T) {
	f := newFakeAuthz(nil, "get namespaces ns1 -n ns1")
	f.rulesErr = apierrors.NewForbidden(schema.GroupResource{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"}, "", nil)
	n := Needs{Command: "deploy status", Role: Viewer, Namespace: "ns1", Rights: Join(ownNamespace, R("apps", []string{"statefulsets"}, "list"))}
	err := Check(context.Background(), f.AuthorizationV1(), n)
	if err == nil || !strings.Contains(err.Error(), "in namespace ns1: list statefulsets.apps;") || strings.Contains(err.Error(), "namespaces") {
		t.Fatalf("err = %v", err)
	}
}

func TestCheckUnreachableIsTheError(t *testing.T) {
	f := newFakeAuthz(nil)
	f.rulesErr = errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	err := Check(context.Background(), f.AuthorizationV1(), Needs{Namespace: "ns1", Rights: R("", []string{"pods"}, "list")})
	if err != f.rulesErr {
		t.Fatalf("err = %v", err)
	}
}

func TestMissingErrorCutsLongLists(t *testing.T) {
	var rs []Right
	for _, res := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		rs = append(rs, Right{Verb: "patch", Resource: res})
	}
	e := MissingError(Needs{Command: "deploy", Role: Deployer, Namespace: "n"}, rs)
	if !strings.HasSuffix(e.Msg, "patch h and 2 more; nothing was changed") || strings.Count(e.Msg, "\n") != 0 {
		t.Errorf("%q", e.Msg)
	}
}

func TestRender(t *testing.T) {
	var buf bytes.Buffer
	err := Render(&buf, RenderInput{Namespace: "team-a", Roles: []string{Operator},
		Subjects:      []Subject{{Kind: "User", Name: "alice@example.com"}, {Kind: "ServiceAccount", Name: "ci", Namespace: "tools"}},
		ClusterReader: true})
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(buf.String(), "---\n")
	var kinds []string
	for _, d := range docs {
		var m struct {
			Kind     string
			Metadata struct{ Name, Namespace string }
			RoleRef  rbacv1.RoleRef   `json:"roleRef"`
			Subjects []rbacv1.Subject `json:"subjects"`
		}
		if err := yaml.UnmarshalStrict([]byte(d), &m); err != nil && !strings.Contains(err.Error(), "unknown field") {
			t.Fatalf("%v\n%s", err, d)
		}
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, m.Kind+"/"+m.Metadata.Name+"@"+m.Metadata.Namespace)
		if strings.HasSuffix(m.Kind, "Binding") && (len(m.Subjects) != 1 || m.RoleRef.Name == "") {
			t.Errorf("binding %s: %+v %+v", m.Metadata.Name, m.RoleRef, m.Subjects)
		}
	}
	want := []string{
		"Role/piyasa-operator@team-a",
		"RoleBinding/piyasa-operator-user-alice-example.com@team-a",
		"RoleBinding/piyasa-operator-sa-tools-ci@team-a",
		"ClusterRole/piyasa-cluster-reader@",
		"ClusterRoleBinding/piyasa-cluster-reader-user-alice-example.com@",
		"ClusterRoleBinding/piyasa-cluster-reader-sa-tools-ci@",
	}
	if strings.Join(kinds, " ") != strings.Join(want, " ") {
		t.Errorf("documents:\n got %v\nwant %v", kinds, want)
	}
	if strings.Contains(buf.String(), "creationTimestamp") {
		t.Errorf("creationTimestamp in:\n%s", buf.String())
	}
	// a rendered Role is the file's, with the namespace
	var role rbacv1.Role
	if err := yaml.Unmarshal([]byte(docs[0]), &role); err != nil {
		t.Fatal(err)
	}
	op, _ := Lookup(Operator)
	if len(role.Rules) != len(op.Rules) || role.Namespace != "team-a" {
		t.Errorf("rendered Role: %+v", role)
	}
	buf.Reset()
	if err := Render(&buf, RenderInput{Namespace: "n"}); err != nil || strings.Count(buf.String(), "kind: Role\n") != 3 || strings.Contains(buf.String(), "Binding") {
		t.Errorf("all roles, no subject: %v\n%s", err, buf.String())
	}
	if err := Render(&buf, RenderInput{Namespace: "n", Roles: []string{"admin"}}); err == nil {
		t.Error("an unknown role rendered")
	}
}

// TestMissingErrorBindsServiceAccounts: a ServiceAccount caller is told to
// bind with --bind-service-account (NS/ when it lives elsewhere); another
// caller, or an unknown one, with --bind-user NAME.
func TestMissingErrorBindsServiceAccounts(t *testing.T) {
	rs := []Right{{Verb: "patch", Group: "apps", Resource: "deployments"}}
	for caller, want := range map[string]string{
		"system:serviceaccount:team-a:oncall": "--role operator --bind-service-account oncall -n team-a |",
		"system:serviceaccount:ci:deployer":   "--role operator --bind-service-account ci/deployer -n team-a |",
		"alice":                               "--role operator --bind-user NAME -n team-a |",
		"":                                    "--role operator --bind-user NAME -n team-a |",
	} {
		e := MissingError(Needs{Command: "scale api", Role: Operator, Namespace: "team-a", Caller: caller}, rs)
		if !strings.Contains(e.Hint, want) {
			t.Errorf("caller %q: hint %q lacks %q", caller, e.Hint, want)
		}
	}
}

// TestCheckAsksWhoTheCallerIs: a refusal asks the API server for the
// caller (SelfSubjectReview) and binds a ServiceAccount as one.
func TestCheckAsksWhoTheCallerIs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/selfsubjectrulesreviews"):
			_, _ = io.WriteString(w, `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","status":{"resourceRules":[],"incomplete":false}}`)
		case strings.HasSuffix(r.URL.Path, "/selfsubjectaccessreviews"):
			_, _ = io.WriteString(w, `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","status":{"allowed":false}}`)
		case r.URL.Path == "/apis/authentication.k8s.io/v1/selfsubjectreviews":
			_, _ = io.WriteString(w, `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview","status":{"userInfo":{"username":"system:serviceaccount:ns1:viewer"}}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = Check(context.Background(), cs.AuthorizationV1(), Needs{Command: "scale api", Role: Operator, Namespace: "ns1", Rights: R("apps", []string{"deployments"}, "patch")})
	var e *exit.Error
	if !errors.As(err, &e) || !strings.Contains(e.Hint, "--bind-service-account viewer -n ns1") {
		t.Fatalf("err %v (hint %q)", err, e.Hint)
	}
}
