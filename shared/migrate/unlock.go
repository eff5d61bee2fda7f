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
}

// NewCmdUnlock returns `migrate unlock`.
func NewCmdUnlock(g *cli.Global) *cobra.Command {
	o := &UnlockOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Release a stale migration lock (after confirmation)",
		Long: `Release the migration Lease <prefix>piyasa-migrate, e.g. when its holder was killed while
its Job was running and the Job is gone. It shows the holder, its Job and since when first,
and asks for the namespace name (or --yes). Releasing a lock whose Job is still running
allows a second migration at the same time: check 'migrate status' first.`,
		Example: `  kubectl piyasa migrate unlock --env dev
  kubectl piyasa migrate unlock -n my-ns --yes`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "Do not ask for confirmation")
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
		o.Infof("no migration lock %s in namespace %s: nothing to do\n", name, o.Namespace)
		return nil
	}
	what := "lock " + name + " held by " + info.Holder + " since " + fmtTime(info.Since)
	if info.Job != "" {
		what += ", Job " + info.Job + " (" + info.JobState + ")"
	}
	if !info.Held {
		what += " (expired)"
	} else if info.JobState == "Running" {
		what += "\nwarning: its Job is still running: a second migration could then run at the same time"
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
	o.Printf("lock %s released\n", name)
	return nil
}
