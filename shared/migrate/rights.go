package migrate

import (
	"context"

	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// The rights each migrate command checks before it changes anything (see
// cli.RightsNeeder and rbac.Commands).

func runNeeds(as, ns string, b *BackupFlags) *rbac.Needs {
	n := rbac.For("migrate up|down").Needs(ns).As(as)
	if b.On() {
		n.Rights = rbac.Join(n.Rights, rbac.For("backup create").Rights)
	}
	return n
}

// NeededRights of migrate up (--backup-first: the backup's too).
func (o *UpOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return runNeeds("migrate "+o.Direction, o.Namespace, &o.Backup), nil
}

// NeededRights of migrate down (and of its backup unless --no-backup).
func (o *DownOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return runNeeds("migrate "+o.Direction, o.Namespace, &o.Backup), nil
}

// NeededRights of migrate status.
func (o *StatusOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("migrate status|history").Needs(o.Namespace).As("migrate status"), nil
}

// NeededRights of migrate history.
func (o *HistoryOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("migrate status|history").Needs(o.Namespace).As("migrate history"), nil
}

// NeededRights of migrate unlock.
func (o *UnlockOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("migrate unlock").Needs(o.Namespace), nil
}

// NeededRights of migrate jobs (--cleanup deletes).
func (o *JobsOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.Cleanup && !o.DryRun.Client() {
		return rbac.For("migrate jobs --cleanup").Needs(o.Namespace), nil
	}
	return rbac.For("migrate jobs").Needs(o.Namespace), nil
}
