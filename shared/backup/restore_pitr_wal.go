package backup

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// walFile is one WAL file (segment or timeline history) a restore can replay.
type walFile struct {
	Name string
	// Time is when it was archived (the archive volume's mtime) or synced.
	Time time.Time
	Size int64
	// SHA256 is the off-cluster copy's checksum (its sidecar); "" in the archive volume.
	SHA256 string
	// InArchive says the archive volume holds it; else only --from does.
	InArchive bool
}

// walSidecar is the suffix of an off-cluster segment's checksum file.
const walSidecar = ".sha256"

// offClusterWALDir is where the WAL of namespace ns lives under a target.
func offClusterWALDir(ns string) string { return "wal/" + ns }

// listOffClusterWAL lists the WAL synced under wal/<ns>/ of t: a file counts
// only once its sidecar (sha256 and byte count) exists.
func listOffClusterWAL(ctx context.Context, t Target, ns string) ([]walFile, error) {
	names := map[string]time.Time{}
	switch t := t.(type) {
	case DirTarget:
		des, err := os.ReadDir(filepath.Join(t.Dir, offClusterWALDir(ns)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			if fi, err := de.Info(); err == nil && fi.Mode().IsRegular() {
				names[de.Name()] = fi.ModTime()
			}
		}
	case *S3Target:
		c, err := t.Flags.Client()
		if err != nil {
			return nil, err
		}
		prefix := t.key(offClusterWALDir(ns)) + "/"
		for obj := range c.ListObjects(ctx, t.Bucket, minio.ListObjectsOptions{Prefix: prefix}) {
			if obj.Err != nil {
				return nil, s3Err(t.Location(offClusterWALDir(ns)), obj.Err)
			}
			names[strings.TrimPrefix(obj.Key, prefix)] = obj.LastModified
		}
	}
	var out []walFile
	for name, mod := range names {
		if !walName(name) {
			continue
		}
		if _, ok := names[name+walSidecar]; !ok {
			continue // not whole yet: the sidecar is written after the segment
		}
		sha, size, err := readSidecar(ctx, t, ns, name)
		if err != nil {
			return nil, err
		}
		out = append(out, walFile{Name: name, Time: mod, Size: size, SHA256: sha})
	}
	return out, nil
}

// walName reports a WAL segment or timeline history file name.
func walName(name string) bool {
	return walarchive.IsSegmentName(name) || walarchive.IsHistoryName(name)
}

// readSidecar reads "<hex>  <bytes>" of an off-cluster WAL file.
func readSidecar(ctx context.Context, t Target, ns, name string) (string, int64, error) {
	r, err := t.Open(ctx, path.Join(offClusterWALDir(ns), name+walSidecar))
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	f := strings.Fields(line)
	if len(f) != 2 || len(f[0]) != 64 {
		return "", 0, errors.New(t.Location(path.Join(offClusterWALDir(ns), name+walSidecar)) + ` is not "<sha256>  <bytes>"`)
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n <= 0 {
		return "", 0, errors.New(t.Location(path.Join(offClusterWALDir(ns), name+walSidecar)) + " has no byte count")
	}
	return f[0], n, nil
}

// archiveListScript lists the archive volume ($WAL_ARCHIVE_DIR): name,
// mtime (epoch) and size per line, then one line with the data volume's
// free KiB, the data directory's KiB, and 1 when the data directory holds
// the restore's marker ($1: an unfinished restore's work), else 0.
const archiveListScript = `cd "$WAL_ARCHIVE_DIR" || exit 97
for f in *; do
  [ -f "$f" ] || continue
  printf 'W\t%s\t%s\t%s\n' "$f" "$(date -r "$f" +%s)" "$(wc -c < "$f" | tr -dc 0-9)"
done
unfinished=0; [ -f "$PGDATA/$1" ] && unfinished=1
printf 'D\t%s\t%s\t%s\n' "$(df -Pk "$(dirname "$PGDATA")" | awk 'NR==2 {print $4}')" "$(du -sk "$PGDATA" 2>/dev/null | cut -f1)" "$unfinished"
`

// dataFacts are the data volume's free space and the data directory's size
// (KiB), and whether the data directory is an unfinished restore's work.
type dataFacts struct {
	FreeKB, DataKB int64
	Unfinished     bool
}

// parseArchiveList reads archiveListScript's output.
func parseArchiveList(out string) (files []walFile, d dataFacts) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case len(f) == 4 && f[0] == "W" && walName(f[1]):
			sec, _ := strconv.ParseInt(f[2], 10, 64)
			size, _ := strconv.ParseInt(f[3], 10, 64)
			files = append(files, walFile{Name: f[1], Time: time.Unix(sec, 0).UTC(), Size: size, InArchive: true})
		case len(f) == 4 && f[0] == "D":
			d.FreeKB, _ = strconv.ParseInt(f[1], 10, 64)
			d.DataKB, _ = strconv.ParseInt(f[2], 10, 64)
			d.Unfinished = f[3] == "1"
		}
	}
	return files, d
}

// mergeWAL joins the archive volume's files and the off-cluster ones: the
// archive's copy (and time) wins; an off-cluster-only file is to be copied in.
func mergeWAL(archive, off []walFile) []walFile {
	seen := map[string]bool{}
	out := append([]walFile{}, archive...)
	for _, f := range archive {
		seen[f.Name] = true
	}
	for _, f := range off {
		if !seen[f.Name] {
			out = append(out, f)
		}
	}
	return out
}
