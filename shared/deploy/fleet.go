package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// fleetRun is `deploy --fleet FILE`: every region of the fleet, each with
// its own deploy on its own Global (the region's context, environment and
// namespace), the primary first, then the standbys in wave order.
type fleetRun struct {
	fleet *fleet.Fleet
	// repl are the fleet's replication settings.
	repl fleet.Replication
	// regions in deploy order, and each region's deploy.
	regions []fleet.Region
	deploys []*Options
	// prepare, when set, is called with each region's Global before it is
	// completed (a test sets fake clients there).
	prepare func(fleet.Region, *cli.Global)
	// exec runs psql in the primary's postgres pod (a test replaces it).
	exec stdinExec
}

// deployOrder is the primary, then the standbys by wave (the file's order within a wave).
func deployOrder(f *fleet.Fleet) []fleet.Region {
	var standbys []fleet.Region
	for _, r := range f.Regions {
		if r.Role != fleet.RolePrimary {
			standbys = append(standbys, r)
		}
	}
	sort.SliceStable(standbys, func(i, j int) bool { return standbys[i].Wave < standbys[j].Wave })
	return append([]fleet.Region{f.Primary()}, standbys...)
}

// completeFleet reads the fleet file and makes each region's deploy: its
// Global, its rendered role, the .env read once for all.
func (o *Options) completeFleet(cmd *cobra.Command) error {
	for _, name := range []string{"context", "namespace", "env", "manifests"} {
		if f := cmd.Flag(name); f != nil && f.Changed {
			return cli.Usagef("--%s cannot be used with --fleet: the fleet file names each region's context, environment and namespace, and a region renders the embedded manifests", name).
				WithHint("leave out --%s, or deploy one cluster without --fleet", name)
		}
	}
	if !o.Wait {
		return cli.Usagef("--wait=false cannot be used with --fleet: the standbys clone the primary's database, which must be up first")
	}
	var err error
	if o.DryRun, err = completeDryRun(cmd, o.Global); err != nil {
		return err
	}
	if o.fl.fleet, err = fleet.Load(o.Fleet); err != nil {
		return err
	}
	if s := o.fl.fleet.Settings.StandbyAPI; s != fleet.StandbyZero {
		return cli.Usagef("%s: settings.standbyApi is %s, but the app has no read-only switch: its api would write to the standby's read-only database", o.Fleet, s).
			WithHint("set 'standbyApi: %s' under settings: the standby's api and frontend at 0, started by a failover", fleet.StandbyZero)
	}
	if o.fl.repl, err = o.fl.fleet.Replication(); err != nil {
		return err
	}
	if o.fl.repl.Host, o.fl.repl.Port, err = fleet.DatabaseAddress(o.fl.fleet, o.fl.fleet.Primary(), o.fl.repl); err != nil {
		return err
	}
	if o.env, err = readEnvFile(o.EnvFile); err != nil {
		return err
	}
	o.fl.regions = deployOrder(o.fl.fleet)
	for _, r := range o.fl.regions {
		ro, err := o.regionDeploy(r)
		if err != nil {
			return err
		}
		o.fl.deploys = append(o.fl.deploys, ro)
	}
	return nil
}

// regionDeploy makes the deploy of one region: a Global on the region's
// context, environment and namespace with the other flags of o, and the
// manifests of its role.
func (o *Options) regionDeploy(r fleet.Region) (*Options, error) {
	g := cli.NewGlobal(o.IOStreams)
	g.Inherit(o.Global, r.Context, r.Environment, r.EffectiveNamespace())
	if o.fl.prepare != nil {
		o.fl.prepare(r, g)
	}
	if err := g.Complete(); err != nil {
		return nil, err
	}
	ro := &Options{Global: g, EnvFile: o.EnvFile, Image: o.Image, FrontendImage: o.FrontendImage, DryRun: o.DryRun,
		waitFlags: o.waitFlags, monitoringFlag: monitoringFlag{Monitoring: o.Monitoring}, env: o.env}
	s := o.fl.repl
	reg := &render.Region{Role: r.Role, ServiceType: s.ServiceType, PrimaryHost: s.Host, PrimaryPort: s.Port}
	var err error
	if ro.objs, err = renderWith(render.Options{Env: g.Env, Namespace: g.Namespace, APIImage: o.Image, FrontendImage: o.FrontendImage, Region: reg}); err != nil {
		return nil, err
	}
	if err := ro.monitoringFlag.complete(g); err != nil {
		return nil, err
	}
	return ro, nil
}

// validateFleet checks the flags and the .env for every region's environment.
func (o *Options) validateFleet() error {
	if err := o.waitFlags.validate(); err != nil {
		return err
	}
	for _, ro := range o.fl.deploys {
		if err := ro.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// heading introduces a region's output, as the fan-out of the read commands does.
func heading(r fleet.Region, ns string) string {
	return fleet.Heading(fleet.Result{Target: fleet.Target{Context: r.Context, Region: r.Name, Role: r.Role}, Namespace: ns})
}

// runFleet deploys the regions in order; the first region that fails stops
// the run, and the later regions are not touched.
func (o *Options) runFleet(ctx context.Context) error {
	primary := o.fl.deploys[0]
	o.Infof("Deploying fleet %s: %s%s\n", o.Fleet, o.orderText(), o.DryRun.Suffix())
	if o.DryRun.Client() {
		return o.planFleet(ctx)
	}
	data, generated, err := replicationData(ctx, primary.Global, o.Now())
	if err != nil {
		return o.regionError(0, err, "", "")
	}
	if generated {
		o.Infof("a new replication password and PostgreSQL certificate (Secret %s, the same in every region; values not shown)\n", app.ReplicationSecret)
	}
	var host string
	var port int
	for i, ro := range o.fl.deploys {
		r := o.fl.regions[i]
		fmt.Fprintln(o.Out, heading(r, ro.Namespace))
		if r.Role == fleet.RoleStandby {
			if err := render.SetPrimary(ro.objs, host, port); err != nil {
				return err
			}
			if err := followPrimary(primary, ro); err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "deployment/%s%s: %s clones the primary region %s at %s when its data directory is empty%s\n",
				ro.Env.Prefix, app.Postgres, app.CloneContainer, o.fl.regions[0].Name, hostPort(host, port), o.DryRun.Suffix())
		}
		if err := o.deployRegion(ctx, ro, data); err != nil {
			return o.regionError(i, err, "", o.failHint(i, host, port))
		}
		if r.Role != fleet.RolePrimary {
			continue
		}
		if err := o.replicationRole(ctx, ro, data[app.KeyReplicationPassword]); err != nil {
			return o.regionError(i, err, "", "")
		}
		if host, port, err = o.primaryAddress(ctx, ro); err != nil && len(o.fl.regions) > 1 {
			return o.regionError(1, err, fmt.Sprintf("cannot follow the primary region %s: ", r.Name), o.addressHint())
		}
	}
	o.Infof("fleet deployed%s: %s\n", o.DryRun.Suffix(), o.orderText())
	return nil
}

// followPrimary gives a standby's deploy what its primary's deploy ended
// with: the images (given, or kept running) and TOTAL_WORKERS (kept as
// scale worker set it), so that a failover starts the same release with the
// same sharding.
func followPrimary(primary, standby *Options) error {
	for _, x := range []struct {
		comps []string
		image *string
	}{{[]string{app.API, app.Worker}, &standby.Image}, {[]string{app.Frontend}, &standby.FrontendImage}} {
		if img := renderedImage(primary.objs, x.comps[0]); img != "" {
			*x.image = img
			setRenderedImage(standby.objs, img, x.comps...)
		}
	}
	n := configData(primary.objs, primary.Env)[app.KeyTotalWorkers]
	cm := renderedConfigMap(standby.objs, standby.Env)
	if n == "" || cm == nil {
		return nil
	}
	return unstructured.SetNestedField(cm.Object, n, "data", app.KeyTotalWorkers)
}

// renderedImage is the image of a component's container in the rendered
// workloads ("" when none).
func renderedImage(objs []*unstructured.Unstructured, comp string) string {
	for _, u := range objs {
		if (u.GetKind() != app.KindDeployment && u.GetKind() != app.KindStatefulSet) || workloadComponent(u) != comp {
			continue
		}
		ctrs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		var img string
		for i, c := range ctrs {
			m, _ := c.(map[string]any)
			if i == 0 || m["name"] == comp {
				img, _ = m["image"].(string)
			}
		}
		return img
	}
	return ""
}

// deployRegion checks the region's rights, writes Secret piyasa-replication
// and deploys the app there (applies and waits).
func (o *Options) deployRegion(ctx context.Context, ro *Options, data map[string][]byte) error {
	n, err := ro.NeededRights(ctx)
	if err != nil {
		return err
	}
	if n != nil {
		if err := ro.CheckRights(ctx, n); err != nil {
			return err
		}
	}
	if err := applyReplicationSecret(ctx, ro.Global, data, o.DryRun); err != nil {
		return err
	}
	return ro.Run(ctx)
}

// replicationRole makes the replication role in the deployed primary.
func (o *Options) replicationRole(ctx context.Context, ro *Options, password []byte) error {
	if o.DryRun.Active() {
		return nil
	}
	exec := o.fl.exec
	if exec == nil {
		exec = kubeStdinExec
	}
	if err := ensureReplicationRole(ctx, ro.Global, exec, password); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "role %s created or updated (replication, login, the Secret's password)\n", app.ReplicationRole)
	return nil
}

// primaryAddress returns the address at which the standbys reach the
// deployed primary ro; a server dry run, before the primary exists, takes
// the fleet's settings.
func (o *Options) primaryAddress(ctx context.Context, ro *Options) (string, int, error) {
	s := o.fl.repl
	host, port, err := primaryAddress(ctx, ro.Global, s)
	if err != nil && o.DryRun.Active() {
		o.Infof("the standbys' primary address is not known before the primary is deployed (%s)\n", cli.Classify(err, "").Msg)
		return s.Host, s.Port, nil
	}
	if err == nil {
		fmt.Fprintf(o.Out, "service/%s%s: the standbys reach the primary at %s%s\n", ro.Env.Prefix, app.ReplicationService, hostPort(host, port), o.DryRun.Suffix())
	}
	return host, port, err
}

// planFleet prints what deploy --fleet would do, without a request.
func (o *Options) planFleet(ctx context.Context) error {
	s := o.fl.repl
	address := "the load-balancer address of the primary's Service"
	if s.Host != "" {
		address = s.Host
		if s.Port != 0 {
			address = hostPort(s.Host, s.Port)
		}
	}
	suffix := o.DryRun.Suffix()
	for i, ro := range o.fl.deploys {
		r := o.fl.regions[i]
		fmt.Fprintln(o.Out, heading(r, ro.Namespace))
		fmt.Fprintf(o.Out, "secret/%s (%s, made once and the same in every region, values not shown)%s\n", app.ReplicationSecret, strings.Join(replicationKeys, ", "), suffix)
		if err := ro.Run(ctx); err != nil {
			return err
		}
		if r.Role == fleet.RolePrimary {
			fmt.Fprintf(o.Out, "role %s created or updated in the database through psql in the postgres pod%s\n", app.ReplicationRole, suffix)
			fmt.Fprintf(o.Out, "service/%s%s (type %s): the standbys reach it at %s%s\n", ro.Env.Prefix, app.ReplicationService, s.ServiceType, address, suffix)
			continue
		}
		fmt.Fprintf(o.Out, "deployment/%s%s: %s clones the primary region %s at %s when its data directory is empty; workers, api and frontend at 0%s\n",
			ro.Env.Prefix, app.Postgres, app.CloneContainer, o.fl.regions[0].Name, address, suffix)
	}
	return nil
}

// orderText names the regions in deploy order: "eu (primary), then us (standby, wave 2)".
func (o *Options) orderText() string {
	parts := make([]string, len(o.fl.regions))
	for i, r := range o.fl.regions {
		parts[i] = fmt.Sprintf("%s (%s, wave %d)", r.Name, r.Role, r.Wave)
	}
	return strings.Join(parts, ", then ")
}

// regionError names the region in which err happened, and the regions not
// deployed because of it; the exit code is err's.
func (o *Options) regionError(i int, err error, what, hint string) error {
	e := o.fl.deploys[i].Outcome(err)
	if e == nil {
		return nil
	}
	r := o.fl.regions[i]
	msg := fmt.Sprintf("region %s (%s, context %s): %s%s", r.Name, r.Role, r.Context, what, e.Msg)
	var later []string
	for _, l := range o.fl.regions[i+1:] {
		later = append(later, l.Name)
	}
	hints := []string{}
	for _, h := range []string{e.Hint, hint} {
		if h != "" {
			hints = append(hints, h)
		}
	}
	if len(later) > 0 {
		hints = append(hints, fmt.Sprintf("not deployed: %s; run deploy --fleet again once this is fixed", strings.Join(later, ", ")))
	}
	return &cli.Error{Code: e.Code, Msg: msg, Hint: strings.Join(hints, "; ")}
}

// failHint says what to check when a standby's deploy failed: whether it
// reaches the primary.
func (o *Options) failHint(i int, host string, port int) string {
	r := o.fl.regions[i]
	if r.Role != fleet.RoleStandby {
		return ""
	}
	ro := o.fl.deploys[i]
	return fmt.Sprintf("if its PostgreSQL cannot clone the primary region %s (kubectl logs deployment/%s%s -c %s -n %s --context %s), check that the cluster of %s reaches %s",
		o.fl.regions[0].Name, ro.Env.Prefix, app.Postgres, app.CloneContainer, ro.Namespace, r.Context, r.Name, hostPort(host, port))
}

// addressHint says how to give the standbys the primary's address.
func (o *Options) addressHint() string {
	return fmt.Sprintf("set settings.primaryHost (and primaryPort) in %s to where the standbys' clusters reach the primary's Service %s%s, or wait until its load balancer has an address",
		o.Fleet, o.fl.deploys[0].Env.Prefix, app.ReplicationService)
}
