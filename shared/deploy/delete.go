package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// DefaultDeleteTimeout bounds waiting for the namespace to go (--delete-data).
const DefaultDeleteTimeout = 5 * time.Minute

// DeleteOptions of `deploy delete`.
type DeleteOptions struct {
	*cli.Global
	Yes, DeleteData bool
	Manifests       string
	DryRun          cli.DryRun
	waitFlags

	objs []*unstructured.Unstructured
	// pollInterval is how often the namespace is read while it terminates.
	pollInterval time.Duration
}

// NewDeleteOptions returns the defaults.
func NewDeleteOptions(g *cli.Global) *DeleteOptions {
	return &DeleteOptions{Global: g, DryRun: cli.DryRunNone, waitFlags: waitFlags{Wait: true, Timeout: DefaultDeleteTimeout}, pollInterval: time.Second}
}

// NewCmdDelete removes the app, keeping its data unless --delete-data.
func NewCmdDelete(g *cli.Global) *cobra.Command {
	o := NewDeleteOptions(g)
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete the app from the namespace (asks for the namespace name; keeps PVCs unless --delete-data)",
		Long: `Delete every object deploy applied, and Secret piyasa-secrets. The PersistentVolumeClaims
(PostgreSQL, its WAL archive, Redis, backups) and the namespace are kept unless --delete-data is given,
which deletes them too and waits (--wait, --timeout) until the namespace is gone, so that
a deploy can follow at once. Type the namespace name to confirm, or pass --yes.`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&o.DeleteData, "delete-data", false, "Also delete the PVCs (all data) and the namespace")
	addManifestsFlag(cmd, &o.Manifests)
	cli.AddDryRunFlag(cmd)
	cmd.Flags().BoolVar(&o.Wait, "wait", o.Wait, "With --delete-data: wait until the namespace is gone")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the namespace to go (0: no limit)")
	return cmd
}

// Complete resolves the environment, namespace and --dry-run and renders
// the objects to delete.
func (o *DeleteOptions) Complete(cmd *cobra.Command, _ []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	if o.DryRun, err = completeDryRun(cmd, o.Global); err != nil {
		return err
	}
	if o.objs, err = renderFor(o.Global, o.Manifests, "", ""); err != nil {
		return err
	}
	// The monitoring add-on goes too, where the cluster serves it.
	mon, err := render.Monitoring(render.Options{Env: o.Env, Namespace: o.Namespace})
	if err != nil {
		return cli.Usagef("cannot render the monitoring add-on: %v", err)
	}
	o.objs = append(mon, o.objs...)
	render.SortForApply(o.objs)
	return nil
}

// Validate checks the flags (no I/O).
func (o *DeleteOptions) Validate() error { return o.waitFlags.validate() }

// Run asks, then deletes.
func (o *DeleteOptions) Run(ctx context.Context) error {
	if !o.Yes && o.DryRun == cli.DryRunNone {
		what := "the app (data kept)"
		if o.DeleteData {
			what = "the app AND ALL ITS DATA (PVCs) and the namespace"
		}
		if err := cli.ConfirmNamespace(o.Global, fmt.Sprintf("This deletes %s in namespace %s.", what, o.Namespace)); err != nil {
			return err
		}
	}
	c, err := newClients(o.Global)
	if err != nil {
		return err
	}
	ns, err := c.cs.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return cli.Failedf("namespace %s does not exist: nothing to delete", o.Namespace).
			WithHint("check -n/--env (kubectl get namespaces)")
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp != nil {
		o.Infof("namespace %s is already being deleted\n", o.Namespace)
		return o.waitGone(ctx, c)
	}
	del := metav1.DeleteOptions{DryRun: o.DryRun.Server()}
	deleteNS, err := o.deleteObjects(ctx, c, del)
	if err != nil {
		return err
	}
	if o.DryRun.Client() {
		fmt.Fprintf(o.Out, "secret/%s deleted%s\n", app.SecretName, o.DryRun.Suffix())
	} else if err := o.report("secret/"+app.SecretName, c.cs.CoreV1().Secrets(o.Namespace).Delete(ctx, app.SecretName, del)); err != nil {
		return err
	}
	if !o.DeleteData {
		fmt.Fprintf(o.Out, "kept: the PVCs (%s, %s, %s, %s-*) and namespace %s; delete them with --delete-data\n",
			o.Env.ObjectName(app.PostgresPVC), o.Env.ObjectName(app.WALArchivePVC), o.Env.ObjectName(app.BackupPVC), app.RedisPVC, o.Namespace)
		o.Infof("The kept data needs the same DATABASE_PASSWORD and TOKEN_ENCRYPTION_KEY: deploy again with the .env you deployed with.\n")
		return nil
	}
	if err := o.deleteRedisPVCs(ctx, c, del); err != nil {
		return err
	}
	if !deleteNS {
		return nil
	}
	return o.deleteNamespace(ctx, c, del)
}

// report prints the outcome of deleting id (not found is no error).
func (o *DeleteOptions) report(id string, err error) error {
	switch {
	case apierrors.IsNotFound(err):
		fmt.Fprintf(o.Out, "%s not found\n", id)
	case err != nil:
		return fmt.Errorf("delete %s: %w", id, err)
	default:
		fmt.Fprintf(o.Out, "%s deleted%s\n", id, o.DryRun.Suffix())
	}
	return nil
}

// deleteObjects deletes the rendered objects in reverse order, keeping the
// PVCs without --delete-data, and tells whether the namespace is to go too.
func (o *DeleteOptions) deleteObjects(ctx context.Context, c *clients, del metav1.DeleteOptions) (deleteNS bool, err error) {
	suffix := o.DryRun.Suffix()
	for i := len(o.objs) - 1; i >= 0; i-- {
		u := o.objs[i]
		id := kindLower(u.GetKind()) + "/" + u.GetName()
		switch u.GetKind() {
		case "Namespace":
			deleteNS = o.DeleteData && u.GetName() == o.Namespace
			continue
		case "PersistentVolumeClaim":
			if !o.DeleteData {
				fmt.Fprintf(o.Out, "%s kept (data)\n", id)
				continue
			}
		}
		if o.DryRun.Client() {
			fmt.Fprintf(o.Out, "%s deleted%s\n", id, suffix)
			continue
		}
		res, err := c.resource(u)
		if err != nil && isMonitoringObject(u) {
			continue // the cluster has no ServiceMonitor kind: nothing to delete
		}
		if err != nil {
			return false, err
		}
		if err := o.report(id, res.Delete(ctx, u.GetName(), del)); err != nil {
			return false, err
		}
	}
	return deleteNS, nil
}

// deleteRedisPVCs deletes the PVCs of the Redis StatefulSet's claim template.
func (o *DeleteOptions) deleteRedisPVCs(ctx context.Context, c *clients, del metav1.DeleteOptions) error {
	redis, _ := app.LookupComponent(app.Redis)
	pvcs, err := c.cs.CoreV1().PersistentVolumeClaims(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(redis.Labels).String()})
	if err != nil {
		return err
	}
	for _, p := range pvcs.Items {
		if o.DryRun.Client() {
			fmt.Fprintf(o.Out, "persistentvolumeclaim/%s deleted%s\n", p.Name, o.DryRun.Suffix())
			continue
		}
		if err := o.report("persistentvolumeclaim/"+p.Name, c.cs.CoreV1().PersistentVolumeClaims(o.Namespace).Delete(ctx, p.Name, del)); err != nil {
			return err
		}
	}
	return nil
}

// deleteNamespace deletes the namespace and waits until it is gone (--wait).
func (o *DeleteOptions) deleteNamespace(ctx context.Context, c *clients, del metav1.DeleteOptions) error {
	suffix := o.DryRun.Suffix()
	if o.DryRun.Client() {
		fmt.Fprintf(o.Out, "namespace/%s deleted%s\n", o.Namespace, suffix)
		return nil
	}
	if err := c.cs.CoreV1().Namespaces().Delete(ctx, o.Namespace, del); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace/%s: %w", o.Namespace, err)
	}
	if o.DryRun.Active() {
		fmt.Fprintf(o.Out, "namespace/%s deleted%s\n", o.Namespace, suffix)
		return nil
	}
	return o.waitGone(ctx, c)
}

// waitGone waits until the namespace is gone (--wait), or says that it is
// still terminating.
func (o *DeleteOptions) waitGone(ctx context.Context, c *clients) error {
	if !o.Wait {
		fmt.Fprintf(o.Out, "namespace/%s is being deleted (not waited for)\n", o.Namespace)
		o.Infof("Deploy into it again only once it is gone: kubectl wait --for=delete namespace/%s --timeout=5m\n", o.Namespace)
		return nil
	}
	o.Infof("Waiting for namespace %s to be gone (timeout %s)\n", o.Namespace, o.Timeout)
	var deadline time.Time
	if o.Timeout > 0 {
		deadline = time.Now().Add(o.Timeout)
	}
	for {
		_, err := c.cs.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			fmt.Fprintf(o.Out, "namespace/%s deleted\n", o.Namespace)
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			return err
		}
		wait := o.pollInterval
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return cli.Failedf("namespace %s is still being deleted after %s", o.Namespace, o.Timeout).
					WithHint("deploy into it only once it is gone: kubectl wait --for=delete namespace/%s --timeout=10m", o.Namespace)
			}
			wait = min(wait, left)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
