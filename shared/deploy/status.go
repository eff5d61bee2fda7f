package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// StatusKind is the kind of the `deploy status -o json|yaml` document.
const StatusKind = "DeployStatus"

// Status is the `deploy status` document.
type Status struct {
	Namespace   string            `json:"namespace"`
	Environment string            `json:"environment"`
	Ready       bool              `json:"ready"`
	Components  []ComponentStatus `json:"components"`
}

// ComponentStatus is the rollout state of one component's workload.
type ComponentStatus struct {
	Component string `json:"component"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Found     bool   `json:"found"`
	Desired   int32  `json:"desired"`
	Ready     int32  `json:"ready"`
	Updated   int32  `json:"updated"`
	Available int32  `json:"available"`
	// Images of the pod template's containers, the first one in Image.
	Image  string   `json:"image,omitempty"`
	Images []string `json:"images,omitempty"`
	// RolledOut is true when every replica runs the current template and is available.
	RolledOut bool       `json:"rolledOut"`
	Created   *time.Time `json:"created,omitempty"`
	Age       string     `json:"age,omitempty"`
}

// StatusOptions of `deploy status`.
type StatusOptions struct {
	*cli.Global
	Print *output.Flags
}

// NewCmdStatus shows desired/ready/updated/available replicas, image and age per component.
func NewCmdStatus(g *cli.Global, _ genericiooptions.IOStreams) *cobra.Command {
	o := &StatusOptions{Global: g, Print: output.NewFlags()}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each component's desired/ready/updated/available replicas, image and age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.Print.AddFlags(cmd)
	return cmd
}

// Validate checks the output format.
func (o *StatusOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}

// Run reads and prints the status.
func (o *StatusOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	st, err := GetStatus(ctx, cs, o.Env, o.Namespace, o.Now())
	if err != nil {
		return err
	}
	return o.print(st)
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
	dByName := map[string]*appsv1.Deployment{}
	for i := range deps.Items {
		dByName[deps.Items[i].Name] = &deps.Items[i]
	}
	sByName := map[string]*appsv1.StatefulSet{}
	for i := range stss.Items {
		sByName[stss.Items[i].Name] = &stss.Items[i]
	}
	st := &Status{Namespace: ns, Environment: env.Name, Ready: true}
	for _, c := range app.Components {
		cst := ComponentStatus{Component: c.Name, Kind: c.Kind, Name: env.WorkloadName(c)}
		var meta *metav1.ObjectMeta
		var spec *corev1.PodSpec
		switch c.Kind {
		case app.KindDeployment:
			if d := dByName[cst.Name]; d != nil {
				meta, spec = &d.ObjectMeta, &d.Spec.Template.Spec
				cst.Desired = replicasOf(d.Spec.Replicas)
				cst.Ready, cst.Updated, cst.Available = d.Status.ReadyReplicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas
				cst.RolledOut = d.Status.ObservedGeneration >= d.Generation && cst.Updated == cst.Desired && cst.Available == cst.Desired &&
					d.Status.Replicas == cst.Desired
			}
		case app.KindStatefulSet:
			if s := sByName[cst.Name]; s != nil {
				meta, spec = &s.ObjectMeta, &s.Spec.Template.Spec
				cst.Desired = replicasOf(s.Spec.Replicas)
				cst.Ready, cst.Updated, cst.Available = s.Status.ReadyReplicas, s.Status.UpdatedReplicas, s.Status.AvailableReplicas
				cst.RolledOut = s.Status.ObservedGeneration >= s.Generation && cst.Updated == cst.Desired && cst.Ready == cst.Desired &&
					(s.Status.UpdateRevision == "" || s.Status.CurrentRevision == s.Status.UpdateRevision)
			}
		}
		if meta != nil {
			cst.Found = true
			created := meta.CreationTimestamp.UTC()
			cst.Created = &created
			cst.Age = age(now, meta.CreationTimestamp)
			for _, ctr := range spec.Containers {
				cst.Images = append(cst.Images, ctr.Image)
			}
			if len(cst.Images) > 0 {
				cst.Image = cst.Images[0]
			}
		}
		st.Ready = st.Ready && cst.Found && cst.RolledOut
		st.Components = append(st.Components, cst)
	}
	return st, nil
}

func replicasOf(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func (o *StatusOptions) print(st *Status) error {
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, StatusKind, st)
	}
	headers := []string{"COMPONENT", "KIND", "NAME", "DESIRED", "READY", "UPDATED", "AVAILABLE", "IMAGE", "AGE"}
	t := output.NewTable(o.Out, headers...)
	for _, c := range st.Components {
		if !c.Found {
			t.Append(c.Component, c.Kind, c.Name, "-", "-", "-", "-", "<missing>", "-")
			continue
		}
		t.Append(c.Component, c.Kind, c.Name, fmt.Sprint(c.Desired), fmt.Sprint(c.Ready), fmt.Sprint(c.Updated), fmt.Sprint(c.Available), c.Image, c.Age)
	}
	return t.Render()
}
