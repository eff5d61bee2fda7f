package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// A point-in-time restore without --from takes its base backup from the
// backup volume (the base backup CronJob's, `backup schedule set
// --physical`): listed through the browse pod, laid down by the restore
// Job's pod, which mounts the volume read-only, and the WAL from the archive
// volume alone.

// pvcTarget names the backup volume in the restore's plan and messages; it
// is read only in the pod (pitrLayPVCScript), never through the API server.
type pvcTarget struct{}

var errPVCTarget = errors.New("the backup volume is read in the restore Job's pod")

// Create refuses: nothing is written to the backup volume.
func (pvcTarget) Create(context.Context, string) (Sink, error) { return nil, errPVCTarget }

// Open refuses: the restore Job's pod reads the file.
func (pvcTarget) Open(context.Context, string) (io.ReadCloser, error) { return nil, errPVCTarget }

// WriteMeta refuses.
func (pvcTarget) WriteMeta(context.Context, string, []byte) error { return errPVCTarget }

// ReadMeta refuses.
func (pvcTarget) ReadMeta(context.Context, string) ([]byte, error) { return nil, errPVCTarget }

// List names nothing: no WAL is stored on the backup volume.
func (pvcTarget) List(context.Context) ([]Entry, error) { return nil, nil }

// Location is the backup's path on the volume.
func (pvcTarget) Location(name string) string { return "pvc:" + name }

// inClusterBases are the good base backups of the namespace on the backup volume.
func (o *RestoreOptions) inClusterBases(ctx context.Context) ([]baseRef, error) {
	items, err := o.inClusterEntries(ctx)
	if err != nil {
		return nil, err
	}
	var out []baseRef
	for _, it := range items {
		info := it.Info
		if it.Status != "ok" || info == nil || info.Format != FormatBaseBackup || info.WAL == nil {
			continue
		}
		if info.Namespace != o.Namespace && !o.FromOtherEnv {
			continue
		}
		out = append(out, baseRef{Loc: Location{Target: pvcTarget{}, Name: it.Name}, Info: info})
	}
	return out, nil
}

// backupVolume is the restore Job's read-only mount of the backup volume.
func (o *RestoreOptions) backupVolume() (corev1.Volume, corev1.VolumeMount) {
	return corev1.Volume{Name: "backups", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
			ClaimName: o.Env.ObjectName(app.BackupPVC), ReadOnly: true}}},
		corev1.VolumeMount{Name: "backups", MountPath: browseRoot, ReadOnly: true}
}

// pitrLayPVCScript lays the base backup $1 (relative to the backup volume at
// $BACKUP_DIR) down into $PGDATA in the restore Job's pod: the file must be
// $2 bytes with sha256 $3 (its BackupInfo's), it is decompressed ($5: gzip or
// none) into tar -x, its files given to $4 (user:group), and the status line
// reports the tar's byte count and sha256 (the BackupInfo's raw ones).
const pitrLayPVCScript = `cd "${BACKUP_DIR:-` + browseRoot + `}" || exit 1
case "$1" in /*|*..*) echo "bad name $1" >&2; exit 2;; esac
[ -f "$1" ] || { echo "$1: no such file on the backup volume" >&2; exit 1; }
got=$(wc -c < "$1" | tr -dc 0-9); sum=$(sha256sum < "$1" | cut -c1-64)
[ "$got" = "$2" ] && [ "$sum" = "$3" ] || { echo "$1: $got bytes sha256 $sum on the volume, its BackupInfo says $2 bytes sha256 $3" >&2; exit 98; }
d=$(mktemp -d "${TMPDIR:-/tmp}/piyasa-pitr.XXXXXX") || exit 97
trap 'rm -rf "$d"' EXIT
mkfifo "$d/h" "$d/c" || exit 97
sha256sum < "$d/h" > "$d/sha" &
wc -c < "$d/c" > "$d/n" &
case "$5" in gzip) dec="gzip -dc";; none) dec=cat;; *) echo "compression $5 cannot be read in the pod" >&2; exit 2;; esac
{ $dec < "$1"; echo $? > "$d/drc"; } | tee "$d/h" "$d/c" | tar -xf - -C "$PGDATA"
rc=$?
wait
[ "$(cat "$d/drc" 2>/dev/null)" = 0 ] || rc=95
chown -R "$4" "$PGDATA" && chmod 700 "$PGDATA" || rc=96
echo "` + pitrStatusMarker + ` rc=$rc bytes=$(tr -dc 0-9 < "$d/n") sha256=$(cut -c1-64 < "$d/sha")" >&2
exit $rc
`

// sendBaseInPod lays the base backup down from the backup volume mounted in
// the restore Job's pod, checked there (the stored file's size and sha256,
// the tar's) against its BackupInfo.
func (o *RestoreOptions) sendBaseInPod(ctx context.Context, pod *corev1.Pod, p *pitrPlan, owner string) error {
	ex, err := o.executor()
	if err != nil {
		return err
	}
	b := p.base
	stderr := &StderrCollector{}
	cmd := []string{"sh", "-c", pitrLayPVCScript, "piyasa-pitr", p.baseLoc.Name, strconv.FormatInt(b.StoredBytes, 10), b.StoredSHA256, owner, b.Compression}
	execErr := ex.Exec(ctx, pod, app.RestoreContainer, cmd, nil, io.Discard, stderr)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	status := ""
	for _, l := range stderr.Lines() {
		if strings.HasPrefix(l, pitrStatusMarker) {
			status = l
		}
	}
	if want := fmt.Sprintf("%s rc=0 bytes=%d sha256=%s", pitrStatusMarker, b.RawBytes, b.RawSHA256); status != want {
		if status == "" {
			status = fmt.Sprint(execErr, " ", stderr.Last())
		}
		return fmt.Errorf("the pod reports %q, want rc=0 bytes=%d and the backup's raw sha256", status, b.RawBytes)
	}
	return nil
}
