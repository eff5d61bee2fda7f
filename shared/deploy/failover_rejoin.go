package deploy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/replication"
)

// RejoinOptions is `failover rejoin REGION`: a standby region of the fleet
// whose database does not follow the primary (the old primary after a
// failover) is fenced, its data directory set aside and cloned afresh from
// the primary, and it runs as a hot standby again.
type RejoinOptions struct {
	*cli.Global
	Fleet          string
	Yes            bool
	Timeout        time.Duration
	ClusterTimeout time.Duration

	fl              *fleet.Fleet
	repl            fleet.Replication
	region, primary *foRegion
}

func newCmdRejoin(g *cli.Global) *cobra.Command {
	o := &RejoinOptions{Global: g, Timeout: DefaultTimeout, ClusterTimeout: fleet.DefaultClusterTimeout}
	cmd := &cobra.Command{
		Use:   "rejoin --fleet FILE REGION",
		Short: "Bring a region back as a hot standby of the primary (after a failover): fence, clone, follow",
		Long: `Bring REGION, a standby in the fleet file (the old primary after a failover), back as a
hot standby of the primary region: fence it (workers, api, frontend and PostgreSQL to 0),
set its data directory aside (kept beside it as pgdata.before-rejoin-TIME: the writes the
failover lost are there), clone the primary into a new one (pg_basebackup over TLS as
piyasa_replicator), give it the standby's objects and wait until it streams.
Asks to type the region's name unless --yes.
Exit codes: 0 streaming; 1 a step failed; 2 bad input or not confirmed; 3 a cluster
unreachable or forbidden; 130 interrupted.`,
		Example: `  kubectl piyasa failover rejoin --fleet piyasa-fleet.yaml eu`,
		Args:    cobra.ExactArgs(1),
		RunE:    cli.RunE(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.Fleet, "fleet", "", "The fleet file ("+fleet.DefaultFile+")")
	f.BoolVar(&o.Yes, "yes", false, "Do not ask to type the region's name")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for each stop, clone and start")
	f.DurationVar(&o.ClusterTimeout, "cluster-timeout", o.ClusterTimeout, "How long to wait for a region's answer")
	_ = cmd.MarkFlagFilename("fleet", "yaml", "yml")
	return cmd
}

// Complete reads the fleet file and finds the region.
func (o *RejoinOptions) Complete(cmd *cobra.Command, args []string) error {
	for _, name := range []string{"context", "namespace", "env"} {
		if f := cmd.Flag(name); f != nil && f.Changed {
			return cli.Usagef("--%s cannot be used with failover rejoin: the fleet file names each region's context, environment and namespace", name)
		}
	}
	if o.Fleet == "" {
		return cli.Usagef("failover rejoin needs --fleet FILE")
	}
	var err error
	if o.fl, err = o.loadFleet(); err != nil {
		return err
	}
	r, ok := fleet.FindRegion(o.fl, args[0])
	if !ok {
		return cli.Usagef("%s: no region of %s has this name or context", args[0], o.Fleet).WithHint("the regions: %s", regionList(o.fl))
	}
	if r.Role == fleet.RolePrimary {
		return cli.Usagef("region %s is the primary in %s: only a standby rejoins", r.Name, o.Fleet).
			WithHint("after a failover the file names the new primary; check %s", o.Fleet)
	}
	if o.region, err = newFoRegion(o.Global, r); err != nil {
		return err
	}
	o.primary, err = newFoRegion(o.Global, o.fl.Primary())
	return err
}

func (o *RejoinOptions) loadFleet() (*fleet.Fleet, error) {
	f, err := fleet.Load(o.Fleet)
	if err != nil {
		return nil, err
	}
	o.repl, err = f.Replication()
	return f, err
}

// Validate checks the flags (no I/O).
func (o *RejoinOptions) Validate() error {
	if o.Timeout <= 0 || o.ClusterTimeout <= 0 {
		return cli.Usagef("--timeout and --cluster-timeout must be positive")
	}
	return nil
}

// Run fences the region, clones the primary into it and waits until it streams.
func (o *RejoinOptions) Run(ctx context.Context) error {
	r, p := o.region, o.primary
	st, err := p.replication(ctx, o.ClusterTimeout)
	if err != nil {
		return fmt.Errorf("region %s (the primary): cannot read its database: %w", p.Name, err)
	}
	if st.Role != replication.RolePrimary {
		return cli.Failedf("region %s's database is not a primary (%s): there is nothing to rejoin yet", p.Name, st.Message)
	}
	if err := r.checkRights(ctx, "failover rejoin", o.ClusterTimeout); err != nil {
		return fmt.Errorf("region %s (context %s): before anything was changed: %w", r.Name, r.Context, err)
	}
	if !o.Yes {
		if err := confirmRegion(o.Global, fmt.Sprintf("This stops the app and PostgreSQL of region %s and clones %s's database there (its data directory is kept aside).", r.Name, p.Name), r.Name); err != nil {
			return err
		}
	}
	host, port, err := p.address(ctx, o.fl, o.repl)
	if err != nil {
		return err
	}
	pw, err := r.replicationPassword(ctx)
	if err != nil {
		return err
	}
	o.Infof("%s: fencing: workers, api, frontend and PostgreSQL to 0\n", r.Name)
	if err := r.scale(ctx, map[string]int32{app.Worker: 0, app.API: 0, app.Frontend: 0, app.Postgres: 0}, true, o.Timeout); err != nil {
		return fmt.Errorf("region %s: the fence did not finish: %w", r.Name, err)
	}
	o.Infof("%s: cloning %s at %s (the data directory set aside first)\n", r.Name, p.Name, hostPort(host, port))
	suffix := asideSuffix + o.Now().UTC().Format("20060102T150405Z")
	out, err := r.inDataJob(ctx, recloneScript, pw, o.Timeout, host, strconv.Itoa(port), "piyasa-"+r.Name, suffix)
	if err != nil {
		return cli.Failedf("region %s: the clone failed: %v; its data directory is as it was and the region is fenced", r.Name, err).
			WithHint("check that %s's cluster reaches %s, then run the same rejoin again", r.Name, hostPort(host, port))
	}
	aside := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "aside"))
	o.Infof("%s: standby objects applied; PostgreSQL starts as a hot standby\n", r.Name)
	if err := r.applyRole(ctx, o.repl, app.RegionStandby, host, port); err != nil {
		return err
	}
	fo := &FailoverOptions{Global: o.Global, Timeout: o.Timeout, ClusterTimeout: o.ClusterTimeout}
	if err := fo.waitStreaming(ctx, r); err != nil {
		return fmt.Errorf("region %s: cloned, but PostgreSQL is not streaming: %w", r.Name, err)
	}
	fmt.Fprintf(o.Out, "region %s is a hot standby of %s again, streaming from %s\n", r.Name, p.Name, hostPort(host, port))
	if aside != "" {
		fmt.Fprintf(o.Out, "its old data directory is kept at %s on volume %s (delete it once nothing there is needed)\n", aside, r.g.Env.ObjectName(app.PostgresPVC))
	}
	return nil
}
