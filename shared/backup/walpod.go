package backup

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// The WAL archive as the postgres pod has it: one exec lists it, one exec
// per file copies it out. The scripts read the directory from
// $WAL_ARCHIVE_DIR (app.EnvWALArchiveDir), never from a literal path.

// walListEnd ends a complete listing: a listing cut short lacks it.
const walListEnd = "PIYASA-WAL-LIST-END"

// walListScript prints "<bytes> <mtime seconds> <name>" for every file of the
// archive (busybox and GNU stat), then walListEnd. A file that vanished
// between the glob and stat (archive_command renaming its ".part") is not
// listed; stat's complaint about it goes to stderr.
const walListScript = `cd "$` + app.EnvWALArchiveDir + `" || exit 97
set -- *
if [ -e "$1" ] || [ $# -gt 1 ]; then stat -c '%s %Y %n' -- "$@"; fi
echo ` + walListEnd + `
`

// walCopyScript streams the archived file $1 as streamScript does.
var walCopyScript = streamScript(`cat -- "$` + app.EnvWALArchiveDir + `/$1"`)

// WALCopyCommand is the exec command that streams the archived file name.
func WALCopyCommand(name string) []string {
	return []string{"sh", "-c", walCopyScript, "piyasa-wal", name}
}

// WALListCommand is the exec command that lists the archive.
func WALListCommand() []string { return []string{"sh", "-c", walListScript, "piyasa-wal"} }

// ArchivedFile is one file of the pod's WAL archive.
type ArchivedFile struct {
	Name     string
	Size     int64
	Modified time.Time
}

// ParseWALList reads walListScript's output: the segments and history files
// of the archive in name order (other files, such as the ".part" of a copy
// archive_command is making, are left out).
func ParseWALList(out []byte) ([]ArchivedFile, error) {
	var files []ArchivedFile
	complete := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == walListEnd {
			complete = true
			continue
		}
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("unexpected line in the archive's listing: %q", output.FirstLine(line))
		}
		size, err1 := strconv.ParseInt(f[0], 10, 64)
		mtime, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unexpected line in the archive's listing: %q", output.FirstLine(line))
		}
		if walarchive.IsSegmentName(f[2]) || walarchive.IsHistoryName(f[2]) {
			files = append(files, ArchivedFile{Name: f[2], Size: size, Modified: time.Unix(mtime, 0).UTC()})
		}
	}
	if !complete {
		return nil, fmt.Errorf("the archive's listing was cut short")
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

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
