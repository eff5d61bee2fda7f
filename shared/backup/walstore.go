package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// The off-cluster WAL archive: under a target (a directory or an s3 prefix)
// the segments and history files of namespace NS live at wal/NS/<name>
// (".age" added when encrypted), each with a sidecar <name>.sha256 holding
// "<hex sha256>  <bytes>" of the stored file, written after it. A file
// counts only once its sidecar exists: a sync killed in between copies it
// again.
const (
	// WALDir is the folder of the WAL under a target.
	WALDir = "wal"
	// WALSidecarSuffix ends a WAL file's checksum sidecar.
	WALSidecarSuffix = ".sha256"
	// AgeSuffix ends an age-encrypted file's name.
	AgeSuffix = ".age"
)

// WALTarget is the target that holds namespace ns's WAL under t
// (wal/<ns> below its directory or prefix).
func WALTarget(t Target, ns string) (Target, error) {
	switch x := t.(type) {
	case DirTarget:
		return DirTarget{Dir: filepath.Join(x.Dir, WALDir, ns)}, nil
	case *S3Target:
		return &S3Target{Flags: x.Flags, Bucket: x.Bucket, Prefix: strings.TrimPrefix(path.Join(x.Prefix, WALDir, ns), "/")}, nil
	}
	return nil, fmt.Errorf("no WAL archive in a %T", t)
}

// fileLister is a target that lists every file it holds, not only backups.
type fileLister interface {
	ListFiles(ctx context.Context) ([]Entry, error)
}

// ListFiles lists every file of the directory (not temporary ones, which
// start with a dot); a missing directory holds none.
func (d DirTarget) ListFiles(context.Context) ([]Entry, error) {
	des, err := os.ReadDir(d.Dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, de := range des {
		if de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		if fi, err := de.Info(); err == nil {
			out = append(out, Entry{Name: de.Name(), Size: fi.Size(), Modified: fi.ModTime()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ListFiles lists every object directly under the prefix.
func (t *S3Target) ListFiles(ctx context.Context) ([]Entry, error) {
	c, err := t.Flags.Client()
	if err != nil {
		return nil, err
	}
	prefix := t.Prefix
	if prefix != "" {
		prefix += "/"
	}
	var out []Entry
	for obj := range c.ListObjects(ctx, t.Bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if obj.Err != nil {
			return nil, s3Err(t.Location(""), obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, prefix)
		if name == "" || strings.Contains(name, "/") {
			continue
		}
		out = append(out, Entry{Name: name, Size: obj.Size, Modified: obj.LastModified})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// listFiles lists every file of a target that can.
func listFiles(ctx context.Context, t Target) ([]Entry, error) {
	l, ok := t.(fileLister)
	if !ok {
		return nil, fmt.Errorf("%s cannot be listed", t.Location(""))
	}
	return l.ListFiles(ctx)
}

// SyncedWAL returns the WAL files of a listing that count: a segment or
// history file, encrypted or not, whose sidecar is present. Others (no
// sidecar yet, temporary names) are left out.
func SyncedWAL(entries []Entry) map[string]Entry {
	have := map[string]Entry{}
	for _, e := range entries {
		have[e.Name] = e
	}
	out := map[string]Entry{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name, AgeSuffix)
		if !walarchive.IsSegmentName(name) && !walarchive.IsHistoryName(name) {
			continue
		}
		if _, ok := have[e.Name+WALSidecarSuffix]; ok {
			out[name] = e
		}
	}
	return out
}

// sidecarLine is the content of a WAL file's sidecar.
func sidecarLine(sha256 string, bytes int64) string {
	return fmt.Sprintf("%s  %d\n", sha256, bytes)
}

// ParseSidecar reads a sidecar's "<hex sha256>  <bytes>" line.
func ParseSidecar(data string) (sha256 string, bytes int64, err error) {
	f := strings.Fields(data)
	if len(f) != 2 || len(f[0]) != 64 {
		return "", 0, fmt.Errorf("not a WAL sidecar line: want \"<sha256>  <bytes>\"")
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n < 0 {
		return "", 0, fmt.Errorf("not a WAL sidecar line: bad byte count %q", f[1])
	}
	return f[0], n, nil
}

// ReadWALSidecar reads the sidecar of the stored WAL file name in t (a
// restore checks what it reads against it).
func ReadWALSidecar(ctx context.Context, t Target, stored string) (string, int64, error) {
	r, err := t.Open(ctx, stored+WALSidecarSuffix)
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return "", 0, err
	}
	return ParseSidecar(string(b))
}

// writeSidecar stores the sidecar of the stored WAL file name, after it.
func writeSidecar(ctx context.Context, t Target, stored, sha256 string, bytes int64) error {
	s, err := t.Create(ctx, stored+WALSidecarSuffix)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(s, sidecarLine(sha256, bytes)); err != nil {
		s.Abort()
		return err
	}
	return s.Commit(ctx)
}
