// Package cleanup implements `kubectl piyasa deploy cleanup`: the guide's
// Cleanup Old Resources (the suite's finished Jobs and the app's failed pods).
//
// cleanup.go is the command; plan.go decides what goes and what stays.
package cleanup

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// Kind is the kind of the `deploy cleanup -o json|yaml` document.
const Kind = "DeployCleanup"

// Types of what cleanup looks at.
const (
	TypeMigration = "migration" // a Job of `kubectl piyasa migrate`
	TypeBackup    = "backup"    // a Job of the backup CronJob (scheduled or run-now)
	TypeFailedPod = "failed-pod"
)

// Document is the `deploy cleanup` document: what was (or would be) deleted and what was kept, and why.
type Document struct {
	Namespace string `json:"namespace"`
	OlderThan string `json:"olderThan"`
	// DryRun is true when nothing was deleted (--dry-run).
	DryRun bool   `json:"dryRun"`
	Items  []Item `json:"items"`
	// Deleted counts the objects deleted (0 with --dry-run).
	Deleted int `json:"deleted"`
}

// Item is one Job or pod cleanup looked at.
type Item struct {
	// Kind is Job or Pod.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Type is migration, backup or failed-pod.
	Type string `json:"type"`
	// State is Complete, Failed or Running (Jobs), Failed (pods).
	State string `json:"state"`
	// Finished is when the Job finished or the pod failed.
	Finished *time.Time `json:"finished,omitempty"`
	// Action is delete or keep.
	Action string `json:"action"`
	Reason string `json:"reason"`

	uid types.UID
}

// Options of `deploy cleanup`.
type Options struct {
	*cli.Global
	OlderThan string
	Yes       bool
	DryRun    cli.DryRun
	Print     *output.Flags

	olderThan time.Duration
}

// NewCmd deletes the suite's old finished Jobs and failed pods (the guide's Cleanup Old Resources).
func NewCmd(g *cli.Global) *cobra.Command {
	o := &Options{Global: g, OlderThan: "7d", Print: output.NewFlags()}
	cmd := &cobra.Command{
		Use:   "cleanup [--older-than 7d] [--dry-run]",
		Short: "Delete the suite's finished Jobs (migrations, backups) and failed pods older than --older-than",
		Long: `The guide's "Cleanup Old Resources": delete the suite's finished Jobs (the migration Jobs of
'kubectl piyasa migrate' and the backup CronJob's Jobs, scheduled or run by hand) and the
app's Failed pods that finished more than --older-than ago, with their pods and logs.
Never deleted: a Job still running, the newest 3 finished migration Jobs (the rule of
'migrate jobs --cleanup') and the newest finished backup Job (whatever their age: their
logs are the last word on the schema and the backups). A Job's pods are left to their Job: they go with it, or stay with a kept one.
It lists what it deletes and what it keeps; in prod it asks for the namespace name (or
--yes). --dry-run prints the table only, its ACTION saying "would delete".
Exit codes: 0 done (or nothing to clean up); 1 a delete failed; 2 bad flags or the
confirmation did not match (nothing deleted); 3 cluster unreachable or forbidden.`,
		Example: `  kubectl piyasa deploy cleanup --env dev
  kubectl piyasa deploy cleanup --env prod --older-than 30d --dry-run
  kubectl piyasa deploy cleanup --env prod --yes -o json`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.OlderThan, "older-than", o.OlderThan, "Delete only what finished longer ago than this (30m, 12h, 7d)")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation (prod)")
	cli.AddDryRunFlag(cmd)
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete reads --dry-run and resolves the namespace.
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	o.DryRun, err = cli.GetDryRun(cmd, o.ErrOut)
	return err
}

// Validate checks --older-than and -o.
func (o *Options) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	d, err := cli.ParseAge(o.OlderThan)
	if err != nil {
		return cli.Usagef("--older-than: %v", err)
	}
	o.olderThan = d
	return nil
}

// Run lists, asks (prod), deletes and reports.
func (o *Options) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	jobs, err := cs.BatchV1().Jobs(o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	pods, err := cs.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("status.phase", string(corev1.PodFailed)).String()})
	if err != nil {
		return err
	}
	doc := &Document{Namespace: o.Namespace, OlderThan: o.OlderThan, DryRun: o.DryRun.Active(),
		Items: planCleanup(o.Env, jobs.Items, pods.Items, o.Now(), o.olderThan)}
	var doomed []int
	for i, it := range doc.Items {
		if it.Action == "delete" {
			doomed = append(doomed, i)
		}
	}
	if !o.Print.Structured() {
		if len(doc.Items) > 0 {
			if err := o.printTable(doc); err != nil {
				return err
			}
		}
	}
	if len(doomed) == 0 {
		o.Infof("nothing to clean up in namespace %s: no finished Job or failed pod of the app older than %s beyond the newest of each kind\n", o.Namespace, o.OlderThan)
		return o.printDoc(doc)
	}
	if o.Env.Name == "prod" && !o.Yes && !o.DryRun.Active() {
		if err := cli.ConfirmNamespace(o.Global, fmt.Sprintf("This deletes %s in namespace %s.", cli.Plural(len(doomed), "object", "objects"), o.Namespace)); err != nil {
			return err
		}
	}
	bg := metav1.DeletePropagationBackground
	for _, i := range doomed {
		it := &doc.Items[i]
		uid := it.uid
		del := metav1.DeleteOptions{PropagationPolicy: &bg, DryRun: o.DryRun.Server(), Preconditions: &metav1.Preconditions{UID: &uid}}
		id := "pod/" + it.Name
		if !o.DryRun.Client() {
			if it.Kind == "Job" {
				id = "job.batch/" + it.Name
				err = cs.BatchV1().Jobs(o.Namespace).Delete(ctx, it.Name, del)
			} else {
				err = cs.CoreV1().Pods(o.Namespace).Delete(ctx, it.Name, del)
			}
		} else if it.Kind == "Job" {
			id = "job.batch/" + it.Name
		}
		switch {
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			// gone already (a TTL), or replaced by another object of that name
			it.Action, it.Reason = "keep", "already gone"
			o.Infof("%s already gone\n", id)
		case err != nil:
			return fmt.Errorf("delete %s: %w", id, err)
		case o.DryRun.Active():
			// the table said it already: one summary line below
		default:
			doc.Deleted++
			o.Infof("%s deleted\n", id)
		}
		err = nil
	}
	if o.DryRun.Active() {
		o.Infof("would delete %s in namespace %s%s: nothing was deleted\n", cli.Plural(len(doomed), "object", "objects"), o.Namespace, o.DryRun.Suffix())
	}
	return o.printDoc(doc)
}

func (o *Options) printDoc(doc *Document) error {
	if !o.Print.Structured() {
		return nil
	}
	if doc.Items == nil {
		doc.Items = []Item{}
	}
	return o.Print.PrintDocument(o.Out, Kind, doc)
}

func (o *Options) printTable(doc *Document) error {
	t := output.NewTable(o.Out, "ACTION", "NAME", "TYPE", "STATE", "FINISHED", "REASON")
	for _, it := range doc.Items {
		name := "pod/" + it.Name
		if it.Kind == "Job" {
			name = "job.batch/" + it.Name
		}
		fin := "-"
		if it.Finished != nil {
			fin = cli.Age(o.Now(), *it.Finished) + " ago"
		}
		action := it.Action
		if action == "delete" && doc.DryRun {
			action = "would delete"
		}
		t.Append(action, name, it.Type, it.State, fin, it.Reason)
	}
	return t.Render()
}

// NeededRights of deploy cleanup (a client dry run only reads: checked by its LISTs).
func (o *Options) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.DryRun.Client() {
		return nil, nil
	}
	return rbac.For("deploy cleanup").Needs(o.Namespace), nil
}
