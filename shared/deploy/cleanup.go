package deploy

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// CleanupKind is the kind of the `deploy cleanup -o json|yaml` document.
const CleanupKind = "DeployCleanup"

// Types of what cleanup looks at.
const (
	CleanupMigration = "migration" // a Job of `kubectl piyasa migrate`
	CleanupBackup    = "backup"    // a Job of the backup CronJob (scheduled or run-now)
	CleanupFailedPod = "failed-pod"
)

// Cleanup is the `deploy cleanup` document: what was (or would be) deleted and what was kept, and why.
type Cleanup struct {
	Namespace string `json:"namespace"`
	OlderThan string `json:"olderThan"`
	// DryRun is true when nothing was deleted (--dry-run).
	DryRun bool          `json:"dryRun"`
	Items  []CleanupItem `json:"items"`
	// Deleted counts the objects deleted (0 with --dry-run).
	Deleted int `json:"deleted"`
}

// CleanupItem is one Job or pod cleanup looked at.
type CleanupItem struct {
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

// CleanupOptions of `deploy cleanup`.
type CleanupOptions struct {
	*cli.Global
	OlderThan string
	Yes       bool
	DryRun    cli.DryRun
	Print     *output.Flags

	olderThan time.Duration
}

// NewCmdCleanup deletes the suite's old finished Jobs and failed pods (the guide's Cleanup Old Resources).
func NewCmdCleanup(g *cli.Global) *cobra.Command {
	o := &CleanupOptions{Global: g, OlderThan: "7d", Print: output.NewFlags()}
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
func (o *CleanupOptions) Complete(cmd *cobra.Command, _ []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	o.DryRun, err = completeDryRun(cmd, o.Global)
	return err
}

// Validate checks --older-than and -o.
func (o *CleanupOptions) Validate() error {
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
func (o *CleanupOptions) Run(ctx context.Context) error {
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
	doc := &Cleanup{Namespace: o.Namespace, OlderThan: o.OlderThan, DryRun: o.DryRun.Active(),
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
		if err := confirmNamespace(o.Global, fmt.Sprintf("This deletes %s in namespace %s.", plural(len(doomed), "object"), o.Namespace)); err != nil {
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
		o.Infof("would delete %s in namespace %s%s: nothing was deleted\n", plural(len(doomed), "object"), o.Namespace, o.DryRun.Suffix())
	}
	return o.printDoc(doc)
}

func (o *CleanupOptions) printDoc(doc *Cleanup) error {
	if !o.Print.Structured() {
		return nil
	}
	if doc.Items == nil {
		doc.Items = []CleanupItem{}
	}
	return o.Print.PrintDocument(o.Out, CleanupKind, doc)
}

func (o *CleanupOptions) printTable(doc *Cleanup) error {
	t := output.NewTable(o.Out, "ACTION", "NAME", "TYPE", "STATE", "FINISHED", "REASON")
	for _, it := range doc.Items {
		name := "pod/" + it.Name
		if it.Kind == "Job" {
			name = "job.batch/" + it.Name
		}
		fin := "-"
		if it.Finished != nil {
			fin = age(o.Now(), metav1.NewTime(*it.Finished)) + " ago"
		}
		action := it.Action
		if action == "delete" && doc.DryRun {
			action = "would delete"
		}
		t.Append(action, name, it.Type, it.State, fin, it.Reason)
	}
	return t.Render()
}

// keepNewest is how many of the newest finished Jobs of each type are kept
// whatever their age.
var keepNewest = map[string]int{CleanupMigration: app.KeepFinishedMigrationJobs, CleanupBackup: 1}

// planCleanup decides, for each of the suite's Jobs and the app's failed
// pods, whether it goes: finished longer ago than olderThan, and not one of
// the newest finished Jobs of its type (keepNewest), not running, not a kept
// Job's pod.
func planCleanup(env app.Environment, jobs []batchv1.Job, pods []corev1.Pod, now time.Time, olderThan time.Duration) []CleanupItem {
	var items []CleanupItem
	newest := map[string]int{}
	// Newest first, so that the first finished Job of each type is the newest.
	sort.SliceStable(jobs, func(i, j int) bool {
		a, b := jobFinished(&jobs[i]), jobFinished(&jobs[j])
		switch {
		case a != nil && b != nil && !a.Equal(*b):
			return a.After(*b)
		case (a == nil) != (b == nil):
			return a == nil // running ones first
		}
		return jobs[j].CreationTimestamp.Before(&jobs[i].CreationTimestamp)
	})
	for i := range jobs {
		j := &jobs[i]
		typ := suiteJobType(env, j)
		if typ == "" {
			continue
		}
		it := CleanupItem{Kind: "Job", Name: j.Name, Type: typ, State: jobStateOf(j), uid: j.UID, Action: "keep"}
		fin := jobFinished(j)
		if fin != nil {
			t := fin.UTC()
			it.Finished = &t
		}
		switch {
		case fin == nil:
			it.Reason = "running"
		case newest[typ] < keepNewest[typ]:
			newest[typ]++
			it.Reason = "newest finished " + typ + " Job"
			if keepNewest[typ] > 1 {
				it.Reason = fmt.Sprintf("one of the newest %d finished %s Jobs", keepNewest[typ], typ)
			}
		case now.Sub(*fin) < olderThan:
			it.Reason = "finished less than " + ageText(olderThan) + " ago"
		default:
			it.Action, it.Reason = "delete", "finished more than "+ageText(olderThan)+" ago"
		}
		items = append(items, it)
	}
	sort.SliceStable(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase != corev1.PodFailed || p.Labels[app.PartOfLabel] != app.PartOfValue {
			continue
		}
		if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "Job" {
			// A Job's pods go with it; a kept Job keeps its failed attempts' logs.
			continue
		}
		fin := podFailedAt(p)
		t := fin.UTC()
		it := CleanupItem{Kind: "Pod", Name: p.Name, Type: CleanupFailedPod, State: string(p.Status.Phase), Finished: &t, uid: p.UID, Action: "keep"}
		if p.Status.Reason != "" {
			it.State += " (" + p.Status.Reason + ")"
		}
		if now.Sub(fin) < olderThan {
			it.Reason = "failed less than " + ageText(olderThan) + " ago"
		} else {
			it.Action, it.Reason = "delete", "failed more than "+ageText(olderThan)+" ago"
		}
		items = append(items, it)
	}
	return items
}

// suiteJobType tells which of the suite's Jobs j is ("" when none): a
// migration Job (label piyasa.io/migration=true) or a Job of the backup
// CronJob (its owner, or the CronJob's pod label app=piyasa-backup).
func suiteJobType(env app.Environment, j *batchv1.Job) string {
	if j.Labels[app.MigrationLabel] == "true" {
		return CleanupMigration
	}
	if ref := metav1.GetControllerOf(j); ref != nil && ref.Kind == "CronJob" && ref.Name == env.ObjectName(app.BackupCronJob) {
		return CleanupBackup
	}
	if j.Spec.Template.Labels["app"] == app.BackupAppLabel {
		return CleanupBackup
	}
	return ""
}

// jobFinished is when a Job completed or failed (nil: still running).
func jobFinished(j *batchv1.Job) *time.Time {
	if j.Status.CompletionTime != nil {
		t := j.Status.CompletionTime.Time
		return &t
	}
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			t := c.LastTransitionTime.Time
			if t.IsZero() {
				t = j.CreationTimestamp.Time
			}
			return &t
		}
	}
	return nil
}

func jobStateOf(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return "Complete"
		case batchv1.JobFailed:
			return "Failed"
		}
	}
	if j.Status.CompletionTime != nil {
		return "Complete"
	}
	return "Running"
}

// podFailedAt is when a failed pod stopped: its containers' last finish,
// else its Ready condition's change, else its start or creation.
func podFailedAt(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if !t.IsZero() {
		return t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return p.CreationTimestamp.Time
}

// ageText prints a duration as --older-than takes it (7d, 12h, 30m).
func ageText(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
