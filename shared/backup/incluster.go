package backup

import (
	"bytes"
	"context"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// browseRoot is where the browse pod mounts the backup PVC (the CronJob's path).
const browseRoot = "/backups"

// browsePod starts a short-lived pod that mounts the backup PVC read-only
// (as the CronJob's user), waits until it runs, and returns it with a
// function that deletes it.
func (b *base) browsePod(ctx context.Context) (*corev1.Pod, func(), error) {
	cs, err := b.Clientset()
	if err != nil {
		return nil, nil, err
	}
	uid := int64(10001)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:   b.Env.ObjectName("backup-browse-" + rand.String(5)),
			Labels: map[string]string{"app": "piyasa-backup-browse", app.PartOfLabel: app.PartOfValue},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false),
			ActiveDeadlineSeconds:         ptr.To(int64(900)),
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "browse", Image: app.PostgresImage, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sleep", "900"},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "backups", MountPath: browseRoot, ReadOnly: true}, {Name: "tmp", MountPath: "/tmp"}},
			}},
			Volumes: []corev1.Volume{
				{Name: "backups", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
					ClaimName: b.Env.ObjectName(app.BackupPVC), ReadOnly: true}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
	created, err := cs.CoreV1().Pods(b.Namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: app.FieldManager})
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cs.CoreV1().Pods(b.Namespace).Delete(dctx, created.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p, err := cs.CoreV1().Pods(b.Namespace).Get(ctx, created.Name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return p, cleanup, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			cleanup()
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, cli.Failedf("pod %s mounting PVC %s did not start within 2m", created.Name, b.Env.ObjectName(app.BackupPVC)).
				WithHint("check it with: kubectl describe pvc -n %s %s", b.Namespace, b.Env.ObjectName(app.BackupPVC))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// listScript prints, for every backup in the PVC: path, size, mtime (epoch) and its BackupInfo on one line.
const listScript = `cd "${BACKUP_DIR:-` + browseRoot + `}" || exit 1
for f in daily/* weekly/* monthly/*; do
  case "$f" in *.sql.gz|*.sql.zst|*.sql) ;; *) continue;; esac
  [ -f "$f" ] || continue
  printf '%s\t%s\t%s\t%s\n' "$f" "$(wc -c < "$f" | tr -dc 0-9)" "$(date -r "$f" +%s 2>/dev/null || echo 0)" "$(tr -d '\n\t' < "$f.json" 2>/dev/null)"
done
`

// inClusterEntries lists the backups the CronJob wrote into the PVC.
func (b *base) inClusterEntries(ctx context.Context) ([]ListItem, error) {
	pod, cleanup, err := b.browsePod(ctx)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	ex, err := b.executor()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	stderr := &StderrCollector{}
	if err := ex.Exec(ctx, pod, pod.Spec.Containers[0].Name, []string{"sh", "-c", listScript}, nil, &out, stderr); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, cli.Failedf("cannot list the backup PVC: %s %s", output.FirstLine(err.Error()), stderr.Last())
	}
	var items []ListItem
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.SplitN(line, "\t", 4)
		if len(f) < 3 {
			continue
		}
		size, _ := strconv.ParseInt(f[1], 10, 64)
		mt, _ := strconv.ParseInt(f[2], 10, 64)
		it := ListItem{Name: f[0], Location: "pvc:" + f[0], Size: size, Modified: time.Unix(mt, 0).UTC(), Status: "no-metadata"}
		if len(f) == 4 && f[3] != "" {
			if info, err := ParseInfo([]byte(f[3])); err == nil {
				it.Info, it.Status = info, "ok"
				if info.StoredBytes != size {
					it.Status = "size-mismatch"
				}
			} else {
				it.Status = "bad-metadata"
			}
		}
		it.Kind = KindOf(it.Name, it.Info)
		if it.Info == nil {
			it.Kind = KindScheduled // the CronJob writes only scheduled copies
		}
		items = append(items, it)
	}
	return items, nil
}

// pullScript sends one backup file ($1, relative to the PVC root) with the status line.
var pullScript = `cd "${BACKUP_DIR:-` + browseRoot + `}" || exit 1
case "$1" in /*|*..*) echo "bad name" >&2; exit 2;; esac
` + streamScript(`cat "$1"`)

// pull copies one backup and its BackupInfo out of the PVC into target,
// checked against the pod's sha256 and the BackupInfo's.
func (b *base) pull(ctx context.Context, name string, target Target) (string, error) {
	pod, cleanup, err := b.browsePod(ctx)
	if err != nil {
		return "", err
	}
	defer cleanup()
	ex, err := b.executor()
	if err != nil {
		return "", err
	}
	container := pod.Spec.Containers[0].Name
	var meta bytes.Buffer
	if err := ex.Exec(ctx, pod, container, []string{"sh", "-c", `cd "${BACKUP_DIR:-` + browseRoot + `}" && cat "$1.json"`, "pull", name}, nil, &meta, io.Discard); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", cli.Failedf("%s has no BackupInfo (%s.json) in the PVC: pull copies only backups with metadata", name, name)
	}
	info, err := ParseInfo(meta.Bytes())
	if err != nil {
		return "", cli.Failedf("%s.json: %v", name, err)
	}
	base := path.Base(name)
	sink, err := target.Create(ctx, base)
	if err != nil {
		return "", cli.Failedf("cannot write %s: %v", target.Location(base), err)
	}
	committed := false
	defer func() {
		if !committed {
			sink.Abort()
		}
	}()
	got := NewCounter()
	stderr := &StderrCollector{}
	ws := &watchedSink{Sink: sink}
	check := b.pullCheck(name, info)
	defer check.abort()
	execErr := ex.Exec(ctx, pod, container, []string{"sh", "-c", pullScript, "pull", name}, nil, io.MultiWriter(got, ws, check), stderr)
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	req := dumpRequest{Target: target, Name: base}
	if err := b.checkStreamed(ctx, req, streamKind{What: "pull " + name, Tool: "cat"}, ws, execErr, stderr, got, noScan{}); err != nil {
		return "", err
	}
	if got.N != info.StoredBytes || got.Sum() != info.StoredSHA256 {
		return "", cli.Failedf("pull %s rejected, nothing written: the file in the PVC does not match its BackupInfo (size %d, want %d)", name, got.N, info.StoredBytes)
	}
	if err := check.finish(info); err != nil {
		if ke := keyError(err, cli.ExitFailed, "; nothing was written"); ke != nil {
			return "", ke
		}
		return "", cli.Failedf("pull %s rejected, nothing written: %v", name, err)
	}
	if err := sink.Commit(ctx); err != nil {
		return "", cli.Failedf("cannot store %s: %v", target.Location(base), err)
	}
	committed = true
	info.Name, info.Location = base, target.Location(base)
	data, err := info.Marshal()
	if err != nil {
		return "", err
	}
	if err := target.WriteMeta(ctx, base, data); err != nil {
		return "", cli.Failedf("backup %s written but its metadata could not be: %v", info.Location, err)
	}
	return info.Location, nil
}

// noScan is the streamScan of a copy whose content is checked afterwards.
type noScan struct{}

// Problem finds none.
func (noScan) Problem() string { return "" }
