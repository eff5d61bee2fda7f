package scale

import (
	"context"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// The rights each scale command checks before it changes anything (see
// cli.RightsNeeder and rbac.Commands).

// NeededRights of scale COMPONENT N.
func (o *Options) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.DryRun.Client() {
		return nil, nil
	}
	if o.comp.Name == app.Worker {
		return rbac.For("scale worker N").Needs(o.Namespace).As("scale worker"), nil
	}
	return rbac.For("scale api|frontend N").Needs(o.Namespace).As("scale " + o.comp.Name), nil
}

// NeededRights of scale hpa.
func (o *HPAOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.DryRun.Client() {
		return nil, nil
	}
	return rbac.For("scale hpa").Needs(o.Namespace), nil
}

// NeededRights of scale status (-w: its watches).
func (o *StatusOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.Watch {
		return rbac.For("scale status -w").Needs(o.Namespace), nil
	}
	return rbac.For("scale status").Needs(o.Namespace), nil
}
