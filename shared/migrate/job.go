package migrate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// JobSpec is what a migration Job is made of.
type JobSpec struct {
	Name      string
	Namespace string
	// Template is the api Deployment's pod template.
	Template corev1.PodTemplateSpec
	// Image runs the migration (pinned by digest unless --image named one).
	Image string
	// Args are alembic's arguments: upgrade head, downgrade 0002, ...
	Args []string
	// Direction is up or down; Target the revision asked for.
	Direction, Target string
	// Retries is the Job's backoffLimit; Timeout its activeDeadlineSeconds.
	Retries int32
	Timeout time.Duration
	// User started it (user@host); ImageFrom says where the image came from.
	User, ImageFrom string
	// Annotations are added to the Job (a later --backup-first records its backup here).
	Annotations map[string]string
}

// Command returns the container's command line.
func (s JobSpec) Command() []string {
	return append([]string{"python", "-m", "alembic"}, s.Args...)
}

// BuildJob returns the migration Job: one container with exactly the api
// container's env, envFrom, resources, securityContext, working directory and
// volume mounts, in a pod with the api pods' ServiceAccount, securityContext,
// volumes, image pull secrets and scheduling; restartPolicy Never. Values of
// the Secret are never copied: envFrom refers to it.
func BuildJob(s JobSpec) (*batchv1.Job, error) {
	tpl := s.Template.Spec
	if len(tpl.Containers) == 0 {
		return nil, fmt.Errorf("the api pod template has no container")
	}
	api := apiContainer(tpl)
	c := corev1.Container{
		Name:            app.MigrationContainer,
		Image:           s.Image,
		ImagePullPolicy: api.ImagePullPolicy,
		Command:         s.Command(),
		WorkingDir:      api.WorkingDir,
		Env:             api.Env,
		EnvFrom:         api.EnvFrom,
		Resources:       api.Resources,
		SecurityContext: api.SecurityContext,
		VolumeMounts:    api.VolumeMounts,
	}
	lbl := map[string]string{
		app.PartOfLabel:               app.PartOfValue,
		"app.kubernetes.io/component": app.MigrationComponent,
		app.MigrationLabel:            "true",
	}
	ann := map[string]string{
		app.MigrationTargetAnnotation:  s.Target,
		app.MigrationCommandAnnotation: s.Direction,
		app.MigrationUserAnnotation:    s.User,
		app.MigrationImageAnnotation:   s.ImageFrom,
	}
	for k, v := range s.Annotations {
		ann[k] = v
	}
	// The pod keeps the api pods' labels that grant it network access (the
	// NetworkPolicy lets piyasa.io/database-client pods reach PostgreSQL),
	// but not their selector labels: it must not become an api endpoint.
	podLabels := map[string]string{}
	for k, v := range s.Template.Labels {
		if strings.HasPrefix(k, "piyasa.io/") {
			podLabels[k] = v
		}
	}
	for k, v := range lbl {
		podLabels[k] = v
	}
	deadline := int64(s.Timeout / time.Second)
	retries := s.Retries
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: lbl, Annotations: ann},
		Spec: batchv1.JobSpec{
			BackoffLimit:          &retries,
			ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: map[string]string{app.MigrationTargetAnnotation: s.Target}},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					ServiceAccountName:            tpl.ServiceAccountName,
					AutomountServiceAccountToken:  tpl.AutomountServiceAccountToken,
					SecurityContext:               tpl.SecurityContext,
					ImagePullSecrets:              tpl.ImagePullSecrets,
					Volumes:                       tpl.Volumes,
					NodeSelector:                  tpl.NodeSelector,
					Tolerations:                   tpl.Tolerations,
					PriorityClassName:             tpl.PriorityClassName,
					TerminationGracePeriodSeconds: tpl.TerminationGracePeriodSeconds,
					Containers:                    []corev1.Container{c},
				},
			},
		},
	}, nil
}

// apiContainer returns the api pod template's application container.
func apiContainer(spec corev1.PodSpec) corev1.Container {
	for _, c := range spec.Containers {
		if c.Name == app.API {
			return c
		}
	}
	return spec.Containers[0]
}

// APITemplate reads the api Deployment's pod template.
func APITemplate(ctx context.Context, cs kubernetes.Interface, ns string, env app.Environment) (*appsv1.Deployment, error) {
	c, _ := app.LookupComponent(app.API)
	name := env.WorkloadName(c)
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, cli.Failedf("no api Deployment %s in namespace %s: the migration runs in the api pods' image and environment", name, ns).
			WithHint("deploy the app first: kubectl piyasa deploy --env %s -n %s", env.Name, ns)
	}
	return d, err
}

// readyPods lists the ready pods of a component, newest first.
func readyPods(ctx context.Context, cs kubernetes.Interface, ns, component string) ([]corev1.Pod, error) {
	c, err := app.LookupComponent(component)
	if err != nil {
		return nil, err
	}
	// ResourceVersion "0": served from the API server's watch cache at once
	// (a consistent list can wait ~100 ms for the cache to catch up); a pod's
	// readiness a few milliseconds old is good enough to choose one.
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(c.Labels).String(), ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(&p) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[j].CreationTimestamp.Before(&out[i].CreationTimestamp) })
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ImageChoice is the image a migration runs and where it came from.
type ImageChoice struct {
	Image string
	// From is "api pod <name>" or "--image".
	From string
	// Pinned is true when Image names a digest.
	Pinned bool
	// Warning explains why a running api image could not be pinned.
	Warning string
}

// ChooseImage returns flag (a tag for the api pods' repository, or a whole
// image reference) or, without it, the image of a ready api pod pinned by
// the digest of its imageID.
func ChooseImage(ctx context.Context, cs kubernetes.Interface, ns string, tpl corev1.PodSpec, flag string) (ImageChoice, error) {
	api := apiContainer(tpl)
	if flag != "" {
		img := flag
		if !strings.ContainsAny(flag, "/:@") {
			img = repository(api.Image) + ":" + flag
		}
		return ImageChoice{Image: img, From: "--image", Pinned: strings.Contains(img, "@sha256:")}, nil
	}
	pods, err := readyPods(ctx, cs, ns, app.API)
	if err != nil {
		return ImageChoice{}, err
	}
	if len(pods) == 0 {
		return ImageChoice{}, cli.Failedf("no ready api pod in namespace %s to take the image from", ns).
			WithHint("pass the image to migrate with: --image TAG|IMAGE")
	}
	p := pods[0]
	for _, st := range p.Status.ContainerStatuses {
		if st.Name != api.Name {
			continue
		}
		if d := digestOf(st.ImageID); d != "" {
			return ImageChoice{Image: repository(st.Image) + "@" + d, From: "api pod " + p.Name, Pinned: true}, nil
		}
		img := st.Image
		if img == "" {
			img = api.Image
		}
		return ImageChoice{Image: img, From: "api pod " + p.Name,
			Warning: fmt.Sprintf("api pod %s reports no image digest (imageID %q): the Job runs %s by tag", p.Name, st.ImageID, img)}, nil
	}
	for _, c := range p.Spec.Containers {
		if c.Name == api.Name {
			return ImageChoice{Image: c.Image, From: "api pod " + p.Name,
				Warning: fmt.Sprintf("api pod %s reports no container status: the Job runs %s by tag", p.Name, c.Image)}, nil
		}
	}
	return ImageChoice{Image: api.Image, From: "api template", Warning: "the Job runs the api template's image by tag"}, nil
}

// digestOf returns "sha256:..." from an imageID (docker-pullable://repo@sha256:..., repo@sha256:..., sha256:...).
func digestOf(imageID string) string {
	if i := strings.LastIndex(imageID, "sha256:"); i >= 0 && len(imageID)-i == len("sha256:")+64 {
		return imageID[i:]
	}
	return ""
}

// repository strips the tag and digest of an image reference.
func repository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		image = image[:i]
	}
	return image
}

// JobName returns a free name <prefix>db-migrate-<UTC time> (with -2, -3 ... when taken).
func JobName(ctx context.Context, cs kubernetes.Interface, ns string, env app.Environment, now time.Time) (string, error) {
	base := env.MigrationJobName(now.UTC().Format("20060102-150405"))
	name := base
	for i := 2; i < 100; i++ {
		_, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return "", cli.Failedf("no free Job name from %s", base)
}
