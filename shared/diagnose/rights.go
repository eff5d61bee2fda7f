package diagnose

import (
	"context"

	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// NeededRights of diagnose logs: with masking, the Secrets' values too.
func (o *LogsOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.NoMask {
		return rbac.For("diagnose logs --no-mask").Needs(o.Namespace).As("diagnose logs"), nil
	}
	n := rbac.For("diagnose logs").Needs(o.Namespace)
	n.Otherwise = "--no-mask prints the logs without reading the Secrets (their values are then not masked)"
	return n, nil
}

// NeededRights of diagnose top: listing the pods (every other read is
// explained when refused).
func (o *TopOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("diagnose top").Needs(o.Namespace), nil
}
