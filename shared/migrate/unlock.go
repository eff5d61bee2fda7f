package migrate

import (
	"context"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
)

// UnlockOptions are the options of `migrate unlock`.
type UnlockOptions struct {
	*cli.Global
	Yes bool
	// Force releases a lock whose holder is still at work.
	Force bool
}

// NewCmdUnlock returns `migrate unlock`.
func NewCmdUnlock(g *cli.Global) *cobra.Command {
	o := &UnlockOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Release a stale database operation lock (after confirmation)",
		Long: `Release the database operation lock, the Lease <prefix>piyasa-migrate, that a holder
left behind, e.g. when it was killed and its Job is gone. It shows the operation, the holder,
its Job and since when first, and asks for the namespace name (or --yes).

A lock whose holder is still at work (its process renews the Lease, or its Job is running)
is not released, with or without --yes: exit 1, nothing changed. Releasing it would let a
second operation change the database at the same time (a half-applied migration, a
migration under a restore, a mixed restore). --force releases it anyway.`,
		Example: `  kubectl piyasa migrate unlock --env dev
  kubectl piyasa migrate unlock -n my-ns --yes`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&o.Force, "force", false, "Release the lock even while its holder is at work (two operations can then change the database at once)")
	return cmd
}

// Complete resolves the environment and namespace.
func (o *UnlockOptions) Complete(cmd *cobra.Command, args []string) error { return o.Global.Complete() }

// Validate has nothing to check.
func (o *UnlockOptions) Validate() error { return nil }

// Run releases the Lease.
func (o *UnlockOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	name := o.Env.MigrationLease()
	info, lease, err := oplock.DescribeLock(ctx, cs, o.Namespace, name, o.Now())
	if err != nil {
		return err
	}
	if lease == nil {
		o.Infof("no database lock %s in namespace %s: nothing to do\n", name, o.Namespace)
		return nil
	}
	what := "lock " + name + ": " + info.Describe()
	switch {
	case info.Alive() && !o.Force:
		return cli.Failedf("the lock %s is in use: %s; nothing was released", name, info.Describe()).
			WithHint("%s", aliveHint(info, o.Namespace))
	case info.Alive():
		what += "\nwarning: --force: its holder is still at work; once released, a second operation can change the database at the same time (a half-applied migration, a mixed restore)"
	default:
		what += " (expired: its holder is gone)"
	}
	if o.Yes {
		o.Infof("%s\n", what)
	}
	if err := confirm(o.Global, what, o.Namespace, o.Yes); err != nil {
		return err
	}
	rv := lease.ResourceVersion
	err = cs.CoordinationV1().Leases(o.Namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if apierrors.IsConflict(err) {
		return cli.Failedf("the lock %s changed while asking: nothing was released", name).WithHint("look again: kubectl piyasa migrate status -n %s", o.Namespace)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if info.Alive() {
		o.Infof("warning: lock %s released while %s is at work\n", name, info.Holder)
	}
	o.Printf("lock %s released\n", name)
	return nil
}

// aliveHint says why a live holder's lock stays: what it runs, how to wait.
func aliveHint(info oplock.LockInfo, ns string) string {
	wait := "wait for it to end (see: kubectl piyasa migrate status -n " + ns + ")"
	if info.Job != "" && info.JobState == "Running" {
		wait = "its Job " + info.Job + " is running: wait for it to end (kubectl logs -f job/" + info.Job + " -n " + ns + ")"
	}
	return wait + "; --force releases it anyway, letting a second operation change the database at the same time"
}
