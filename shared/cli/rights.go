package cli

import (
	"context"

	"k8s.io/client-go/kubernetes"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"

	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// RightsNeeder is a command whose Run needs RBAC rights that are checked
// before it changes anything: RunE calls NeededRights after Validate and, when
// a right is missing, stops with exit 3 naming each missing verb, resource and
// namespace, so that a command never stops half-way for lack of a right. nil
// Needs (e.g. with --dry-run=client) checks nothing.
type RightsNeeder interface {
	NeededRights(ctx context.Context) (*rbac.Needs, error)
}

// rightsChecked is a RightsNeeder whose Options embed the Global.
type rightsChecked interface {
	RightsNeeder
	CheckRights(ctx context.Context, n *rbac.Needs) error
}

// CheckRights checks n against the API server (see rbac.Check). A Global on a
// clientset not made from a REST config (a unit test's fake) checks nothing
// unless Authz is set.
func (g *Global) CheckRights(ctx context.Context, n *rbac.Needs) error {
	if n == nil || len(n.Rights) == 0 {
		return nil
	}
	authz := g.Authz
	if authz == nil {
		cs, err := g.Clientset()
		if err != nil {
			return err
		}
		made, ok := cs.(*kubernetes.Clientset)
		if !ok {
			return nil
		}
		authz = made.AuthorizationV1()
	}
	if n.Namespace == "" {
		n.Namespace = g.Namespace
	}
	return rbac.Check(ctx, authz, *n)
}

// authzClient is the type of Global.Authz.
type authzClient = authorizationv1client.AuthorizationV1Interface

func checkRights(ctx context.Context, o Command) error {
	rc, ok := o.(rightsChecked)
	if !ok {
		return nil
	}
	n, err := rc.NeededRights(ctx)
	if err != nil || n == nil {
		return err
	}
	return rc.CheckRights(ctx, n)
}
