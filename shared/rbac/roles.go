package rbac

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/manifests"
)

// The suite's Roles, by short name, and its ClusterRole.
const (
	Viewer   = "viewer"
	Operator = "operator"
	Deployer = "deployer"
	// ClusterReaderName is the ClusterRole of the cluster-scoped reads.
	ClusterReaderName = "piyasa-cluster-reader"
)

// RoleNames are the Roles' short names, each granting what the one before does and more.
var RoleNames = []string{Viewer, Operator, Deployer}

// Role is one of the suite's Roles (or its ClusterRole) as manifests/rbac defines it.
type Role struct {
	// Short is the name --role takes (viewer, operator, deployer).
	Short string
	// Name is the object's name (piyasa-viewer ...).
	Name  string
	Rules []rbacv1.PolicyRule
}

// Allows tells whether the Role grants r.
func (r Role) Allows(x Right) bool { return AllowedBy(r.Rules, x) }

var (
	loadOnce sync.Once
	roles    map[string]Role
	cluster  Role
	loadErr  error
)

func load() error {
	loadOnce.Do(func() {
		roles = map[string]Role{}
		for _, short := range RoleNames {
			var r rbacv1.Role
			if loadErr = readOne(manifests.RBACFile(short), &r); loadErr != nil {
				return
			}
			if r.Kind != "Role" || r.Name != "piyasa-"+short {
				loadErr = fmt.Errorf("%s: want Role piyasa-%s, got %s %s", manifests.RBACFile(short), short, r.Kind, r.Name)
				return
			}
			roles[short] = Role{Short: short, Name: r.Name, Rules: r.Rules}
		}
		var cr rbacv1.ClusterRole
		if loadErr = readOne(manifests.RBACFile("cluster-reader"), &cr); loadErr != nil {
			return
		}
		cluster = Role{Short: "cluster-reader", Name: cr.Name, Rules: cr.Rules}
	})
	return loadErr
}

func readOne(path string, into any) error {
	b, err := manifests.RBAC.ReadFile(path)
	if err != nil {
		return err
	}
	return yaml.UnmarshalStrict(b, into)
}

// Lookup returns the Role of a short name (viewer, operator, deployer).
func Lookup(short string) (Role, bool) {
	if load() != nil {
		return Role{}, false
	}
	r, ok := roles[strings.TrimPrefix(short, "piyasa-")]
	return r, ok
}

// Roles returns the three Roles, viewer first; an error only when the
// embedded manifests are broken (a unit test keeps them whole).
func Roles() ([]Role, error) {
	if err := load(); err != nil {
		return nil, err
	}
	out := make([]Role, 0, len(RoleNames))
	for _, n := range RoleNames {
		out = append(out, roles[n])
	}
	return out, nil
}

// ClusterReader returns the ClusterRole piyasa-cluster-reader.
func ClusterReader() (Role, error) {
	return cluster, load()
}

// Grantor returns the first (least) Role that grants every namespaced right
// of rs, and whether one does.
func Grantor(rs []Right) (Role, bool) {
	all, err := Roles()
	if err != nil {
		return Role{}, false
	}
	for _, role := range all {
		ok := true
		for _, r := range rs {
			if !r.Cluster && !role.Allows(r) {
				ok = false
				break
			}
		}
		if ok {
			return role, true
		}
	}
	return Role{}, false
}

// Subject is who a binding grants a Role to.
type Subject struct {
	// Kind is User, Group or ServiceAccount.
	Kind, Name string
	// Namespace is a ServiceAccount's namespace.
	Namespace string
}

func (s Subject) rbac() rbacv1.Subject {
	if s.Kind == rbacv1.ServiceAccountKind {
		return rbacv1.Subject{Kind: s.Kind, Name: s.Name, Namespace: s.Namespace}
	}
	return rbacv1.Subject{Kind: s.Kind, Name: s.Name, APIGroup: rbacv1.GroupName}
}

// bindingName is "<role>-<kind>-<name>", cut to a valid object name.
func bindingName(role string, s Subject) string {
	n := role + "-" + strings.ToLower(s.Kind) + "-" + s.Name
	if s.Kind == rbacv1.ServiceAccountKind {
		n = role + "-sa-" + s.Namespace + "-" + s.Name
	}
	n = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, n)
	if len(n) > 253 {
		n = n[:253]
	}
	return strings.Trim(n, "-.")
}

// RenderInput selects what Render prints.
type RenderInput struct {
	// Namespace receives the Roles and RoleBindings.
	Namespace string
	// Roles are short names; empty: all three.
	Roles []string
	// Subjects get a RoleBinding to each of Roles (and, with ClusterReader, a ClusterRoleBinding).
	Subjects []Subject
	// ClusterReader adds the ClusterRole piyasa-cluster-reader (and its bindings).
	ClusterReader bool
}

// Render writes the RBAC manifests as YAML documents for kubectl apply -f -:
// the Roles in the namespace, a RoleBinding per Role and subject, and with
// ClusterReader the ClusterRole and a ClusterRoleBinding per subject.
func Render(w io.Writer, in RenderInput) error {
	if err := load(); err != nil {
		return err
	}
	names := in.Roles
	if len(names) == 0 {
		names = RoleNames
	}
	var docs []any
	typeRole := metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"}
	labels := map[string]string{"app.kubernetes.io/part-of": "piyasa", "app.kubernetes.io/managed-by": "kubectl-piyasa"}
	for _, n := range names {
		r, ok := Lookup(n)
		if !ok {
			return fmt.Errorf("unknown role %q: use %s", n, strings.Join(RoleNames, ", "))
		}
		docs = append(docs, rbacv1.Role{TypeMeta: typeRole, ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: in.Namespace, Labels: labels}, Rules: r.Rules})
	}
	for _, n := range names {
		r, _ := Lookup(n)
		for _, s := range in.Subjects {
			docs = append(docs, rbacv1.RoleBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: bindingName(r.Name, s), Namespace: in.Namespace, Labels: labels},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: r.Name},
				Subjects:   []rbacv1.Subject{s.rbac()},
			})
		}
	}
	if in.ClusterReader {
		docs = append(docs, rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
			ObjectMeta: metav1.ObjectMeta{Name: cluster.Name, Labels: labels}, Rules: cluster.Rules})
		for _, s := range in.Subjects {
			docs = append(docs, rbacv1.ClusterRoleBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: bindingName(cluster.Name, s), Labels: labels},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cluster.Name},
				Subjects:   []rbacv1.Subject{s.rbac()},
			})
		}
	}
	var buf bytes.Buffer
	for i, d := range docs {
		b, err := yaml.Marshal(d)
		if err != nil {
			return err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(dropCreationTimestamp(b))
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// dropCreationTimestamp removes the "creationTimestamp: null" that
// marshalling an ObjectMeta writes.
func dropCreationTimestamp(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("  creationTimestamp: null\n"), nil)
}
