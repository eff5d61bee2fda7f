package rbac

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

// Needs is what a command needs before its Run changes anything: rights in
// Namespace (and cluster-wide ones), and the suite's Role that grants them.
type Needs struct {
	// Command names the command in messages ("deploy", "scale worker").
	Command string
	// Role is the short name of the suite's Role that grants Rights (viewer, operator, deployer).
	Role      string
	Namespace string
	Rights    []Right
	// Otherwise is a way to do without the missing rights, put first in the hint
	// ("or run it with --no-mask").
	Otherwise string
	// Caller is the caller's user name when known (Check asks a
	// SelfSubjectReview): a ServiceAccount (system:serviceaccount:NS:NAME) is
	// told to bind with --bind-service-account, anyone else with --bind-user.
	Caller string
}

// maxNamed is how many missing rights an error lists before "and N more".
const maxNamed = 8

// reviewers bounds the SelfSubjectAccessReviews sent at once.
const reviewers = 8

// Check asks the API server whether the caller holds every right of n: one
// SelfSubjectRulesReview of the namespace, then a SelfSubjectAccessReview for
// each right the rules do not show (the authorizer's own answer, which also
// covers cluster-scoped rights and authorizers that list no rules). It
// returns an exit-3 error naming each missing right, the namespace and the
// Role that grants them. Where the server cannot say (the review APIs are
// refused), the right counts as held: the command's own request meets the
// authorizer then. A cluster that cannot be reached gives that error.
func Check(ctx context.Context, authz authorizationv1client.AuthorizationV1Interface, n Needs) error {
	if len(n.Rights) == 0 {
		return nil
	}
	n.Rights = ownNamespaceNamed(n.Rights, n.Namespace)
	var rules []rbacv1.PolicyRule
	rr, err := authz.SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: n.Namespace}}, metav1.CreateOptions{})
	switch {
	case err == nil:
		for _, r := range rr.Status.ResourceRules {
			rules = append(rules, rbacv1.PolicyRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
		}
	case !isAPIError(err):
		return err
	}
	var unsure []Right
	for _, r := range n.Rights {
		// Rules of the namespace's RoleBindings do not hold cluster-scoped rights: ask for those.
		if r.Cluster || !AllowedBy(rules, r) {
			unsure = append(unsure, r)
		}
	}
	denied := make([]bool, len(unsure))
	errs := make([]error, len(unsure))
	sem := make(chan struct{}, reviewers)
	var wg sync.WaitGroup
	for i, r := range unsure {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			attrs := &authorizationv1.ResourceAttributes{Verb: r.Verb, Group: r.Group, Resource: r.Resource, Subresource: r.Subresource, Name: r.Name}
			if !r.Cluster {
				attrs.Namespace = n.Namespace
			}
			res, err := authz.SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}, metav1.CreateOptions{})
			if err != nil {
				errs[i] = err
				return
			}
			denied[i] = !res.Status.Allowed
		}()
	}
	wg.Wait()
	var missing []Right
	for i, r := range unsure {
		if errs[i] != nil && !isAPIError(errs[i]) {
			return errs[i]
		}
		if denied[i] {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if n.Caller == "" {
		n.Caller = whoAmI(ctx, authz)
	}
	return MissingError(n, missing)
}

// whoAmI asks the API server who the caller is (a SelfSubjectReview, which
// every authenticated user may create) through the REST client of authz;
// "" when it cannot say (an older server, a fake client).
func whoAmI(ctx context.Context, authz authorizationv1client.AuthorizationV1Interface) string {
	rc, ok := authz.RESTClient().(*rest.RESTClient)
	if !ok || rc == nil {
		return ""
	}
	body := &authenticationv1.SelfSubjectReview{TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "SelfSubjectReview"}}
	var res authenticationv1.SelfSubjectReview
	raw, err := rc.Post().AbsPath("/apis/authentication.k8s.io/v1/selfsubjectreviews").
		SetHeader("Content-Type", "application/json").Body(mustJSON(body)).Do(ctx).Raw()
	if err != nil || json.Unmarshal(raw, &res) != nil {
		return ""
	}
	return res.Status.UserInfo.Username
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// bindFlag is the render flag that binds the caller: --bind-service-account
// [NS/]NAME for a ServiceAccount (NS left out when it is ns), else --bind-user NAME.
func bindFlag(caller, ns string) string {
	if sa, ok := strings.CutPrefix(caller, "system:serviceaccount:"); ok {
		if saNS, name, ok := strings.Cut(sa, ":"); ok && saNS != "" && name != "" {
			if saNS == ns {
				return "--bind-service-account " + name
			}
			return "--bind-service-account " + saNS + "/" + name
		}
	}
	return "--bind-user NAME"
}

func isAPIError(err error) bool {
	_, ok := err.(apierrors.APIStatus)
	return ok || apierrors.IsForbidden(err) || apierrors.IsNotFound(err)
}

// MissingError is the exit-3 error of rights a command lacks: one line
// naming each (verb, resource, namespace), one hint with the Role that
// grants them and the command that checks the first.
func MissingError(n Needs, missing []Right) *exit.Error {
	var inNS, cluster []string
	for _, r := range missing {
		if r.Cluster {
			cluster = append(cluster, r.String())
		} else {
			inNS = append(inNS, r.String())
		}
	}
	word := "right"
	if len(missing) > 1 {
		word = "rights"
	}
	var parts []string
	if len(inNS) > 0 {
		parts = append(parts, "in namespace "+n.Namespace+": "+list(inNS))
	}
	if len(cluster) > 0 {
		parts = append(parts, "cluster-wide: "+list(cluster))
	}
	who := ""
	if n.Command != "" {
		who = " for " + n.Command
	}
	msg := fmt.Sprintf("missing RBAC %s%s %s; nothing was changed", word, who, strings.Join(parts, "; "))
	hint := ""
	if role, ok := Lookup(n.Role); ok && len(inNS) > 0 {
		hint = fmt.Sprintf("Role %s grants them (kubectl piyasa deploy render --rbac --role %s %s -n %s | kubectl apply -f -); ", role.Name, role.Short, bindFlag(n.Caller, n.Namespace), n.Namespace)
	}
	if len(inNS) == 0 {
		hint = fmt.Sprintf("ClusterRole %s grants them (kubectl piyasa deploy render --rbac --cluster-reader %s | kubectl apply -f -); ", ClusterReaderName, bindFlag(n.Caller, n.Namespace))
	}
	hint += "check: " + missing[0].CanI(n.Namespace)
	if n.Otherwise != "" {
		hint = n.Otherwise + "; or " + hint
	}
	return &exit.Error{Code: exit.ExitCluster, Msg: msg, Hint: hint}
}

func list(names []string) string {
	if len(names) <= maxNamed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxNamed], ", ") + fmt.Sprintf(" and %d more", len(names)-maxNamed)
}

// ownNamespaceNamed names the namespace in the rights on its own Namespace
// object (get or patch namespaces, not cluster-wide): the request a
// RoleBinding in the namespace covers.
func ownNamespaceNamed(rs []Right, ns string) []Right {
	out := make([]Right, len(rs))
	for i, r := range rs {
		if r.Group == "" && r.Resource == "namespaces" && !r.Cluster && r.Name == "" {
			r.Name = ns
		}
		out[i] = r
	}
	return out
}
