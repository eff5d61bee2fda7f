package deploy

import (
	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/access"
	"github.com/piyasa/kubectl-piyasa/shared/cleanup"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/deploytls"
)

// NewCmd returns the root command of kubectl-piyasa-deploy: deploy itself
// (the guide's Procedure 1) and its subcommands.
func NewCmd(g *cli.Global) *cobra.Command {
	root := cli.NewRoot("deploy", g)
	o := NewOptions(g)
	root.Long = `Deploy the app: validate the .env, create the namespace and Secret piyasa-secrets,
render the environment's overlay (embedded, or --manifests DIR), apply it server-side
(field manager kubectl-piyasa) and wait, by watching, until every component is ready.
A pod in CrashLoopBackOff, OOMKilled, ImagePullBackOff, CreateContainerConfigError or
Unschedulable, or pods the API server refuses (a ResourceQuota), stop the wait at once
(exit 1) with the pod's events and last log lines, or the refusal.

A redeploy keeps the running api/worker/frontend images (unless --image/--frontend-image)
and a consistent worker count (replicas = TOTAL_WORKERS, as 'kubectl piyasa scale worker'
sets it), and restarts the api and workers when piyasa-config or piyasa-secrets changed.
It puts back the manifests' piyasa-config values and HPA bounds, and says so for each
("reverting LOG_LEVEL DEBUG -> INFO"): 'config set' and 'scale hpa' last until the next deploy.
The api's ServiceMonitor (manifests/monitoring) is applied where the cluster serves the
Prometheus operator's monitoring.coreos.com/v1 CRD (--monitoring auto|on|off).
With --fleet FILE, every region of the fleet: the primary first, then the standbys in
wave order, the standbys' PostgreSQL a hot standby cloned from and streaming from the
primary's (see "Fleets" in the README).
Exit codes: 0 ready; 1 rollout failed or timed out; 2 bad input (nothing applied);
3 cluster unreachable or forbidden; 130 interrupted (what was applied stays).`
	root.Example = `  kubectl piyasa deploy init-env -f .env
  kubectl piyasa deploy --env dev --env-file .env
  kubectl piyasa deploy --env prod --env-file .env.prod --image v2.0.0
  kubectl piyasa deploy --env dev -n my-test --dry-run=server
  kubectl piyasa deploy --fleet piyasa-fleet.yaml --env-file .env.prod --dry-run=client`
	root.Args = cobra.NoArgs
	root.RunE = cli.RunE(o)
	o.AddFlags(root)
	root.AddCommand(
		NewCmdInitEnv(g),
		NewCmdRender(g),
		NewCmdStatus(g),
		NewCmdDiff(g),
		NewCmdUpdate(g),
		NewCmdRollback(g),
		NewCmdHistory(g),
		NewCmdConfig(g),
		NewCmdSecret(g),
		NewCmdDelete(g),
		NewCmdFailover(g),
		access.NewCmd(g),
		deploytls.NewCmd(g),
		cleanup.NewCmd(g),
	)
	return root
}
