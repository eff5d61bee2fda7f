package backup

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// The scripts the restore runs in its Job's pod (POSIX sh, the image's
// busybox). They name the volumes by $PGDATA and $WAL_ARCHIVE_DIR only.

// pitrPrepareScript keeps ($1 = keep) or removes the data directory, and
// makes an empty one owned as the old one was, with the restore's marker
// ($3, holding the safety copy's path). A data directory holding the marker
// is a restore left unfinished: it is removed and its safety copy stays the
// one (whose owner the new directory gets). $2 is the safety copy's suffix. It prints "<uid:gid> <what> <safety copy>",
// what being kept, removed, absent or rerun.
const pitrPrepareScript = `set -e
[ -n "$PGDATA" ] && [ -n "$WAL_ARCHIVE_DIR" ] || { echo "PGDATA or WAL_ARCHIVE_DIR is not set" >&2; exit 97; }
parent=$(dirname "$PGDATA")
owner=$(stat -c %u:%g "$PGDATA" 2>/dev/null || stat -c %u:%g "$parent")
safety=
if [ -f "$PGDATA/$3" ]; then
  safety=$(cat "$PGDATA/$3"); what=rerun
  [ -d "$safety" ] || safety=
  # the unfinished directory may not have been given to its owner yet
  [ -z "$safety" ] || owner=$(stat -c %u:%g "$safety")
  rm -rf "$PGDATA"
elif [ -e "$PGDATA" ] && [ "$1" = keep ]; then
  safety="$PGDATA$2"; what=kept
  mv "$PGDATA" "$safety"
elif [ -e "$PGDATA" ]; then
  what=removed
  rm -rf "$PGDATA"
else
  what=absent
fi
mkdir -m 700 "$PGDATA"
printf '%s\n' "$safety" > "$PGDATA/$3"
chown "$owner" "$PGDATA" "$PGDATA/$3"
echo "$owner $what $safety"
`

// pitrLayScript extracts exactly $1 bytes of tar from stdin into $PGDATA
// (on kwok exec stdin does not end at EOF; everywhere a short upload shows),
// counts and hashes them in the pod, gives the files to $2 (user:group) and
// reports "PIYASA-PITR-STATUS rc= bytes= sha256=" on stderr.
const pitrLayScript = `n="$1"; owner="$2"
d=$(mktemp -d "${TMPDIR:-/tmp}/piyasa-pitr.XXXXXX") || exit 97
trap 'rm -rf "$d"' EXIT
mkfifo "$d/h" "$d/c" || exit 97
sha256sum < "$d/h" > "$d/sha" &
wc -c < "$d/c" > "$d/n" &
head -c "$n" | tee "$d/h" "$d/c" | tar -xf - -C "$PGDATA"
rc=$?
wait
chown -R "$owner" "$PGDATA" && chmod 700 "$PGDATA" || rc=96
echo "` + pitrStatusMarker + ` rc=$rc bytes=$(tr -dc 0-9 < "$d/n") sha256=$(cut -c1-64 < "$d/sha")" >&2
exit $rc
`

// pitrStatusMarker starts the status line of the lay-down.
const pitrStatusMarker = "PIYASA-PITR-STATUS"

// pitrWALScript stores exactly $2 bytes of stdin as $WAL_ARCHIVE_DIR/$1
// (under a temporary name, renamed once whole and its sha256 $3 checked).
const pitrWALScript = `f="$WAL_ARCHIVE_DIR/$1"; tmp="$WAL_ARCHIVE_DIR/.$1.restore"
head -c "$2" > "$tmp" || exit 97
got=$(wc -c < "$tmp" | tr -dc 0-9)
sum=$(sha256sum < "$tmp" | cut -c1-64)
if [ "$got" != "$2" ] || [ "$sum" != "$3" ]; then rm -f "$tmp"; echo "$1: got $got bytes sha256 $sum, want $2 bytes sha256 $3" >&2; exit 98; fi
chown "$(stat -c %u:%g "$WAL_ARCHIVE_DIR")" "$tmp" 2>/dev/null
mv "$tmp" "$f"
`

// pitrRecoveryScript sets recovery: recovery.signal, restore_command from
// the archive volume, and with $1 the target time and promotion there.
const pitrRecoveryScript = `set -e
touch "$PGDATA/recovery.signal"
{
  echo "restore_command = 'cp \"$WAL_ARCHIVE_DIR/%f\" \"%p\"'"
  if [ -n "$1" ]; then
    echo "recovery_target_time = '$1'"
    echo "recovery_target_action = 'promote'"
  fi
} >> "$PGDATA/postgresql.auto.conf"
chown "$2" "$PGDATA/recovery.signal" "$PGDATA/postgresql.auto.conf"
`

// pitrResetSettings are the recovery settings removed once PostgreSQL is promoted.
var pitrResetSettings = []string{"restore_command", "recovery_target_time", "recovery_target_action"}

// restoreJob is the Job whose pod mounts the postgres and the WAL archive
// volumes (as the postgres pod's user) for the restore's execs.
func (o *RestoreOptions) restoreJob(name string) *batchv1.Job {
	uid := int64(10001)
	lbl := map[string]string{app.PartOfLabel: app.PartOfValue, app.RestoreJobLabel: "true"}
	deadline := int64(o.Timeout / time.Second)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(int32(0)), ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To(int64(1)),
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid,
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name: app.RestoreContainer, Image: app.PostgresImage, ImagePullPolicy: corev1.PullIfNotPresent,
						// The restore's steps run by exec; the container waits for them.
						Command: []string{"sleep", fmt.Sprint(deadline)},
						Env:     []corev1.EnvVar{{Name: "PGDATA", Value: app.PGDataDir}, {Name: app.EnvWALArchiveDir, Value: app.WALArchiveDir}},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: path.Dir(app.PGDataDir)},
							{Name: "wal-archive", MountPath: app.WALArchiveDir}, {Name: "tmp", MountPath: "/tmp"}},
					}},
					Volumes: []corev1.Volume{
						{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: o.Env.ObjectName(app.PostgresPVC)}}},
						{Name: "wal-archive", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: o.Env.ObjectName(app.WALArchivePVC)}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
	if o.pitr.inCluster {
		v, m := o.backupVolume()
		spec := &job.Spec.Template.Spec
		spec.Volumes = append(spec.Volumes, v)
		spec.Containers[0].VolumeMounts = append(spec.Containers[0].VolumeMounts, m)
	}
	return job
}

// startRestoreJob creates the restore Job and waits until its pod runs.
func (o *RestoreOptions) startRestoreJob(ctx context.Context) (*corev1.Pod, error) {
	cs, err := o.Clientset()
	if err != nil {
		return nil, err
	}
	name := o.Env.ObjectName(app.RestoreJobBase + "-" + strings.ToLower(o.Now().UTC().Format("20060102t150405z")))
	job, err := cs.BatchV1().Jobs(o.Namespace).Create(ctx, o.restoreJob(name), metav1.CreateOptions{FieldManager: app.FieldManager})
	if err != nil {
		return nil, err
	}
	sel := metav1.ListOptions{LabelSelector: "job-name=" + job.Name}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the restore Job %s's pod did not run within 2m (are the volumes %s and %s bound? kubectl describe pod -n %s -l job-name=%s)",
				job.Name, o.Env.ObjectName(app.PostgresPVC), o.Env.ObjectName(app.WALArchivePVC), o.Namespace, job.Name)
		}
		pods, err := cs.CoreV1().Pods(o.Namespace).List(ctx, sel)
		if err == nil {
			for i := range pods.Items {
				switch pods.Items[i].Status.Phase {
				case corev1.PodRunning:
					return &pods.Items[i], nil
				case corev1.PodFailed, corev1.PodSucceeded:
					return nil, fmt.Errorf("the restore Job's pod %s ended (%s) before it was used", pods.Items[i].Name, pods.Items[i].Status.Phase)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// deleteRestoreJob deletes the restore Job with its pod and waits until the
// pod is gone (the volumes are ReadWriteOnce: PostgreSQL mounts them next).
func (o *RestoreOptions) deleteRestoreJob(ctx context.Context, pod *corev1.Pod) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	job := pod.Labels["job-name"]
	bg := metav1.DeletePropagationBackground
	if err := cs.BatchV1().Jobs(o.Namespace).Delete(ctx, job, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	_ = cs.CoreV1().Pods(o.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
	for {
		_, err := cs.CoreV1().Pods(o.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return cli.Failedf("the restore Job's pod %s did not go away: %v", pod.Name, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// dropRestoreJob deletes the restore Job after a failure or once the plan
// alone was wanted, even after ctx ended; a failure is a warning.
func (o *RestoreOptions) dropRestoreJob(ctx context.Context, pod *corev1.Pod) {
	if pod == nil {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scalePatchTimeout)
	defer cancel()
	if err := o.deleteRestoreJob(dctx, pod); err != nil {
		o.Infof("warning: the restore Job %s was not deleted (%v): kubectl delete job -n %s %s\n", pod.Labels["job-name"], err, o.Namespace, pod.Labels["job-name"])
	}
}
