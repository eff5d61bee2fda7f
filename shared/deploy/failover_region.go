package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/psql"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
	"github.com/piyasa/kubectl-piyasa/shared/render"
	"github.com/piyasa/kubectl-piyasa/shared/replication"
)

// foRegion is one region of a failover: its Global (context, environment,
// namespace) and what the failover does there.
type foRegion struct {
	fleet.Region
	g *cli.Global
}

// prepareFailover, when set, is called with each region's Global before it
// is completed (unit tests set fake clients there).
var prepareFailover func(fleet.Region, *cli.Global)

func newFoRegion(parent *cli.Global, r fleet.Region) (*foRegion, error) {
	g := cli.NewGlobal(parent.IOStreams)
	g.Inherit(parent, r.Context, r.Environment, r.EffectiveNamespace())
	if prepareFailover != nil {
		prepareFailover(r, g)
	}
	if err := g.Complete(); err != nil {
		return nil, err
	}
	return &foRegion{Region: r, g: g}, nil
}

// appComponents are what a fence stops and a promotion starts, workers first.
var appComponents = []string{app.Worker, app.API, app.Frontend}

func (r *foRegion) workload(comp string) kube.Workload {
	c, _ := app.LookupComponent(comp)
	return kube.Workload{Component: comp, Kind: c.Kind, Name: r.g.Env.WorkloadName(c)}
}

// exec runs cmd in the postgres container with stdin (nil: none) and
// returns its standard output; a failure carries the first line of its
// standard error, masked.
func (r *foRegion) exec(ctx context.Context, cmd []string, stdin io.Reader) (string, error) {
	cs, err := r.g.Clientset()
	if err != nil {
		return "", err
	}
	pod, container, err := kube.PostgresPod(ctx, cs, r.g.Namespace)
	if err != nil {
		return "", err
	}
	return execIn(ctx, r.g, pod.Name, container, cmd, stdin)
}

// psql runs one SQL text in the postgres pod and returns its rows.
func (r *foRegion) psql(ctx context.Context, sql string) (string, error) {
	out, err := r.exec(ctx, psql.Command(app.DatabaseName, sql), nil)
	return strings.TrimSpace(out), err
}

// replication reads the region's replication state within timeout.
func (r *foRegion) replication(ctx context.Context, timeout time.Duration) (*replication.Status, error) {
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := r.exec(c, replication.Command(), nil)
	if err != nil {
		if c.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("no answer within %s", timeout)
		}
		return nil, err
	}
	return replication.Parse(out)
}

// replicas reads the replicas of the app's components and TOTAL_WORKERS.
func (r *foRegion) replicas(ctx context.Context) (map[string]int32, string, error) {
	cs, err := r.g.Clientset()
	if err != nil {
		return nil, "", err
	}
	out := map[string]int32{}
	for _, comp := range appComponents {
		w := r.workload(comp)
		var n *int32
		if w.Kind == app.KindStatefulSet {
			s, err := cs.AppsV1().StatefulSets(r.g.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return nil, "", err
			}
			n = s.Spec.Replicas
		} else {
			d, err := cs.AppsV1().Deployments(r.g.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return nil, "", err
			}
			n = d.Spec.Replicas
		}
		out[comp] = 1
		if n != nil {
			out[comp] = *n
		}
	}
	cm, err := cs.CoreV1().ConfigMaps(r.g.Namespace).Get(ctx, r.g.Env.ConfigMap(), metav1.GetOptions{})
	if err != nil {
		return nil, "", err
	}
	return out, cm.Data[app.KeyTotalWorkers], nil
}

// scale sets the components' replicas (all patches sent, even after a
// signal) and, with wait, waits by watch until exactly that many pods run.
func (r *foRegion) scale(ctx context.Context, to map[string]int32, wait bool, timeout time.Duration) error {
	cs, err := r.g.Clientset()
	if err != nil {
		return err
	}
	var ws []kube.Workload
	for _, comp := range append(append([]string{}, appComponents...), app.Postgres) {
		n, ok := to[comp]
		if !ok {
			continue
		}
		w := r.workload(comp)
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(timeout, patchTimeout))
		err := kube.SetReplicas(pctx, cs, r.g.Namespace, w, n)
		cancel()
		if err != nil {
			return fmt.Errorf("scale %s %s to %d: %w", strings.ToLower(w.Kind), w.Name, n, err)
		}
		ws = append(ws, w)
	}
	if !wait || ctx.Err() != nil {
		return ctx.Err()
	}
	wcs, err := r.g.WatchClientset()
	if err != nil {
		return err
	}
	_, err = kube.WaitForWorkloads(ctx, wcs, r.g.Namespace, ws, kube.WaitOptions{Timeout: timeout, Settled: true})
	return err
}

// roleObjects renders what differs between the roles of a region (the
// postgres Deployment, its pg_hba ConfigMap, the replication Service and
// NetworkPolicy, the backup CronJob, the HPAs and PDBs) for role; a standby
// follows the primary at host:port.
func (r *foRegion) roleObjects(repl fleet.Replication, role, host string, port int) ([]*unstructured.Unstructured, error) {
	reg := &render.Region{Role: role, ServiceType: repl.ServiceType, PrimaryHost: host, PrimaryPort: port}
	objs, err := renderWith(render.Options{Env: r.g.Env, Namespace: r.g.Namespace, Region: reg})
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if roleKind(u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// roleKind tells the objects a failover changes: those the region's role sets.
func roleKind(u *unstructured.Unstructured) bool {
	switch u.GetKind() {
	case "HorizontalPodAutoscaler", "PodDisruptionBudget", "CronJob", "NetworkPolicy":
		return true
	case app.KindDeployment:
		return workloadComponent(u) == app.Postgres
	case "ConfigMap":
		return strings.HasSuffix(u.GetName(), app.PGHBAConfigMap)
	case "Service":
		return strings.HasSuffix(u.GetName(), app.ReplicationService)
	}
	return false
}

// applyRole applies the role's objects (server-side, the deploy's field
// manager). Objects the other role has and this one has not (a primary's
// HPAs, PDBs and replication Service in a region that becomes a standby)
// are left: inert there (an HPA does not scale a workload at 0, a standby's
// pg_hba.conf lets no replication in), and deleting them would need rights
// the piyasa-deployer Role does not grant.
func (r *foRegion) applyRole(ctx context.Context, repl fleet.Replication, role, host string, port int) error {
	objs, err := r.roleObjects(repl, role, host, port)
	if err != nil {
		return err
	}
	c, err := newClients(r.g)
	if err != nil {
		return err
	}
	a := &applier{c: c, ns: r.g.Namespace, out: io.Discard, total: len(objs)}
	return a.apply(ctx, objs)
}

// waitPostgres waits until the region's postgres Deployment has rolled out.
func (r *foRegion) waitPostgres(ctx context.Context, timeout time.Duration) error {
	wcs, err := r.g.WatchClientset()
	if err != nil {
		return err
	}
	_, err = kube.WaitForWorkloads(ctx, wcs, r.g.Namespace, []kube.Workload{r.workload(app.Postgres)}, kube.WaitOptions{Timeout: timeout, Settled: true, FailFast: true})
	return err
}

// address is where the other regions reach r's database as the primary:
// the fleet's address for it, else its replication Service's.
func (r *foRegion) address(ctx context.Context, f *fleet.Fleet, repl fleet.Replication) (string, int, error) {
	s := repl
	var err error
	if s.Host, s.Port, err = fleet.DatabaseAddress(f, r.Region, repl); err != nil {
		return "", 0, err
	}
	return primaryAddress(ctx, r.g, s)
}

// replicationPassword reads the role's password from Secret piyasa-replication.
func (r *foRegion) replicationPassword(ctx context.Context) ([]byte, error) {
	cs, err := r.g.Clientset()
	if err != nil {
		return nil, err
	}
	s, err := cs.CoreV1().Secrets(r.g.Namespace).Get(ctx, app.ReplicationSecret, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot read Secret %s (made by deploy --fleet): %w", app.ReplicationSecret, err)
	}
	pw := s.Data[app.KeyReplicationPassword]
	if len(pw) == 0 {
		return nil, fmt.Errorf("Secret %s has no %s: run deploy --fleet first", app.ReplicationSecret, app.KeyReplicationPassword)
	}
	return pw, nil
}

// execIn runs cmd in a container of pod and returns its standard output; a
// failure carries the first line of its standard error, masked.
func execIn(ctx context.Context, g *cli.Global, pod, container string, cmd []string, stdin io.Reader) (string, error) {
	rc, err := g.RESTConfig()
	if err != nil {
		return "", err
	}
	client, err := g.Clientset()
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	err = kube.Exec(ctx, rc, client, g.Namespace, pod, container, cmd, kube.ExecStreams{Stdin: stdin, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		why := output.FirstLine(stderr.String())
		if why == "" {
			why = output.FirstLine(err.Error())
		}
		return stdout.String(), fmt.Errorf("in pod %s: %s", pod, redact.Line(why))
	}
	return stdout.String(), nil
}

// confirmRegion asks the user to type the region's name after what; any
// other answer is exit 2 with nothing changed.
func confirmRegion(g *cli.Global, what, name string) error {
	g.Infof("%s\nType the region's name (%s) to confirm: ", what, name)
	line, _ := bufio.NewReader(g.In).ReadString('\n')
	if strings.TrimSpace(line) != name {
		g.Infof("\n")
		return cli.Usagef("not confirmed: nothing was changed").WithHint("type %s at the prompt, or pass --yes", name)
	}
	return nil
}

// setTotalWorkers sets TOTAL_WORKERS in the region's piyasa-config when it
// differs (the workers are at 0: they read it when they start).
func (r *foRegion) setTotalWorkers(ctx context.Context, n int32) error {
	cs, err := r.g.Clientset()
	if err != nil {
		return err
	}
	cm, err := cs.CoreV1().ConfigMaps(r.g.Namespace).Get(ctx, r.g.Env.ConfigMap(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	v := strconv.Itoa(int(n))
	if cm.Data[app.KeyTotalWorkers] == v {
		return nil
	}
	patch := []byte(fmt.Sprintf(`{"data":{%q:%q}}`, app.KeyTotalWorkers, v))
	_, err = cs.CoreV1().ConfigMaps(r.g.Namespace).Patch(ctx, cm.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: app.FieldManager})
	return err
}

// checkRights checks the rights of command (rbac) in the region, within timeout.
func (r *foRegion) checkRights(ctx context.Context, command string, timeout time.Duration) error {
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return r.g.CheckRights(c, rbac.For(command).Needs(r.g.Namespace))
}

// isForbidden tells a missing right (rbac's error, or the API server's
// Forbidden) from a cluster that does not answer.
func isForbidden(err error) bool {
	var ce *cli.Error
	return errors.As(err, &ce) || apierrors.IsForbidden(err)
}
