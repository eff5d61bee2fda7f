package backup

import (
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/recovery"
)

// The WAL archive as the postgres pod has it: one exec lists it, one exec
// per file copies it out. The scripts read the directory from
// $WAL_ARCHIVE_DIR (app.EnvWALArchiveDir), never from a literal path.

// The listing's script and end marker (shared/recovery).
const (
	walListEnd    = recovery.ListEnd
	walListScript = recovery.ListScript
)

// walCopyScript streams the archived file $1 as streamScript does.
var walCopyScript = streamScript(`cat -- "$` + app.EnvWALArchiveDir + `/$1"`)

// WALCopyCommand is the exec command that streams the archived file name.
func WALCopyCommand(name string) []string {
	return []string{"sh", "-c", walCopyScript, "piyasa-wal", name}
}

// WALListCommand is the exec command that lists the archive (shared/recovery).
func WALListCommand() []string { return recovery.ListCommand() }

// ArchivedFile is one file of the pod's WAL archive (shared/recovery).
type ArchivedFile = recovery.ArchivedFile

// ParseWALList reads WALListCommand's output (shared/recovery.ParseList).
func ParseWALList(out []byte) ([]ArchivedFile, error) { return recovery.ParseList(out) }

// listArchive lists the WAL archive of the postgres pod.
func (b *base) listArchive(ctx context.Context, ex Executor, pod *corev1.Pod, container string) ([]ArchivedFile, error) {
	var out bytes.Buffer
	stderr := &StderrCollector{}
	if err := ex.Exec(ctx, pod, container, WALListCommand(), nil, &out, stderr); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := output.FirstLine(err.Error())
		if last := stderr.Last(); last != "" {
			msg += ": " + last
		}
		return nil, fmt.Errorf("cannot list the WAL archive ($%s) in pod %s: %s", app.EnvWALArchiveDir, pod.Name, msg)
	}
	files, err := ParseWALList(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("pod %s: %v", pod.Name, err)
	}
	return files, nil
}

// walDFScript prints df's line of the archive's file system (POSIX, in KiB).
const walDFScript = `cd "$` + app.EnvWALArchiveDir + `" && df -Pk .`

// archiveDF reads how full the WAL archive volume is.
func (b *base) archiveDF(ctx context.Context, ex Executor, pod *corev1.Pod, container string) (*VolumeUsage, error) {
	var out bytes.Buffer
	stderr := &StderrCollector{}
	if err := ex.Exec(ctx, pod, container, []string{"sh", "-c", walDFScript}, nil, &out, stderr); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := output.FirstLine(err.Error())
		if last := stderr.Last(); last != "" {
			msg += ": " + last
		}
		return nil, fmt.Errorf("cannot read the WAL archive volume's use in pod %s: %s", pod.Name, msg)
	}
	return parseDF(out.String())
}
