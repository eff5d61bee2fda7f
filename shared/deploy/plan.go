package deploy

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// plan is what `deploy` would change in the live namespace, worked out once
// (one render, one read of each live object it depends on) and used both by
// deploy, which carries it out, and by diff, which shows it.
type plan struct {
	// objs are the rendered objects, with the running images kept (unless
	// given) and the running worker count kept when it is consistent.
	objs []*unstructured.Unstructured
	// keeps say what a redeploy keeps ("keeping the running 3 workers ...").
	keeps []string
	// reverts are what a redeploy puts back to the manifests' values: changes
	// made with `deploy config set` or `scale hpa` ("LOG_LEVEL DEBUG -> INFO ...").
	reverts []string
	// nsExists is false when the namespace is still to be created.
	nsExists bool
	// configChanged is true when the live piyasa-config differs from the rendered one.
	configChanged bool
	// secret is the change of Secret piyasa-secrets (nil: no .env compared).
	secret *secretPlan
	// restart are the workloads restarted because what they read changed, and why.
	restart    []kube.Workload
	restartWhy []string
}

// planInput is what a plan starts from: the objects rendered in Complete,
// the images given on the command line, and the Secret a .env makes.
type planInput struct {
	objs                 []*unstructured.Unstructured
	image, frontendImage string
	secret               *corev1.Secret
}

// planDeploy reads the live state deploy depends on and works out the plan.
func planDeploy(ctx context.Context, g *cli.Global, c *clients, in planInput) (*plan, error) {
	p := &plan{objs: in.objs}
	ns, err := c.cs.CoreV1().Namespaces().Get(ctx, g.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// A first deploy: nothing live to keep, compare or restart.
		if in.secret != nil {
			p.secret = &secretPlan{want: in.secret, change: secretChange{Created: true}}
		}
		return p, nil
	case err != nil:
		return nil, err
	case ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating:
		return nil, kube.TerminatingError(g.Namespace)
	}
	p.nsExists = true

	if err := p.keepImages(ctx, g, c, in); err != nil {
		return nil, err
	}
	if err := p.planConfig(ctx, g, c); err != nil {
		return nil, err
	}
	if note, err := keepSchedule(ctx, c, g.Namespace, p.objs); err != nil {
		return nil, err
	} else if note != "" {
		p.keeps = append(p.keeps, note)
	}
	hpaReverts, err := hpaReverts(ctx, c, g.Namespace, p.objs)
	if err != nil {
		return nil, err
	}
	p.reverts = append(p.reverts, hpaReverts...)

	if in.secret != nil {
		sp, err := planSecret(ctx, c.cs, in.secret)
		if err != nil {
			return nil, err
		}
		p.secret = &sp
	}
	p.planRestarts(g.Env)
	return p, nil
}

// keepImages keeps the running images of the components whose image was not
// given.
func (p *plan) keepImages(ctx context.Context, g *cli.Global, c *clients, in planInput) error {
	// Images: without --image/--frontend-image the running ones are kept, so
	// that re-applying the configuration never swaps versions.
	api, _ := app.LookupComponent(app.API)
	fe, _ := app.LookupComponent(app.Frontend)
	for _, x := range []struct {
		comp  app.Component
		given string
		comps []string
		what  string
		flag  string
	}{
		{api, in.image, []string{app.API, app.Worker}, "api/worker", "--image"},
		{fe, in.frontendImage, []string{app.Frontend}, "frontend", "--frontend-image"},
	} {
		if x.given != "" {
			continue
		}
		img, err := liveImage(ctx, c, g.Namespace, g.Env, x.comp)
		if err != nil {
			return err
		}
		if img != "" {
			setRenderedImage(p.objs, img, x.comps...)
			p.keeps = append(p.keeps, fmt.Sprintf("keeping the running %s image %s (pass %s to change it)", x.what, img, x.flag))
		}
	}
	return nil
}

// planConfig compares the live piyasa-config with the rendered one: the
// worker count kept, the values put back, whether it changed.
func (p *plan) planConfig(ctx context.Context, g *cli.Global, c *clients) error {
	// piyasa-config: one read, for the worker count, the reverts and the restarts.
	cmObj := renderedConfigMap(p.objs, g.Env)
	var liveCM *corev1.ConfigMap
	if cmObj != nil {
		var err error
		liveCM, err = c.cs.CoreV1().ConfigMaps(g.Namespace).Get(ctx, cmObj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			liveCM, err = nil, nil
		}
		if err != nil {
			return err
		}
	}
	if note, err := keepWorkerCount(ctx, c, g.Namespace, p.objs, cmObj, liveCM); err != nil {
		return err
	} else if note != "" {
		p.keeps = append(p.keeps, note)
	}
	if liveCM == nil {
		return nil
	}
	want, _, _ := unstructured.NestedStringMap(cmObj.Object, "data")
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		old, had := liveCM.Data[k]
		if had && old == want[k] {
			continue
		}
		p.configChanged = true
		if had {
			p.reverts = append(p.reverts, fmt.Sprintf("%s %s -> %s (configmap/%s)", k, redact.Value(k, old), redact.Value(k, want[k]), cmObj.GetName()))
		}
	}
	return nil
}

// planRestarts names the workloads to restart because what they read changed.
func (p *plan) planRestarts(env app.Environment) {
	// Pods read piyasa-config and piyasa-secrets when they start: restart the
	// readers of whatever changed (a first deploy starts them fresh anyway).
	secretChanged := p.secret != nil && !p.secret.change.Created && !p.secret.change.Empty()
	if p.configChanged {
		p.restartWhy = append(p.restartWhy, app.ConfigMapName)
	}
	if secretChanged {
		p.restartWhy = append(p.restartWhy, app.SecretName)
	}
	if len(p.restartWhy) > 0 {
		p.restart = readersOf(env, func(c app.Component) bool {
			return (p.configChanged && c.UsesConfig) || (secretChanged && c.UsesSecret && !c.Stateful)
		})
	}
}

// why says what changed, for restart messages.
func (p *plan) why() string { return strings.Join(p.restartWhy, ", ") }

// liveImage returns the image of a component's live Deployment ("" when it
// is missing, or runs a mutable reference such as :latest, which is not kept).
func liveImage(ctx context.Context, c *clients, ns string, env app.Environment, comp app.Component) (string, error) {
	d, err := c.cs.AppsV1().Deployments(ns).Get(ctx, env.WorkloadName(comp), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	ctr := containerOf(&d.Spec.Template.Spec, comp.Name)
	if ctr == nil {
		return "", nil
	}
	if _, err := render.ParseImage(comp.Name, ctr.Image); err != nil {
		return "", nil
	}
	return ctr.Image, nil
}

// setRenderedImage sets the image of the named components' containers in
// the rendered workloads (the container named like the component, else the
// first), as the image override of a render would.
func setRenderedImage(objs []*unstructured.Unstructured, image string, comps ...string) {
	for _, u := range objs {
		if u.GetKind() != app.KindDeployment && u.GetKind() != app.KindStatefulSet {
			continue
		}
		comp := workloadComponent(u)
		if !contains(comps, comp) {
			continue
		}
		ctrs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		idx := -1
		for i, c := range ctrs {
			if m, ok := c.(map[string]any); ok && m["name"] == comp {
				idx = i
				break
			}
		}
		if idx < 0 && len(ctrs) > 0 {
			idx = 0
		}
		if idx < 0 {
			continue
		}
		ctrs[idx].(map[string]any)["image"] = image
		_ = unstructured.SetNestedSlice(u.Object, ctrs, "spec", "template", "spec", "containers")
	}
}

// renderedConfigMap returns the rendered piyasa-config (nil if none).
func renderedConfigMap(objs []*unstructured.Unstructured, env app.Environment) *unstructured.Unstructured {
	for _, u := range objs {
		if u.GetKind() == "ConfigMap" && (u.GetName() == env.ConfigMap() || strings.HasSuffix(u.GetName(), app.ConfigMapName)) {
			return u
		}
	}
	return nil
}

// configData returns the data of the rendered piyasa-config (nil if none).
func configData(objs []*unstructured.Unstructured, env app.Environment) map[string]string {
	if u := renderedConfigMap(objs, env); u != nil {
		d, _, _ := unstructured.NestedStringMap(u.Object, "data")
		return d
	}
	return nil
}

// keepWorkerCount makes a redeploy keep the live worker count when the
// namespace is consistent (worker replicas = TOTAL_WORKERS, as `kubectl
// piyasa scale worker` leaves it): the rendered StatefulSet and ConfigMap get
// the live count, so that re-applying the configuration never reshards the
// workers. It returns a note for the user ("" when nothing is kept).
func keepWorkerCount(ctx context.Context, c *clients, ns string, objs []*unstructured.Unstructured, cm *unstructured.Unstructured, liveCM *corev1.ConfigMap) (string, error) {
	var sts *unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == app.KindStatefulSet && workloadComponent(u) == app.Worker {
			sts = u
		}
	}
	if sts == nil || cm == nil || liveCM == nil {
		return "", nil
	}
	live, err := c.cs.AppsV1().StatefulSets(ns).Get(ctx, sts.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return keepCount(sts, cm, live, liveCM)
}

func keepCount(sts, cm *unstructured.Unstructured, live *appsv1.StatefulSet, liveCM *corev1.ConfigMap) (string, error) {
	n := kube.Replicas(live.Spec.Replicas)
	if liveCM.Data[app.KeyTotalWorkers] != strconv.Itoa(int(n)) {
		return "", nil // inconsistent: the manifests' count repairs it
	}
	rendered, _, _ := unstructured.NestedInt64(sts.Object, "spec", "replicas")
	if rendered == 0 {
		return "", nil // a standby region: the workers run in the primary only
	}
	if int64(n) == rendered {
		return "", nil
	}
	if err := unstructured.SetNestedField(sts.Object, int64(n), "spec", "replicas"); err != nil {
		return "", err
	}
	if err := unstructured.SetNestedField(cm.Object, strconv.Itoa(int(n)), "data", app.KeyTotalWorkers); err != nil {
		return "", err
	}
	return fmt.Sprintf("keeping the running %d workers and TOTAL_WORKERS=%d (change both with: kubectl piyasa scale worker N)", n, n), nil
}

// keepSchedule makes a redeploy keep what `backup schedule set` changed on
// the live backup CronJob (the fields its annotation lists: the schedule,
// KEEP_*), as it keeps a suspended schedule: the rendered CronJob gets the
// live values and the annotation. It returns a note ("" when nothing differs
// from the manifests).
func keepSchedule(ctx context.Context, c *clients, ns string, objs []*unstructured.Unstructured) (string, error) {
	for _, u := range objs {
		if u.GetKind() != "CronJob" || !strings.HasSuffix(u.GetName(), app.BackupCronJob) {
			continue
		}
		live, err := c.cs.BatchV1().CronJobs(ns).Get(ctx, u.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return keepScheduleOf(u, live)
	}
	return "", nil
}

// keepScheduleOf sets the live values of the fields live's annotation lists
// on the rendered CronJob u (see keepSchedule).
func keepScheduleOf(u *unstructured.Unstructured, live *batchv1.CronJob) (string, error) {
	fields := live.Annotations[app.ScheduleSetAnnotation]
	if fields == "" {
		return "", nil
	}
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[app.ScheduleSetAnnotation] = fields
	u.SetAnnotations(ann)
	var kept, manifests, back []string
	for _, f := range strings.Split(fields, ",") {
		switch f = strings.TrimSpace(f); f {
		case app.ScheduleField:
			want, _, _ := unstructured.NestedString(u.Object, "spec", "schedule")
			if live.Spec.Schedule == "" || live.Spec.Schedule == want {
				continue
			}
			if err := unstructured.SetNestedField(u.Object, live.Spec.Schedule, "spec", "schedule"); err != nil {
				return "", err
			}
			kept = append(kept, "schedule "+live.Spec.Schedule)
			manifests = append(manifests, want)
			back = append(back, fmt.Sprintf("--cron %q", want))
		case app.EnvKeepDaily, app.EnvKeepWeekly, app.EnvKeepMonthly:
			v, ok := liveEnv(live, f)
			if !ok {
				continue
			}
			want, err := setRenderedEnv(u, f, v)
			if err != nil || want == v {
				if err != nil {
					return "", err
				}
				continue
			}
			kept = append(kept, f+"="+v)
			manifests = append(manifests, f+"="+output.OrDash(want))
			if want != "" {
				back = append(back, "--"+strings.ToLower(strings.ReplaceAll(f, "_", "-"))+" "+want)
			}
		}
	}
	if len(kept) == 0 {
		return "", nil
	}
	note := fmt.Sprintf("keeping the backup %s set with backup schedule set (the manifests say %s", strings.Join(kept, ", "), strings.Join(manifests, ", "))
	if len(back) > 0 {
		note += "; back to them: kubectl piyasa backup schedule set " + strings.Join(back, " ")
	}
	return note + ")", nil
}

// liveEnv reads a plain env variable of the CronJob's first container.
func liveEnv(cj *batchv1.CronJob, name string) (string, bool) {
	cs := cj.Spec.JobTemplate.Spec.Template.Spec.Containers
	if len(cs) == 0 {
		return "", false
	}
	for _, e := range cs[0].Env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

// setRenderedEnv sets env variable name of the rendered CronJob's first
// container to v and returns the rendered value it replaces ("" if none).
func setRenderedEnv(u *unstructured.Unstructured, name, v string) (string, error) {
	path := []string{"spec", "jobTemplate", "spec", "template", "spec", "containers"}
	ctrs, _, _ := unstructured.NestedSlice(u.Object, path...)
	if len(ctrs) == 0 {
		return "", nil
	}
	ctr, _ := ctrs[0].(map[string]any)
	env, _ := ctr["env"].([]any)
	was, found := "", false
	for _, e := range env {
		m, _ := e.(map[string]any)
		if m["name"] == name {
			was, _ = m["value"].(string)
			m["value"] = v
			found = true
		}
	}
	if !found {
		env = append(env, map[string]any{"name": name, "value": v})
	}
	ctr["env"] = env
	return was, unstructured.SetNestedSlice(u.Object, ctrs, path...)
}

// hpaReverts names the HPAs whose live bounds differ from the manifests'
// (as `kubectl piyasa scale hpa` leaves them): a deploy puts them back.
func hpaReverts(ctx context.Context, c *clients, ns string, objs []*unstructured.Unstructured) ([]string, error) {
	var out []string
	for _, u := range objs {
		if u.GetKind() != "HorizontalPodAutoscaler" {
			continue
		}
		live, err := c.cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, u.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		wantMin, ok, _ := unstructured.NestedInt64(u.Object, "spec", "minReplicas")
		if !ok {
			wantMin = 1
		}
		wantMax, _, _ := unstructured.NestedInt64(u.Object, "spec", "maxReplicas")
		liveMin := int64(kube.Replicas(live.Spec.MinReplicas))
		liveMax := int64(live.Spec.MaxReplicas)
		if liveMin != wantMin || liveMax != wantMax {
			out = append(out, fmt.Sprintf("HPA %s %d-%d -> %d-%d replicas", u.GetName(), liveMin, liveMax, wantMin, wantMax))
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
