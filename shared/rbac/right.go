// Package rbac is what the suite knows about Kubernetes rights: the Right a
// command needs (a verb on a resource, in its namespace or cluster-wide), the
// check of a command's rights before it changes anything, and the Roles a team
// grants (piyasa-viewer, piyasa-operator, piyasa-deployer and the ClusterRole
// piyasa-cluster-reader, embedded from manifests/rbac) with their bindings.
package rbac

import (
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Right is one RBAC right: a verb on a resource (of an API group, with an
// optional subresource and object name), in the command's namespace or, with
// Cluster, on a cluster-scoped resource.
type Right struct {
	Verb        string
	Group       string
	Resource    string
	Subresource string
	// Name limits the right to one object (a resourceName); "" is any.
	Name string
	// Cluster marks a cluster-scoped resource (nodes, storageclasses, ...).
	Cluster bool
}

// ResourceName returns the resource with its group and subresource:
// "deployments.apps", "pods/exec", "leases.coordination.k8s.io".
func (r Right) ResourceName() string {
	s := r.Resource
	if r.Group != "" {
		s += "." + r.Group
	}
	if r.Subresource != "" {
		s += "/" + r.Subresource
	}
	return s
}

// String is "verb resource[.group][/subresource][ NAME]", e.g. "patch deployments.apps".
func (r Right) String() string {
	s := r.Verb + " " + r.ResourceName()
	if r.Name != "" {
		s += " " + r.Name
	}
	return s
}

// CanI returns the kubectl command that checks r in namespace ns.
func (r Right) CanI(ns string) string {
	s := "kubectl auth can-i " + r.Verb + " " + r.Resource
	if r.Group != "" {
		s += "." + r.Group
	}
	if r.Name != "" {
		s += "/" + r.Name
	}
	if r.Subresource != "" {
		s += " --subresource " + r.Subresource
	}
	if !r.Cluster {
		s += " -n " + ns
	}
	return s
}

// R returns the rights of verbs on resources of a group in the namespace;
// a resource may be "resource/subresource".
func R(group string, resources []string, verbs ...string) []Right {
	var out []Right
	for _, res := range resources {
		name, sub, _ := strings.Cut(res, "/")
		for _, v := range verbs {
			out = append(out, Right{Verb: v, Group: group, Resource: name, Subresource: sub})
		}
	}
	return out
}

// Cluster returns R's rights on cluster-scoped resources.
func Cluster(group string, resources []string, verbs ...string) []Right {
	out := R(group, resources, verbs...)
	for i := range out {
		out[i].Cluster = true
	}
	return out
}

// Join concatenates right lists, dropping repeats, in first-seen order.
func Join(lists ...[]Right) []Right {
	seen := map[Right]bool{}
	var out []Right
	for _, l := range lists {
		for _, r := range l {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// Sorted returns rights sorted by resource, then verb (for tables).
func Sorted(rs []Right) []Right {
	out := append([]Right(nil), rs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Cluster != b.Cluster {
			return !a.Cluster
		}
		if a.ResourceName() != b.ResourceName() {
			return a.ResourceName() < b.ResourceName()
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return verbOrder(a.Verb) < verbOrder(b.Verb)
	})
	return out
}

var verbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

func verbOrder(v string) int {
	for i, x := range verbs {
		if x == v {
			return i
		}
	}
	return len(verbs)
}

// Allows tells whether an RBAC policy rule grants r (the authorizer's
// matching: "*" for verbs, groups and resources, "*/sub" and resourceNames).
func Allows(rule rbacv1.PolicyRule, r Right) bool {
	return has(rule.Verbs, r.Verb) && has(rule.APIGroups, r.Group) && resourceMatches(rule.Resources, r) &&
		(len(rule.ResourceNames) == 0 || (r.Name != "" && contains(rule.ResourceNames, r.Name)))
}

// AllowedBy tells whether any of rules grants r.
func AllowedBy(rules []rbacv1.PolicyRule, r Right) bool {
	for _, rule := range rules {
		if Allows(rule, r) {
			return true
		}
	}
	return false
}

func has(list []string, s string) bool {
	return contains(list, rbacv1.VerbAll) || contains(list, s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func resourceMatches(resources []string, r Right) bool {
	combined := r.Resource
	if r.Subresource != "" {
		combined += "/" + r.Subresource
	}
	for _, res := range resources {
		switch {
		case res == rbacv1.ResourceAll, res == combined:
			return true
		case r.Subresource != "" && res == "*/"+r.Subresource:
			return true
		}
	}
	return false
}
