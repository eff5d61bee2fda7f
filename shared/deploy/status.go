package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet/fleetcmd"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/replication"
	"github.com/piyasa/kubectl-piyasa/shared/table"
)

// StatusKind is the kind of the `deploy status -o json|yaml` document.
const StatusKind = "DeployStatus"

// Status is the `deploy status` document.
type Status struct {
	Namespace   string `json:"namespace"`
	Environment string `json:"environment"`
	// Ready is true when every component is found and rolled out.
	Ready      bool              `json:"ready"`
	Components []ComponentStatus `json:"components"`
	// Monitoring says whether the api's ServiceMonitor is applied (not part of Ready).
	Monitoring *MonitoringStatus `json:"monitoring,omitempty"`
	// RestoreInterrupted is set while a restore that did not finish has the
	// app stopped: what it restored, since when, and the commands on.
	RestoreInterrupted *kube.RestoreLeft `json:"restoreInterrupted,omitempty"`
	// Recovery is what the postgres pod's WAL archive holds (not part of Ready).
	Recovery *RecoveryStatus `json:"recovery,omitempty"`
	// Replication is the database's streaming replication when it is a
	// standby or has standbys (shared/replication; not part of Ready).
	Replication *replication.Status `json:"replication,omitempty"`
}

// ComponentStatus is the rollout state of one component's workload. Its
// component, kind and workload mean what they mean in `scale status`.
type ComponentStatus struct {
	// Component is the app's component (api, worker, frontend, postgres, redis).
	Component string `json:"component"`
	// Kind is the workload's kind (Deployment or StatefulSet).
	Kind string `json:"kind"`
	// Workload is the workload object's name (e.g. dev-api).
	Workload  string `json:"workload"`
	Found     bool   `json:"found"`
	Desired   int32  `json:"desired"`
	Ready     int32  `json:"ready"`
	Updated   int32  `json:"updated"`
	Available int32  `json:"available"`
	// Images of the pod template's containers, the first one in Image.
	Image  string   `json:"image,omitempty"`
	Images []string `json:"images,omitempty"`
	// RolledOut is true when the rollout is complete as `kubectl rollout
	// status` (and deploy's wait) judges it, with at least one replica: the
	// app needs every component running.
	RolledOut bool `json:"rolledOut"`
	// Message says why the component is not rolled out.
	Message string     `json:"message,omitempty"`
	Created *time.Time `json:"created,omitempty"`
	Age     string     `json:"age,omitempty"`
}

// StatusOptions of `deploy status`.
type StatusOptions struct {
	*cli.Global
	Print *output.Flags
	// Exec runs a command in a pod (nil: through the API server).
	Exec podExec
}

// NewStatusOptions returns the defaults.
func NewStatusOptions(g *cli.Global) *StatusOptions {
	return &StatusOptions{Global: g, Print: output.NewFlags()}
}

// NewCmdStatus shows desired/ready/updated/available replicas, image and age per component.
func NewCmdStatus(g *cli.Global) *cobra.Command {
	o := NewStatusOptions(g)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each component's desired/ready/updated/available replicas, image and age (exit 1 when not ready)",
		Long: `Show each component's desired/ready/updated/available replicas, image and age.
Exit 0 when every component is found and rolled out with at least one replica; exit 1
otherwise (a missing namespace or component, pods not ready, a component at 0 replicas).
In a standby region of a fleet (its database a hot standby) api, worker and frontend
at 0 replicas count as ready: they start with a failover.`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	o.Print.AddFlags(cmd)
	fleetcmd.Add(cmd, g, NewCmdStatus)
	return cmd
}

// Complete resolves the environment and namespace.
func (o *StatusOptions) Complete(*cobra.Command, []string) error { return o.Global.Complete() }

// Validate checks the output format.
func (o *StatusOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}

// Run reads and prints the status; not ready is exit 1.
func (o *StatusOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	st, err := GetStatus(ctx, cs, o.Env, o.Namespace, o.Now())
	if err != nil {
		return err
	}
	if dyn, err := o.Dynamic(); err == nil {
		// Unreadable (forbidden): the document leaves monitoring out.
		st.Monitoring, _ = monitoringStatus(ctx, cs.Discovery(), dyn, o.Env, o.Namespace)
	}
	o.readRecovery(ctx, cs, st)
	standbyAtZero(st)
	if err := o.print(st); err != nil {
		return err
	}
	if st.Monitoring != nil && !o.Print.Structured() {
		o.Infof("monitoring: %s\n", st.Monitoring.Message)
	}
	if st.Recovery != nil && !o.Print.Structured() {
		o.Infof("recovery: %s\n", st.Recovery.Message)
	}
	if st.Replication != nil && !o.Print.Structured() {
		o.Infof("replication: %s\n", st.Replication.Message)
	}
	if st.Ready {
		return nil
	}
	var why []string
	found := 0
	for _, c := range st.Components {
		if c.Found {
			found++
		}
		if !c.RolledOut {
			why = append(why, c.Component+" ("+c.Message+")")
		}
	}
	if left := st.RestoreInterrupted; left != nil {
		return cli.Failedf("the app is not ready in namespace %s: %s", o.Namespace, left.Message).WithHint("%s", left.Hint())
	}
	if found == 0 {
		return cli.Failedf("the app is not deployed in namespace %s: none of its workloads exists", o.Namespace).
			WithHint("check -n/--env, or deploy it: kubectl piyasa deploy --env %s -n %s", o.Env.Name, o.Namespace)
	}
	return cli.Failedf("the app is not ready in namespace %s: %s", o.Namespace, strings.Join(why, ", ")).
		WithHint("see why: kubectl piyasa diagnose -n %s", o.Namespace)
}

// GetStatus reads the app's workloads (one LIST of Deployments and one of
// StatefulSets).
func GetStatus(ctx context.Context, cs kubernetes.Interface, env app.Environment, ns string, now time.Time) (*Status, error) {
	deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	stss, err := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	objs := map[string]runtime.Object{}
	meta := map[string]*metav1.ObjectMeta{}
	spec := map[string]*corev1.PodSpec{}
	for i := range deps.Items {
		d := &deps.Items[i]
		objs[app.KindDeployment+"/"+d.Name], meta[app.KindDeployment+"/"+d.Name], spec[app.KindDeployment+"/"+d.Name] = d, &d.ObjectMeta, &d.Spec.Template.Spec
	}
	for i := range stss.Items {
		s := &stss.Items[i]
		objs[app.KindStatefulSet+"/"+s.Name], meta[app.KindStatefulSet+"/"+s.Name], spec[app.KindStatefulSet+"/"+s.Name] = s, &s.ObjectMeta, &s.Spec.Template.Spec
	}
	st := &Status{Namespace: ns, Environment: env.Name, Ready: true}
	var marks []kube.RestoreMark
	for _, c := range app.Components {
		w := kube.Workload{Component: c.Name, Kind: c.Kind, Name: env.WorkloadName(c)}
		key := c.Kind + "/" + w.Name
		var obj runtime.Object
		if o, ok := objs[key]; ok {
			obj = o
		}
		st.Components = append(st.Components, componentStatus(w, obj, meta[key], spec[key], now))
		st.Ready = st.Ready && st.Components[len(st.Components)-1].RolledOut
		if m := meta[key]; m != nil {
			marks = append(marks, kube.RestoreMark{Component: c.Name, Kind: c.Kind, Name: w.Name, Replicas: st.Components[len(st.Components)-1].Desired, Annotations: m.Annotations})
		}
	}
	if left, ok := kube.InterruptedRestore(marks, ns); ok {
		st.RestoreInterrupted = &left
	}
	return st, nil
}

// standbyAtZero counts api, worker and frontend at 0 replicas as rolled out
// when the database is a hot standby: a standby region of a fleet runs them
// at 0 until a failover starts them (deploy --fleet, failover).
func standbyAtZero(st *Status) {
	if st.Replication == nil || st.Replication.Role != replication.RoleStandby {
		return
	}
	st.Ready = true
	for i := range st.Components {
		c := &st.Components[i]
		if c.Found && c.Desired == 0 && !c.RolledOut && slices.Contains(appComponents, c.Component) {
			c.RolledOut, c.Message = true, "0 replicas: a standby region (its database is a hot standby)"
		}
		st.Ready = st.Ready && c.RolledOut
	}
}

// componentStatus is kube's rollout status of a workload (nil: missing),
// where 0 replicas is not rolled out.
func componentStatus(w kube.Workload, obj runtime.Object, m *metav1.ObjectMeta, spec *corev1.PodSpec, now time.Time) ComponentStatus {
	ws := kube.StatusOf(w, obj, false)
	cst := ComponentStatus{Component: w.Component, Kind: w.Kind, Workload: w.Name, Found: ws.Found,
		Desired: ws.Desired, Ready: ws.Ready, Updated: ws.Updated, Available: ws.Available, Message: ws.Message}
	switch {
	case !ws.Found:
		cst.Message = "not found"
	case ws.Desired == 0:
		cst.Message = "0 replicas: the app needs at least 1"
	case ws.Done:
		cst.RolledOut = true
	case cst.Message == "":
		cst.Message = fmt.Sprintf("%d/%d ready", ws.Ready, ws.Desired)
	}
	cst.Message = strings.TrimSuffix(cst.Message, "...")
	if m != nil {
		created := m.CreationTimestamp.UTC()
		cst.Created = &created
		cst.Age = cli.Age(now, m.CreationTimestamp.Time)
	}
	if spec != nil {
		for _, ctr := range spec.Containers {
			cst.Images = append(cst.Images, ctr.Image)
		}
		if len(cst.Images) > 0 {
			cst.Image = cst.Images[0]
		}
	}
	return cst
}

func (o *StatusOptions) print(st *Status) error {
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, StatusKind, st)
	}
	headers := []string{"COMPONENT", "KIND", "NAME", "DESIRED", "READY", "UPDATED", "AVAILABLE", "IMAGE", "AGE"}
	term := table.DetectTerminal(o.Out)
	// On a terminal: kubectl get's columns (READY ready/desired, UP-TO-DATE,
	// AVAILABLE), no KIND (the component says it) and the image's tag, so that
	// a row fits 80 columns. -o wide and piped output keep every column.
	compact := term.Width > 0 && !o.Print.IsWide()
	if compact {
		headers = []string{"COMPONENT", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "IMAGE", "AGE"}
	}
	t := output.NewTable(o.Out, headers...).SetTerminal(term)
	for _, c := range st.Components {
		switch {
		case !c.Found && compact:
			t.Append(c.Component, c.Workload, "-", "-", "-", "<missing>", "-")
		case !c.Found:
			t.Append(c.Component, c.Kind, c.Workload, "-", "-", "-", "-", "<missing>", "-")
		case compact:
			t.Append(c.Component, c.Workload, fmt.Sprintf("%d/%d", c.Ready, c.Desired), fmt.Sprint(c.Updated), fmt.Sprint(c.Available), table.ShortImage(c.Image), c.Age)
		default:
			t.Append(c.Component, c.Kind, c.Workload, fmt.Sprint(c.Desired), fmt.Sprint(c.Ready), fmt.Sprint(c.Updated), fmt.Sprint(c.Available), c.Image, c.Age)
		}
	}
	return t.Render()
}
