package deploy

import (
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// TestRenderRBAC: render --rbac prints the Roles picked and a binding per
// subject, in the namespace, and sends no request.
func TestRenderRBAC(t *testing.T) {
	tt := clitest.New("team-a")
	if err := run(tt, "render", "--rbac", "--role", "operator", "--bind-user", "alice", "--bind-group", "oncall",
		"--bind-service-account", "ci", "--bind-service-account", "tools/bot"); err != nil {
		t.Fatal(err)
	}
	out, _ := tt.Output()
	var got []string
	for _, doc := range strings.Split(out, "---\n") {
		var b rbacv1.RoleBinding
		if err := yaml.Unmarshal([]byte(doc), &b); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if b.Namespace != "team-a" {
			t.Errorf("%s %s in namespace %q", b.Kind, b.Name, b.Namespace)
		}
		s := b.Kind + "/" + b.Name
		for _, sub := range b.Subjects {
			s += " " + sub.Kind + ":" + sub.Namespace + "/" + sub.Name + " -> " + b.RoleRef.Name
		}
		got = append(got, s)
	}
	want := []string{
		"Role/piyasa-operator",
		"RoleBinding/piyasa-operator-user-alice User:/alice -> piyasa-operator",
		"RoleBinding/piyasa-operator-group-oncall Group:/oncall -> piyasa-operator",
		"RoleBinding/piyasa-operator-sa-team-a-ci ServiceAccount:team-a/ci -> piyasa-operator",
		"RoleBinding/piyasa-operator-sa-tools-bot ServiceAccount:tools/bot -> piyasa-operator",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(tt.Fake.Actions()); n != 0 {
		t.Errorf("render --rbac sent %d requests", n)
	}

	tt = clitest.New("team-a")
	if err := run(tt, "render", "--rbac", "--cluster-reader", "--bind-user", "bob"); err != nil {
		t.Fatal(err)
	}
	out, _ = tt.Output()
	for _, want := range []string{"name: piyasa-viewer\n", "name: piyasa-operator\n", "name: piyasa-deployer\n",
		"kind: ClusterRole\n", "kind: ClusterRoleBinding\n", "name: piyasa-cluster-reader-user-bob\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("render --rbac --cluster-reader lacks %q", want)
		}
	}
}

func TestRenderRBACBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"render", "--rbac", "--role", "admin"},
		{"render", "--bind-user", "alice"},
		{"render", "--role", "viewer"},
		{"render", "--cluster-reader"},
		{"render", "--rbac", "--image", "v2.0.0"},
		{"render", "--rbac", "--bind-service-account", "a/b/c"},
		{"render", "--rbac", "--bind-service-account", "Bad_NS/x"},
		{"render", "--rbac", "--bind-user", " "},
	} {
		tt := clitest.New("team-a")
		if err := run(tt, args...); code(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, code(err), err)
		}
	}
}

// denyingAuthz answers the rights checks as an authorizer whose only rules
// are those given, so every other right is missing.
func denyingAuthz(rules ...rbacv1.PolicyRule) *fake.Clientset {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "selfsubjectrulesreviews", func(clienttesting.Action) (bool, runtime.Object, error) {
		st := authorizationv1.SubjectRulesReviewStatus{}
		for _, r := range rules {
			st.ResourceRules = append(st.ResourceRules, authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources})
		}
		return true, &authorizationv1.SelfSubjectRulesReview{Status: st}, nil
	})
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		r := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		at := r.Spec.ResourceAttributes
		r.Status.Allowed = rbac.AllowedBy(rules, rbac.Right{Verb: at.Verb, Group: at.Group, Resource: at.Resource, Subresource: at.Subresource, Name: at.Name})
		return true, r, nil
	})
	return cs
}

// TestCommandsStopBeforeTheirFirstChange: with the operator's rights, the
// deployer's commands exit 3 naming what is missing, and write nothing.
func TestCommandsStopBeforeTheirFirstChange(t *testing.T) {
	op, _ := rbac.Lookup(rbac.Operator)
	env := writeEnv(t, t.TempDir(), ".env", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--env-file", env}, "for deploy in namespace " + devNS + ": get namespaces " + devNS + ", get secrets, create secrets"},
		{[]string{"config", "set", "LOG_LEVEL=INFO"}, "for deploy config set in namespace " + devNS + ": get secrets;"},
		{[]string{"secret", "rotate", "--env-file", env}, "get secrets, create secrets, update secrets"},
	} {
		tt := clitest.New(devNS, liveApp(imgV1)...)
		tt.Authz = denyingAuthz(op.Rules...).AuthorizationV1()
		err := run(tt, c.args...)
		if code(err) != 3 || !strings.Contains(err.Error(), c.want) || !strings.HasSuffix(err.Error(), "nothing was changed") {
			t.Errorf("%v: exit %d: %v", c.args, code(err), err)
		}
		for _, a := range tt.Fake.Actions() {
			if a.GetVerb() != "get" && a.GetVerb() != "list" {
				t.Errorf("%v: %s %s sent", c.args, a.GetVerb(), a.GetResource().Resource)
			}
		}
		if n := len(tt.FakeDynamic.Actions()); n != 0 {
			t.Errorf("%v: %d dynamic requests", c.args, n)
		}
	}
}
