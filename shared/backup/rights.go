package backup

import (
	"context"

	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// The rights each backup command checks before it changes anything (see
// cli.RightsNeeder and rbac.Commands). A file or s3:// location needs none.

// NeededRights of backup create.
func (o *CreateOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("backup create").Needs(o.Namespace), nil
}

// NeededRights of backup restore: over the live database (it stops the app)
// or --to-database.
func (o *RestoreOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.ToDatabase != "" {
		return rbac.For("backup restore --to-database").Needs(o.Namespace), nil
	}
	if o.pitr.asked() && o.pitr.From == "" {
		// the base backups of the backup volume are listed through the browse pod
		return rbac.For("backup restore").Needs(o.Namespace, rbac.For("backup list --in-cluster").Rights), nil
	}
	return rbac.For("backup restore").Needs(o.Namespace), nil
}

// NeededRights of backup verify: none without --restore-test.
func (o *VerifyOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if !o.RestoreTest {
		return nil, nil
	}
	return rbac.For("backup verify --restore-test").Needs(o.Namespace), nil
}

// NeededRights of backup list: none for --dir or --from.
func (o *ListOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if !o.InCluster {
		return nil, nil
	}
	return rbac.For("backup list --in-cluster").Needs(o.Namespace), nil
}

// NeededRights of backup pull.
func (o *PullOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("backup pull").Needs(o.Namespace), nil
}

// NeededRights of backup schedule show (--pvc: the browse pod).
func (o *ScheduleShowOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.PVC {
		return rbac.For("backup schedule show --pvc").Needs(o.Namespace), nil
	}
	return rbac.For("backup schedule show").Needs(o.Namespace), nil
}

// NeededRights of backup schedule set.
func (o *ScheduleSetOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.cmd != nil && o.cmd.Flags().Changed("physical") {
		return rbac.For("backup schedule set --physical").Needs(o.Namespace).As("backup schedule set"), nil
	}
	return rbac.For("backup schedule set|suspend|resume").Needs(o.Namespace).As("backup schedule set"), nil
}

// NeededRights of backup schedule suspend|resume.
func (o *ScheduleSuspendOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	as := "backup schedule resume"
	if o.Suspend {
		as = "backup schedule suspend"
	}
	return rbac.For("backup schedule set|suspend|resume").Needs(o.Namespace).As(as), nil
}

// NeededRights of backup schedule run-now.
func (o *ScheduleRunNowOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("backup schedule run-now").Needs(o.Namespace), nil
}

// NeededRights of backup wal sync.
func (o *WALSyncOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("backup wal sync").Needs(o.Namespace), nil
}

// NeededRights of backup wal prune.
func (o *WALPruneOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("backup wal prune").Needs(o.Namespace), nil
}

// NeededRights of backup status.
func (o *StatusOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("backup status").Needs(o.Namespace), nil
}
