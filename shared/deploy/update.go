package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// UpdateOptions of `deploy update`: the guide's Procedure 2.
type UpdateOptions struct {
	*cli.Global
	Image, FrontendImage string
	ChangeCause          string
	NoRollback           bool
	// RollbackTimeout bounds the wait for an automatic rollback (its own
	// time: the update's may have run out).
	RollbackTimeout time.Duration
	DryRun          cli.DryRun
	waitFlags
	// Migrate is --migrate and its backup flags.
	Migrate updateMigrate
	// Fleet is --fleet and its flags: the release in waves.
	Fleet updateFleet

	apiRef, feRef string
}

// NewUpdateOptions returns the defaults.
func NewUpdateOptions(g *cli.Global) *UpdateOptions {
	return &UpdateOptions{Global: g, DryRun: cli.DryRunNone, waitFlags: defaultWait(), RollbackTimeout: DefaultRollbackTimeout}
}

// NewCmdUpdate moves api and worker (and optionally the frontend) to a new image.
func NewCmdUpdate(g *cli.Global) *cobra.Command {
	o := NewUpdateOptions(g)
	cmd := &cobra.Command{
		Use:   "update --image TAG|IMAGE [--frontend-image TAG|IMAGE]",
		Short: "Move api and worker together to a new image, wait, and roll back automatically on failure",
		Long: `Set the image of the api Deployment and the worker StatefulSet together (the workers run
the api image), record a change-cause, and wait by watching. If a pod fails (CrashLoopBackOff,
OOMKilled, ImagePullBackOff ...), the API server refuses the pods (a ResourceQuota) or the
timeout runs out, or if setting an image fails, every image already set is put back (unless
--no-rollback), the rollback is waited for (--rollback-timeout), and the command exits 1.

--migrate makes it one release step: first a checked backup (as 'migrate up --backup-first':
--backup-dir DIR, default ./backups created 0700, or --backup-to s3://BUCKET/PREFIX; on by
default in prod, --no-backup turns it off), then 'migrate up' in the new api image under the
migrate lock, and only when the migration succeeded are api and worker moved. A failed backup
or migration changes no image (exit 1, the Job named). If the rollout then fails, the images
are rolled back but the schema stays migrated: the command says so and prints the
'migrate down --to <revision before>' that undoes it and the backup to restore instead.
The migration is kubectl-piyasa-migrate (beside this binary, else on PATH; exit 2 when it is
not installed), run with the kubectl and backup flags given here.

--fleet FILE releases to every region of a fleet file, wave by wave: every region is read
first (nothing changes when one cannot be), --migrate migrates once in the primary region
before wave 1, each wave's regions are updated at once, then diagnose runs in each as the
gate (--gate-on error|warning); a failed wave is rolled back in all its regions and the later
waves are not touched. The table (-o json|yaml: a FleetRelease) says per region what happened;
--dry-run=client prints the plan.`,
		Example: `  kubectl piyasa deploy update --image v2.0.0 -n piyasa-chatbot
  kubectl piyasa deploy update --image ghcr.io/me/api:2.0.1 --frontend-image 2.0.1 --env prod
  kubectl piyasa deploy update --image v2.1.0 --migrate --backup-to s3://my-bucket/piyasa --env prod
  kubectl piyasa deploy update --fleet piyasa-fleet.yaml --image v2.1.0 --migrate --dry-run=client`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.Image, "image", "", "New image of api and worker: a TAG (v2.0.0) or a full IMAGE reference")
	cmd.Flags().StringVar(&o.FrontendImage, "frontend-image", "", "New image of the frontend: a TAG or a full IMAGE reference")
	cmd.Flags().StringVar(&o.ChangeCause, "change-cause", "", "Text recorded as kubernetes.io/change-cause (default: the command line's intent)")
	cmd.Flags().BoolVar(&o.NoRollback, "no-rollback", false, "Leave a failed update in place instead of rolling back")
	cmd.Flags().DurationVar(&o.RollbackTimeout, "rollback-timeout", o.RollbackTimeout, "How long to wait for the automatic rollback (0: no limit)")
	cli.AddDryRunFlag(cmd)
	o.waitFlags.add(cmd)
	o.Migrate.addFlags(cmd)
	o.Fleet.addFlags(cmd)
	return cmd
}

// Complete resolves the environment, namespace and --dry-run.
func (o *UpdateOptions) Complete(cmd *cobra.Command, _ []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	o.Migrate.Backup.Resolve(o.Env)
	var err error
	if o.DryRun, err = completeDryRun(cmd, o.Global); err != nil {
		return err
	}
	return o.Fleet.complete(cmd)
}

// Validate checks the image references (no I/O).
func (o *UpdateOptions) Validate() error {
	if err := o.waitFlags.validate(); err != nil {
		return err
	}
	if o.RollbackTimeout < 0 {
		return cli.Usagef("--rollback-timeout must not be negative")
	}
	if o.Image == "" && o.FrontendImage == "" {
		return cli.Usagef("nothing to update: give --image and/or --frontend-image")
	}
	for _, x := range []struct {
		repo, ref string
		dst       *string
	}{{app.APIImage, o.Image, &o.apiRef}, {app.FrontendImage, o.FrontendImage, &o.feRef}} {
		if x.ref == "" {
			continue
		}
		img, err := render.ParseImage(x.repo, x.ref)
		if err != nil {
			return cli.Usagef("%v", err)
		}
		*x.dst = render.ImageRef(img)
	}
	if err := o.Migrate.validate(o.apiRef); err != nil {
		return err
	}
	return o.Fleet.validate(o)
}

// Run sets the images, waits, and rolls back on failure; with --fleet, it
// releases wave by wave (see runFleet).
func (o *UpdateOptions) Run(ctx context.Context) error {
	if o.Fleet.on() {
		return o.runFleet(ctx)
	}
	targets, err := o.loadTargets(ctx)
	if err != nil {
		return err
	}
	if o.Migrate.On {
		if err := o.Migrate.run(ctx, o.Global, o.apiRef, o.DryRun.Active()); err != nil {
			return err
		}
	}
	if o.DryRun.Client() {
		for _, t := range targets {
			fmt.Fprintf(o.Out, "%s/%s image %s -> %s%s\n", kindLower(t.comp.Kind), t.name, t.oldImage, t.newImage, o.DryRun.Suffix())
		}
		return nil
	}
	cause := o.changeCause()
	if _, err := o.applyImages(ctx, targets, cause); err != nil {
		return err
	}
	if o.DryRun.Active() || !o.Wait {
		return nil
	}
	return o.waitForUpdate(ctx, targets, cause)
}

// loadTargets reads the workloads the update moves, with their current images.
func (o *UpdateOptions) loadTargets(ctx context.Context) ([]target, error) {
	cs, err := o.Clientset()
	if err != nil {
		return nil, err
	}
	var targets []target
	add := func(compName, ref string) error {
		comp, _ := app.LookupComponent(compName)
		t, err := currentTarget(ctx, cs, o.Namespace, o.Env, comp)
		if err != nil {
			return err
		}
		t.newImage = ref
		targets = append(targets, t)
		return nil
	}
	if o.apiRef != "" {
		if err := add(app.API, o.apiRef); err != nil {
			return nil, err
		}
		if err := add(app.Worker, o.apiRef); err != nil {
			return nil, err
		}
	}
	if o.feRef != "" {
		if err := add(app.Frontend, o.feRef); err != nil {
			return nil, err
		}
	}
	return targets, nil
}

// changeCause is --change-cause, else the command line's intent.
func (o *UpdateOptions) changeCause() string {
	if o.ChangeCause != "" {
		return o.ChangeCause
	}
	cause := "kubectl piyasa deploy update"
	if o.apiRef != "" {
		cause += " --image " + o.apiRef
	}
	if o.feRef != "" {
		cause += " --frontend-image " + o.feRef
	}
	return cause
}

// applyImages sets the new images of targets and returns how many it set;
// when a later one fails, the ones already set are put back (api and worker
// must run one image).
func (o *UpdateOptions) applyImages(ctx context.Context, targets []target, cause string) (int, error) {
	cs, err := o.Clientset()
	if err != nil {
		return 0, err
	}
	for i, t := range targets {
		// api and worker are set together: a signal stops the command after
		// the pair, not between (each patch is one short request).
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), patchTimeout)
		err := setImage(pctx, cs, o.Namespace, t, t.newImage, cause, o.DryRun)
		cancel()
		if err != nil {
			if o.DryRun.Active() {
				return 0, err // nothing was changed
			}
			if i == 0 {
				if o.Migrate.done == nil {
					return 0, err // nothing was changed
				}
				return 0, o.Migrate.explainRollback(o.Global, cli.Failedf("setting the image failed, no image was changed: %v", err))
			}
			// api and worker must run one image: put back what was set.
			return i, o.Migrate.explainRollback(o.Global, o.rollBack(ctx, targets[:i], cause, err))
		}
		fmt.Fprintf(o.Out, "%s/%s image %s -> %s%s\n", kindLower(t.comp.Kind), t.name, t.oldImage, t.newImage, o.DryRun.Suffix())
	}
	return len(targets), nil
}

// waitForUpdate waits for the new images to roll out; a failed rollout is
// rolled back (unless --no-rollback) and ends with exit 1.
func (o *UpdateOptions) waitForUpdate(ctx context.Context, targets []target, cause string) error {
	if ctx.Err() != nil {
		return o.interruptedUpdate(targets)
	}
	wcs, err := o.Global.WatchClientset()
	if err != nil {
		return err
	}
	w := &Waiter{CS: wcs, NS: o.Namespace, Timeout: o.Timeout, Progress: o.ErrOut, Now: o.Now}
	_, werr := w.Wait(ctx, targetWorkloads(targets))
	if werr == nil {
		fmt.Fprintf(o.Out, "update complete: %s\n", describeTargets(targets, false))
		return nil
	}
	if ctx.Err() != nil && !isTimeout(werr) {
		return o.interruptedUpdate(targets)
	}
	if kube.IsConnectionLost(werr) {
		// Nothing can be rolled back while the API server cannot be reached.
		return (&cli.Error{Code: cli.ExitCluster, Msg: werr.Error()}).
			WithHint("the new images are set and nothing was rolled back; when the cluster answers again: kubectl piyasa deploy status -n %s", o.Namespace)
	}
	if o.NoRollback {
		return waitErr(ctx, o.Global, werr) // the new images stay: they match the migrated schema
	}
	return o.Migrate.explainRollback(o.Global, o.rollBack(ctx, targets, cause, werr))
}

// patchTimeout bounds one patch that a signal does not cut short.
const patchTimeout = 30 * time.Second

// interruptedUpdate is the exit-130 error of an update stopped while waiting:
// the new images stay set and roll out; nothing is rolled back.
func (o *UpdateOptions) interruptedUpdate(targets []target) error {
	return cli.Interruptedf("interrupted while waiting for the update: %s stay set and roll out in the cluster; nothing was rolled back", describeTargets(targets, false)).
		WithHint("follow the rollout with: kubectl piyasa deploy status -n %s; go back with: kubectl piyasa deploy rollback -n %s", o.Namespace, o.Namespace)
}

// rollBack puts the old images of targets back after the update failed with
// cause, waits for them with its own timeout (failing fast as the update's
// wait does), and returns the exit-1 error. The images are put back even
// when a signal came meanwhile (a few short patches: api and worker end on
// one image); the wait then ends at once with exit 130.
func (o *UpdateOptions) rollBack(ctx context.Context, targets []target, cause string, failure error) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	o.Infof("\nUpdate failed: %v\nRolling back to the previous images...\n", failure)
	for _, t := range targets {
		if err := revertImage(ctx, cs, o.Namespace, t, "rollback: "+cause+" failed", false); err != nil {
			return cli.Failedf("update failed (%v) and the rollback failed too: %v", failure, err).WithHint("roll back by hand: kubectl piyasa deploy rollback -n %s", o.Namespace)
		}
		fmt.Fprintf(o.Out, "%s/%s image %s -> %s (rolled back)\n", kindLower(t.comp.Kind), t.name, t.newImage, t.oldImage)
	}
	interrupted := func() error {
		return cli.Interruptedf("interrupted while waiting for the rollback: the update failed (%s) and %s are set back; the rollback goes on in the cluster",
			oneLine(failure.Error()), describeTargets(targets, true)).
			WithHint("follow it with: kubectl piyasa deploy status -n %s", o.Namespace)
	}
	if ctx.Err() != nil {
		return interrupted()
	}
	wcs, err := o.Global.WatchClientset()
	if err != nil {
		return err
	}
	rw := &Waiter{CS: wcs, NS: o.Namespace, Timeout: o.RollbackTimeout, Progress: o.ErrOut, Now: o.Now}
	if _, err := rw.Wait(ctx, targetWorkloads(targets)); err != nil {
		if ctx.Err() != nil && !isTimeout(err) {
			return interrupted()
		}
		return cli.Failedf("update failed (%v); rolled back, but the rollback is not ready either: %v", failure, err).WithHint("see why: kubectl piyasa diagnose -n %s", o.Namespace)
	}
	return cli.Failedf("update failed and was rolled back to %s: %v", describeTargets(targets, true), failure).
		WithHint("the previous images run again; fix the image and retry")
}

func targetWorkloads(ts []target) []kube.Workload {
	out := make([]kube.Workload, len(ts))
	for i, t := range ts {
		out[i] = kube.Workload{Component: t.comp.Name, Kind: t.comp.Kind, Name: t.name}
	}
	return out
}
