package recovery

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// The postgres pod's WAL archive, as one exec lists it. The script reads the
// directory from $WAL_ARCHIVE_DIR (app.EnvWALArchiveDir), never from a
// literal path.

// ListEnd ends a complete listing: a listing cut short lacks it.
const ListEnd = "PIYASA-WAL-LIST-END"

// ListScript prints "<bytes> <mtime seconds> <name>" for every file of the
// archive (busybox and GNU stat), then ListEnd. A file that vanished between
// the glob and stat (archive_command renaming its ".part") is not listed;
// stat's complaint about it goes to stderr.
const ListScript = `cd "$` + app.EnvWALArchiveDir + `" || exit 97
set -- *
if [ -e "$1" ] || [ $# -gt 1 ]; then stat -c '%s %Y %n' -- "$@"; fi
echo ` + ListEnd + `
`

// ListCommand is the exec command that lists the archive.
func ListCommand() []string { return []string{"sh", "-c", ListScript, "piyasa-wal"} }

// ArchivedFile is one file of the pod's WAL archive.
type ArchivedFile struct {
	Name     string
	Size     int64
	Modified time.Time
}

// ParseList reads ListCommand's output: the segments and history files of
// the archive in name order (other files, such as the ".part" of a copy
// archive_command is making, are left out).
func ParseList(out []byte) ([]ArchivedFile, error) {
	var files []ArchivedFile
	complete := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == ListEnd {
			complete = true
			continue
		}
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("unexpected line in the archive's listing: %q", line)
		}
		size, err1 := strconv.ParseInt(f[0], 10, 64)
		mtime, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unexpected line in the archive's listing: %q", line)
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

// NewestBaseStart reads ListCommand's output for the backup history files
// PostgreSQL archived at the end of each base backup and returns the start
// segment of the newest (by position) and its file's name; ok is false
// when the archive holds none.
func NewestBaseStart(out []byte) (start walarchive.Segment, label string, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(strings.TrimSpace(sc.Text()), " ", 3)
		if len(f) != 3 {
			continue
		}
		if s, is := walarchive.BackupLabelStart(f[2]); is && (!ok || s.No() > start.No() || s.No() == start.No() && s.Timeline > start.Timeline) {
			start, label, ok = s, f[2], true
		}
	}
	return start, label, ok
}
