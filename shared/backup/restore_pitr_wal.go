package backup

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

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
	// Stored is the off-cluster file's name when it differs from Name: <Name>.age,
	// encrypted by `backup wal sync --encrypt-to`; Size and SHA256 are then the
	// stored (encrypted) bytes'.
	Stored string
}

// offClusterWALDir is where the WAL of namespace ns lives under a target.
func offClusterWALDir(ns string) string { return path.Join(WALDir, ns) }

// listOffClusterWAL lists the WAL synced under wal/<ns>/ of t (backup wal
// sync's layout): a file counts only once its sidecar (sha256 and byte
// count) exists. Encrypted files (.age) are counted, and listed only when
// decrypt says identities were given to read them.
func listOffClusterWAL(ctx context.Context, t Target, ns string, decrypt bool) (files []walFile, encrypted int, err error) {
	wt, err := WALTarget(t, ns)
	if err != nil {
		return nil, 0, err
	}
	entries, err := listFiles(ctx, wt)
	if err != nil {
		return nil, 0, err
	}
	for name, e := range SyncedWAL(entries) {
		stored := ""
		if e.Name != name {
			encrypted++
			if !decrypt {
				continue
			}
			stored = e.Name
		}
		sha, size, err := ReadWALSidecar(ctx, wt, e.Name)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %v", wt.Location(e.Name+WALSidecarSuffix), err)
		}
		files = append(files, walFile{Name: name, Time: e.Modified, Size: size, SHA256: sha, Stored: stored})
	}
	return files, encrypted, nil
}

// walName reports a WAL segment or timeline history file name.
func walName(name string) bool {
	return walarchive.IsSegmentName(name) || walarchive.IsHistoryName(name)
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
