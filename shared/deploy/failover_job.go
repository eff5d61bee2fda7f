package deploy

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kptr "k8s.io/utils/ptr"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// The scripts a failover runs in its data Job's pod, which mounts the
// stopped PostgreSQL's volume (POSIX sh, the image's busybox). The
// replication password comes on stdin (one line), never in an argument.

// followScript makes the data directory a hot standby of the primary at
// $1:$2 (application_name $3): standby.signal and primary_conninfo over TLS.
// It is for a database that stopped cleanly before the standby it follows
// was promoted (a switchover).
const followScript = `set -e
IFS= read -r pw || true
[ -s "$PGDATA/PG_VERSION" ] || { echo "$PGDATA holds no database" >&2; exit 97; }
rm -f "$PGDATA/recovery.signal"
touch "$PGDATA/standby.signal"
chown "$(stat -c %u:%g "$PGDATA")" "$PGDATA/standby.signal"
printf "primary_conninfo = 'host=%s port=%s user=` + app.ReplicationRole + ` password=%s sslmode=require application_name=%s'\n" "$1" "$2" "$pw" "$3" >> "$PGDATA/postgresql.auto.conf"
echo followed
`

// recloneScript sets the data directory aside ($PGDATA$4, kept) and clones
// the primary at $1:$2 into a new one (pg_basebackup -R, application_name
// $3), owned as the old one was; when the clone fails the old directory is
// put back. It prints "aside PATH" (PATH empty when there was none).
const recloneScript = `set -e
IFS= read -r pw || true
aside=
owner=$(stat -c %u:%g "$PGDATA" 2>/dev/null || stat -c %u:%g "$(dirname "$PGDATA")")
if [ -e "$PGDATA" ]; then aside="$PGDATA$4"; mv "$PGDATA" "$aside"; fi
if ! PGPASSWORD="$pw" pg_basebackup -D "$PGDATA" -R -X stream --checkpoint=fast --no-sync \
  -d "host=$1 port=$2 user=` + app.ReplicationRole + ` sslmode=require application_name=$3" >&2; then
  rm -rf "$PGDATA"
  [ -z "$aside" ] || mv "$aside" "$PGDATA"
  exit 98
fi
chown -R "$owner" "$PGDATA"
chmod 700 "$PGDATA"
echo "aside $aside"
`

// asideSuffix names a data directory set aside by a rejoin.
const asideSuffix = ".before-rejoin-"

// dataJob is the Job whose pod mounts the postgres volume (as the postgres
// pod's user) while PostgreSQL is stopped, for a failover's execs. It carries
// the restore Jobs' label: the same kind of pod.
func (r *foRegion) dataJob(name string, timeout time.Duration) *batchv1.Job {
	uid := int64(10001)
	lbl := map[string]string{app.PartOfLabel: app.PartOfValue, app.RestoreJobLabel: "true"}
	deadline := int64(timeout / time.Second)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl},
		Spec: batchv1.JobSpec{
			BackoffLimit: kptr.To(int32(0)), ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: kptr.To(false),
					TerminationGracePeriodSeconds: kptr.To(int64(1)),
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: kptr.To(true), RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid,
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name: app.RestoreContainer, Image: app.PostgresImage, ImagePullPolicy: corev1.PullIfNotPresent,
						Command: []string{"sleep", strconv.FormatInt(deadline, 10)},
						Env:     []corev1.EnvVar{{Name: "PGDATA", Value: app.PGDataDir}},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: kptr.To(false), ReadOnlyRootFilesystem: kptr.To(true),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: path.Dir(app.PGDataDir)}, {Name: "tmp", MountPath: "/tmp"}},
					}},
					Volumes: []corev1.Volume{
						{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: r.g.Env.ObjectName(app.PostgresPVC)}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
}

// inDataJob runs script (with args, the password on stdin) in a data Job's
// pod of the region and deletes the Job; it returns the script's output.
func (r *foRegion) inDataJob(ctx context.Context, script string, password []byte, timeout time.Duration, args ...string) (string, error) {
	cs, err := r.g.Clientset()
	if err != nil {
		return "", err
	}
	name := r.g.Env.ObjectName("failover-" + strings.ToLower(time.Now().UTC().Format("20060102t150405z")))
	job, err := cs.BatchV1().Jobs(r.g.Namespace).Create(ctx, r.dataJob(name, timeout), metav1.CreateOptions{FieldManager: app.FieldManager})
	if err != nil {
		return "", err
	}
	defer r.deleteJob(context.WithoutCancel(ctx), job.Name)
	pod, err := r.jobPod(ctx, job.Name, timeout)
	if err != nil {
		return "", err
	}
	stdin := strings.NewReader(string(password) + "\n")
	return execIn(ctx, r.g, pod, app.RestoreContainer, append([]string{"sh", "-c", script, "piyasa-failover"}, args...), stdin)
}

// jobPod waits until the Job's pod runs and returns its name.
func (r *foRegion) jobPod(ctx context.Context, job string, timeout time.Duration) (string, error) {
	wcs, err := r.g.WatchClientset()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sel := metav1.ListOptions{LabelSelector: "job-name=" + job}
	for {
		pods, err := wcs.CoreV1().Pods(r.g.Namespace).List(ctx, sel)
		if err != nil {
			return "", err
		}
		for _, p := range pods.Items {
			switch p.Status.Phase {
			case corev1.PodRunning:
				return p.Name, nil
			case corev1.PodFailed, corev1.PodSucceeded:
				return "", fmt.Errorf("the data Job's pod %s ended (%s) before it was used", p.Name, p.Status.Phase)
			}
		}
		sel.ResourceVersion = pods.ResourceVersion
		w, err := wcs.CoreV1().Pods(r.g.Namespace).Watch(ctx, sel)
		if err != nil {
			return "", err
		}
		for range w.ResultChan() {
			break // something changed: list again
		}
		w.Stop()
		sel.ResourceVersion = ""
		if ctx.Err() != nil {
			return "", fmt.Errorf("the data Job %s's pod did not run within %s (is the volume %s bound? kubectl describe pod -n %s -l job-name=%s)",
				job, timeout, r.g.Env.ObjectName(app.PostgresPVC), r.g.Namespace, job)
		}
	}
}

// deleteJob deletes the data Job and waits (bounded) until its pod is gone:
// the volume is ReadWriteOnce and PostgreSQL mounts it next.
func (r *foRegion) deleteJob(ctx context.Context, job string) {
	cs, err := r.g.Clientset()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	bg := metav1.DeletePropagationBackground
	_ = cs.BatchV1().Jobs(r.g.Namespace).Delete(ctx, job, metav1.DeleteOptions{PropagationPolicy: &bg})
	sel := metav1.ListOptions{LabelSelector: "job-name=" + job}
	for ctx.Err() == nil {
		pods, err := cs.CoreV1().Pods(r.g.Namespace).List(ctx, sel)
		if err != nil && !apierrors.IsNotFound(err) {
			return
		}
		if len(pods.Items) == 0 {
			return
		}
		for _, p := range pods.Items {
			_ = cs.CoreV1().Pods(r.g.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: kptr.To(int64(0))})
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}
