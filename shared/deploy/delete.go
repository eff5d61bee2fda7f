package deploy

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// DeleteOptions of `deploy delete`.
type DeleteOptions struct {
	*cli.Global
	Yes, DeleteData bool
	Manifests       string
	DryRun          string
}

// NewCmdDelete removes the app, keeping its data unless --delete-data.
func NewCmdDelete(g *cli.Global, _ genericiooptions.IOStreams) *cobra.Command {
	o := &DeleteOptions{Global: g, DryRun: DryRunNone}
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete the app from the namespace (asks for the namespace name; keeps PVCs unless --delete-data)",
		Long: `Delete every object deploy applied, and Secret piyasa-secrets. The PersistentVolumeClaims
(PostgreSQL, Redis, backups) and the namespace are kept unless --delete-data is given,
which deletes them too. Type the namespace name to confirm, or pass --yes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := validateDryRun(o.DryRun); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&o.DeleteData, "delete-data", false, "Also delete the PVCs (all data) and the namespace")
	addManifestsFlag(cmd, &o.Manifests)
	addDryRun(cmd, &o.DryRun)
	return cmd
}

// Run asks, then deletes.
func (o *DeleteOptions) Run(ctx context.Context) error {
	objs, err := renderFor(o.Global, o.Manifests, "", "")
	if err != nil {
		return err
	}
	if !o.Yes && o.DryRun == DryRunNone {
		what := "the app (data kept)"
		if o.DeleteData {
			what = "the app AND ALL ITS DATA (PVCs) and the namespace"
		}
		fmt.Fprintf(o.ErrOut, "This deletes %s in namespace %s.\nType the namespace name to confirm: ", what, o.Namespace)
		line, _ := bufio.NewReader(o.In).ReadString('\n')
		if strings.TrimSpace(line) != o.Namespace {
			return cli.Usagef("confirmation did not match %q: nothing deleted", o.Namespace)
		}
	}
	c, err := newClients(o.Global)
	if err != nil {
		return err
	}
	suffix := dryRunSuffix(o.DryRun)
	del := metav1.DeleteOptions{DryRun: dryRunOpt(o.DryRun)}
	report := func(id string, err error) error {
		switch {
		case apierrors.IsNotFound(err):
			fmt.Fprintf(o.Out, "%s not found\n", id)
		case err != nil:
			return fmt.Errorf("delete %s: %w", id, err)
		default:
			fmt.Fprintf(o.Out, "%s deleted%s\n", id, suffix)
		}
		return nil
	}
	deleteNS := false
	for i := len(objs) - 1; i >= 0; i-- {
		u := objs[i]
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
		if o.DryRun == DryRunClient {
			fmt.Fprintf(o.Out, "%s deleted%s\n", id, suffix)
			continue
		}
		res, err := c.resource(u)
		if err != nil {
			return err
		}
		if err := report(id, res.Delete(ctx, u.GetName(), del)); err != nil {
			return err
		}
	}
	if o.DryRun == DryRunClient {
		fmt.Fprintf(o.Out, "secret/%s deleted%s\n", app.SecretName, suffix)
	} else if err := report("secret/"+app.SecretName, c.cs.CoreV1().Secrets(o.Namespace).Delete(ctx, app.SecretName, del)); err != nil {
		return err
	}
	if o.DeleteData {
		redis, _ := app.LookupComponent(app.Redis)
		pvcs, err := c.cs.CoreV1().PersistentVolumeClaims(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(redis.Labels).String()})
		if err != nil {
			return err
		}
		for _, p := range pvcs.Items {
			if o.DryRun == DryRunClient {
				fmt.Fprintf(o.Out, "persistentvolumeclaim/%s deleted%s\n", p.Name, suffix)
				continue
			}
			if err := report("persistentvolumeclaim/"+p.Name, c.cs.CoreV1().PersistentVolumeClaims(o.Namespace).Delete(ctx, p.Name, del)); err != nil {
				return err
			}
		}
		if deleteNS {
			if o.DryRun == DryRunClient {
				fmt.Fprintf(o.Out, "namespace/%s deleted%s\n", o.Namespace, suffix)
			} else if err := report("namespace/"+o.Namespace, c.cs.CoreV1().Namespaces().Delete(ctx, o.Namespace, del)); err != nil {
				return err
			}
		}
	} else {
		fmt.Fprintf(o.Out, "kept: the PVCs (%s, %s, %s-*) and namespace %s; delete them with --delete-data\n",
			o.Env.ObjectName(app.PostgresPVC), o.Env.ObjectName(app.BackupPVC), app.RedisPVC, o.Namespace)
	}
	return nil
}
