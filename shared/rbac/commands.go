package rbac

import (
	"fmt"
	"strings"
)

// Command is what one command of the suite needs in the app's namespace: the
// rights its Run may use (checked before it changes anything), rights it can
// do without (Optional: the command degrades, e.g. diagnose skips the checks
// that need them), cluster-scoped reads (ClusterRole piyasa-cluster-reader;
// always optional) and the least of the suite's Roles that grants Rights.
type Command struct {
	// Path is the command as typed after "kubectl piyasa" ("deploy config set").
	Path string
	Role string
	// Rights are required: the command stops with exit 3 before its first
	// change when one is missing.
	Rights []Right
	// Optional rights: without them the command says what it skipped.
	Optional []Right
	// Cluster are the cluster-scoped reads it makes when allowed.
	Cluster []Right
	// Note says what the rights are for, for the README's table.
	Note string
}

// Right sets shared by several commands.
var (
	// ownNamespace is the Namespace object of the app's namespace (a
	// RoleBinding in it covers that object); Check fills in its name.
	ownNamespace = []Right{{Verb: "get", Resource: "namespaces"}}

	// waitRights are those of waiting for a rollout by watching (one LIST and
	// one WATCH of Deployments, StatefulSets, ReplicaSets (the pods of the
	// revision rolled out), Pods and Events), and of the pod
	// table printed after it.
	waitRights = Join(R("apps", []string{"deployments", "statefulsets", "replicasets"}, "list", "watch"), R("", []string{"pods", "events"}, "list", "watch"))

	// restartRights are those of restarting api and worker (the restartedAt annotation).
	restartRights = R("apps", []string{"deployments", "statefulsets"}, "patch")

	// diagnoseReads are diagnose's namespaced LISTs (one per kind) and the log lines of failing pods.
	diagnoseReads = Join(
		R("", []string{"pods", "services", "configmaps", "persistentvolumeclaims", "serviceaccounts", "events"}, "list"),
		R("", []string{"pods/log"}, "get"),
		R("apps", []string{"deployments", "statefulsets"}, "list"),
		R("batch", []string{"cronjobs", "jobs"}, "list"),
		R("autoscaling", []string{"horizontalpodautoscalers"}, "list"),
		R("networking.k8s.io", []string{"ingresses", "networkpolicies"}, "list"),
		R("policy", []string{"poddisruptionbudgets"}, "list"),
		R("discovery.k8s.io", []string{"endpointslices"}, "list"),
		R("cert-manager.io", []string{"certificates"}, "list"),
	)
	// diagnoseLogs are diagnose logs' reads: the component's pods (one LIST and,
	// with -f, one WATCH) and their logs.
	diagnoseLogs = Join(R("", []string{"pods"}, "list", "watch"), R("", []string{"pods/log"}, "get"))

	// clusterReads are the cluster-scoped reads of diagnose.
	clusterReads = Join(
		Cluster("", []string{"nodes"}, "list"),
		Cluster("storage.k8s.io", []string{"storageclasses"}, "list"),
		Cluster("networking.k8s.io", []string{"ingressclasses"}, "list"),
		[]Right{{Verb: "get", Group: "apiregistration.k8s.io", Resource: "apiservices", Name: "v1beta1.metrics.k8s.io", Cluster: true}},
	)

	// execRights are those of running a command in a pod of the app (pg_dump,
	// psql, alembic): an exec over WebSocket is a GET, for which the API
	// server also checks create.
	execRights = Join(R("", []string{"pods"}, "list"), podsExec)
	podsExec   = R("", []string{"pods/exec"}, "get", "create")

	backupCreate = Join(R("apps", []string{"deployments", "statefulsets"}, "get"), execRights)

	// opLock is the database operation lock that every operation changing
	// the database takes: the Lease, the Job it names (get) and the running
	// Jobs of the backup CronJob, which hold it too (list).
	opLock = Join(R("coordination.k8s.io", []string{"leases"}, "get", "create", "update", "delete"), R("batch", []string{"jobs"}, "get", "list"))
	// lockRead reads the lock: the Lease and the state of the Job it names.
	lockRead = Join(R("coordination.k8s.io", []string{"leases"}, "get"), R("batch", []string{"jobs"}, "get"))

	// migrateRun are those of migrate up and down: the lock, the Job, its
	// pods' log, the database check (exec into postgres).
	migrateRun = Join(
		R("apps", []string{"deployments"}, "get"),
		execRights,
		R("", []string{"pods"}, "watch"),
		R("", []string{"pods/log"}, "get"),
		R("", []string{"events"}, "list"),
		opLock,
		R("batch", []string{"jobs"}, "get", "list", "watch", "create", "delete"),
	)

	// browsePod is the short-lived pod that mounts the backup PVC.
	browsePod = Join(R("", []string{"pods"}, "get", "create", "delete"), podsExec)

	secretRights = R("", []string{"secrets"}, "get", "create", "update")

	// planReads are what a redeploy reads to keep (images, worker count, the
	// backup schedule set with `backup schedule set`) and revert (config, HPA bounds).
	planReads = Join(R("apps", []string{"deployments", "statefulsets"}, "get"), R("autoscaling", []string{"horizontalpodautoscalers"}, "get"), R("", []string{"configmaps"}, "get"),
		R("batch", []string{"cronjobs"}, "get"))
)

// Commands lists every command of the suite that talks to the cluster, with
// what it needs. deploy, deploy diff and deploy update --migrate need more
// (the kinds of the manifests, a backup and a migration): see DeployApply.
var Commands = []Command{
	{Path: "deploy status", Role: Viewer, Rights: R("apps", []string{"deployments", "statefulsets"}, "list")},
	{Path: "deploy history", Role: Viewer, Rights: Join(R("apps", []string{"deployments", "statefulsets"}, "get"), R("apps", []string{"replicasets"}, "list"))},
	{Path: "scale status", Role: Viewer,
		Rights: Join(R("apps", []string{"deployments", "statefulsets"}, "list"), R("autoscaling", []string{"horizontalpodautoscalers"}, "list"),
			R("", []string{"pods", "events"}, "list"), R("", []string{"configmaps"}, "get")),
		Optional: R("metrics.k8s.io", []string{"pods"}, "list"), Note: "without metrics.k8s.io the CPU and memory are <unknown> with the reason"},
	{Path: "scale status -w", Role: Viewer,
		Rights: Join(R("apps", []string{"deployments", "statefulsets"}, "list", "watch"), R("autoscaling", []string{"horizontalpodautoscalers"}, "list", "watch"),
			R("", []string{"pods", "events", "configmaps"}, "list", "watch")),
		Optional: R("metrics.k8s.io", []string{"pods"}, "list"), Note: "one watch per kind; metrics are re-read every 15 s"},
	{Path: "diagnose", Role: Viewer, Optional: Join(diagnoseReads, R("", []string{"secrets"}, "list")), Cluster: clusterReads,
		Note: "each kind it may not list skips the checks that need it (exit 3 when most are skipped); a viewer has no Secret right: PIY201, PIY203-205 and PIY504-506 are skipped"},
	{Path: "diagnose --probe", Role: Operator, Optional: Join(podsExec, R("", []string{"pods/proxy"}, "get")),
		Note: "the probes exec into the postgres and redis pods and call the api pods' /readyz; refused, a probe is PIY979"},
	{Path: "diagnose bundle", Role: Viewer, Optional: Join(diagnoseReads, R("", []string{"secrets"}, "list")), Cluster: clusterReads,
		Note: "without list secrets, Secret values cannot be scrubbed: the logs are left out (credential patterns are masked in the rest)"},
	{Path: "diagnose logs --no-mask", Role: Viewer, Rights: diagnoseLogs,
		Note: "the logs unmasked (credential patterns still are): what kubectl logs shows a viewer"},
	{Path: "diagnose top", Role: Viewer, Rights: R("", []string{"pods"}, "list"),
		Optional: R("metrics.k8s.io", []string{"pods"}, "list"),
		Cluster:  Join(Cluster("", []string{"nodes"}, "list"), Cluster("metrics.k8s.io", []string{"nodes"}, "list")),
		Note:     "each figure it may not read is explained under the tables"},
	{Path: "migrate jobs", Role: Viewer, Rights: R("batch", []string{"jobs"}, "list"), Optional: R("coordination.k8s.io", []string{"leases"}, "get"),
		Note: "without get leases the holder of the lock is not shown; --cleanup: delete jobs (operator)"},
	{Path: "backup schedule show", Role: Viewer, Rights: Join(R("batch", []string{"cronjobs"}, "get"), R("batch", []string{"jobs"}, "list"))},

	{Path: "scale api|frontend N", Role: Operator, Rights: Join(R("autoscaling", []string{"horizontalpodautoscalers"}, "list"),
		R("apps", []string{"deployments"}, "get", "patch"), R("", []string{"events"}, "create"), waitRights)},
	{Path: "scale worker N", Role: Operator, Rights: Join(R("autoscaling", []string{"horizontalpodautoscalers"}, "list"),
		R("apps", []string{"statefulsets"}, "get", "patch"), R("", []string{"configmaps"}, "get", "patch"), R("", []string{"events"}, "create"), waitRights)},
	{Path: "scale hpa", Role: Operator, Rights: Join(R("autoscaling", []string{"horizontalpodautoscalers"}, "list", "update"),
		R("apps", []string{"deployments", "statefulsets"}, "get")), Cluster: Cluster("", []string{"nodes"}, "list"),
		Note: "without list nodes it says it cannot check the nodes' capacity"},
	{Path: "backup create", Role: Operator, Rights: backupCreate, Note: "pg_dump (or redis-cli) runs in the pod through exec"},
	{Path: "backup verify --restore-test", Role: Operator, Rights: execRights, Note: "without --restore-test, and list and prune of --dir or s3://, need no right"},
	{Path: "backup restore", Role: Operator, Rights: Join(backupCreate, R("apps", []string{"deployments", "statefulsets"}, "patch"),
		R("apps", []string{"deployments/scale", "statefulsets/scale"}, "get"), waitRights, opLock), Note: "stops api and worker (not the frontend), restores, starts them, under the database lock"},
	{Path: "backup restore --to-database", Role: Operator, Rights: execRights, Note: "into a new database: the app keeps running"},
	{Path: "backup list --in-cluster", Role: Operator, Rights: browsePod},
	{Path: "backup schedule show --pvc", Role: Operator, Rights: Join(R("batch", []string{"cronjobs"}, "get"), R("batch", []string{"jobs"}, "list"), browsePod)},
	{Path: "backup pull", Role: Operator, Rights: browsePod},
	{Path: "backup wal sync", Role: Operator, Rights: execRights, Note: "lists and copies the WAL archive in the postgres pod through exec; only reads"},
	{Path: "backup wal prune", Role: Operator, Rights: execRights, Note: "lists and removes WAL segments of the archive in the postgres pod through exec; the database is not changed"},
	{Path: "backup status", Role: Operator, Rights: execRights, Note: "reads pg_stat_archiver and the WAL archive in the postgres pod through exec"},
	{Path: "backup schedule set|suspend|resume", Role: Operator, Rights: R("batch", []string{"cronjobs"}, "get", "update", "patch")},
	{Path: "backup schedule set --physical", Role: Operator, Rights: R("batch", []string{"cronjobs"}, "get", "create", "update", "delete"),
		Note: "makes, updates or (--physical=false) deletes the base backup CronJob, owned by the backup CronJob"},
	{Path: "backup schedule run-now", Role: Operator, Rights: Join(R("batch", []string{"cronjobs"}, "get"), R("batch", []string{"jobs"}, "create", "list", "watch"),
		R("", []string{"pods"}, "list"), R("", []string{"pods/log"}, "get"), opLock), Note: "its Job runs under the database lock"},
	{Path: "migrate up|down", Role: Operator, Rights: migrateRun, Note: "--backup-first adds backup create's"},
	{Path: "migrate status|history", Role: Operator, Rights: Join(execRights, lockRead, R("batch", []string{"jobs"}, "list")),
		Note: "alembic runs in an api pod (exec, which reads the pod's environment: not a viewer's right)"},
	{Path: "migrate unlock", Role: Operator, Rights: Join(lockRead, R("coordination.k8s.io", []string{"leases"}, "delete"))},
	{Path: "migrate jobs --cleanup", Role: Operator, Rights: Join(R("batch", []string{"jobs"}, "list", "delete"), lockRead), Note: "the Job the lock names is kept"},

	{Path: "deploy", Role: Deployer, Rights: Join(ownNamespace, DeployApply, secretRights, waitRights, planReads),
		Note: "server-side apply (create, patch) of each kind of the manifests (with --manifests DIR: of the kinds it holds) and the Secret; into a namespace that does not exist: create namespaces, cluster-wide"},
	{Path: "deploy diff", Role: Deployer, Rights: Join(ownNamespace, DeployApply, R("", []string{"secrets"}, "get"), getAll(DeployApply)),
		Note: "a server-side dry run of the apply needs the apply's rights"},
	{Path: "deploy update", Role: Deployer, Rights: Join(R("apps", []string{"deployments", "statefulsets"}, "get", "patch"), waitRights, R("", []string{"pods"}, "delete")),
		Note: "--migrate adds migrate up's and backup create's"},
	{Path: "deploy rollback", Role: Deployer, Rights: Join(R("apps", []string{"deployments", "statefulsets"}, "get", "patch"), R("apps", []string{"replicasets"}, "list"),
		waitRights, R("", []string{"pods"}, "delete"))},
	{Path: "deploy config set|unset", Role: Deployer, Rights: Join(R("", []string{"configmaps"}, "get", "patch"), R("", []string{"secrets"}, "get"), restartRights, waitRights)},
	{Path: "deploy secret rotate", Role: Deployer, Rights: Join(ownNamespace, R("", []string{"configmaps"}, "get"), secretRights, restartRights, waitRights)},
	{Path: "diagnose logs", Role: Deployer, Rights: Join(diagnoseLogs, R("", []string{"secrets"}, "get")),
		Note: "the values of the Secrets the pods reference are read to be masked; a viewer or an operator uses --no-mask"},
	{Path: "deploy access", Role: Deployer, Rights: Join(R("", []string{"services"}, "get"), R("", []string{"pods"}, "list", "watch"),
		R("", []string{"pods/portforward"}, "get", "create")), Optional: R("networking.k8s.io", []string{"ingresses"}, "get"),
		Note: "prod without --port-forward only reads the Ingress"},
	{Path: "deploy tls renew", Role: Deployer, Rights: Join(R("cert-manager.io", []string{"certificates"}, "get", "list", "watch"),
		R("cert-manager.io", []string{"certificates/status"}, "update")), Optional: R("networking.k8s.io", []string{"ingresses"}, "get")},
	{Path: "failover", Role: Deployer, Rights: failoverRights,
		Note: "in both regions (in an unplanned failover, the old primary's only if it answers): scales the app and PostgreSQL, applies the role's objects (postgres Deployment, pg_hba ConfigMap, replication Service and NetworkPolicy, backup CronJob, HPAs, PDBs), promotes through psql (exec), and runs a Job mounting the data volume to make the old primary follow"},
	{Path: "failover rejoin", Role: Deployer, Rights: failoverRights, Note: "in the region that rejoins; psql through exec in the primary"},
	{Path: "deploy cleanup", Role: Operator, Rights: Join(R("batch", []string{"jobs"}, "list", "delete"), R("", []string{"pods"}, "list", "delete"))},
}

// failoverRights are those of failover and failover rejoin in a region.
var failoverRights = Join(
	R("apps", []string{"deployments", "statefulsets"}, "get", "patch"),
	R("", []string{"configmaps"}, "get", "create", "patch"),
	R("", []string{"secrets", "services"}, "get"),
	R("", []string{"services"}, "create", "patch"),
	R("apps", []string{"deployments"}, "create"),
	R("batch", []string{"cronjobs"}, "create", "patch"),
	R("autoscaling", []string{"horizontalpodautoscalers"}, "create", "patch"),
	R("networking.k8s.io", []string{"networkpolicies"}, "create", "patch"),
	R("policy", []string{"poddisruptionbudgets"}, "create", "patch"),
	R("batch", []string{"jobs"}, "create", "delete"),
	R("", []string{"pods"}, "delete"),
	execRights, waitRights,
)

// DeployApply are the rights of deploy's server-side apply of the embedded
// manifests: create and patch of each kind they hold, and patch of the
// namespace's own Namespace object (a first deploy into a namespace that does
// not exist needs create namespaces, cluster-wide: a cluster admin's).
var DeployApply = Join(
	[]Right{{Verb: "patch", Resource: "namespaces"}},
	R("", []string{"configmaps", "services", "serviceaccounts", "persistentvolumeclaims"}, "create", "patch"),
	R("apps", []string{"deployments", "statefulsets"}, "create", "patch"),
	R("batch", []string{"cronjobs"}, "create", "patch"),
	R("autoscaling", []string{"horizontalpodautoscalers"}, "create", "patch"),
	R("networking.k8s.io", []string{"ingresses", "networkpolicies"}, "create", "patch"),
	R("policy", []string{"poddisruptionbudgets"}, "create", "patch"),
	R("rbac.authorization.k8s.io", []string{"roles", "rolebindings"}, "create", "patch"),
)

// getAll returns get for every resource of rs.
func getAll(rs []Right) []Right {
	var out []Right
	for _, r := range rs {
		r.Verb = "get"
		out = append(out, r)
	}
	return Join(out)
}

// For returns the Command of a path; it panics on a path that Commands does
// not hold (a programming error, caught by the unit tests).
func For(path string) Command {
	for _, c := range Commands {
		if c.Path == path {
			return c
		}
	}
	panic(fmt.Sprintf("rbac: no command %q", path))
}

// Needs returns what c's Run needs in namespace ns: Rights plus extra.
func (c Command) Needs(ns string, extra ...[]Right) *Needs {
	return &Needs{Command: c.Path, Role: c.Role, Namespace: ns, Rights: Join(append([][]Right{c.Rights}, extra...)...)}
}

// As names the command as typed ("scale api" for "scale api|frontend N") in messages.
func (n *Needs) As(command string) *Needs {
	n.Command = command
	return n
}

// Apply returns the rights of a server-side apply (create and patch) of
// objects of the given resources (namespaced unless cluster).
func Apply(group, resource string, cluster bool) []Right {
	rs := R(group, []string{resource}, "create", "patch")
	if cluster {
		for i := range rs {
			rs[i].Cluster = true
		}
	}
	return rs
}

// Describe groups rights by resource, as the README's table shows them:
// "deployments.apps: get, patch; pods/exec: create".
func Describe(rs []Right) string {
	var order []string
	verbsOf := map[string][]string{}
	for _, r := range Sorted(rs) {
		key := r.ResourceName()
		if r.Name != "" {
			key += " " + r.Name
		}
		if _, ok := verbsOf[key]; !ok {
			order = append(order, key)
		}
		verbsOf[key] = append(verbsOf[key], r.Verb)
	}
	parts := make([]string, 0, len(order))
	for _, k := range order {
		parts = append(parts, k+": "+strings.Join(verbsOf[k], ", "))
	}
	return strings.Join(parts, "; ")
}
