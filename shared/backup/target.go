package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/backup/backupflags"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// Sink receives one backup's stored bytes. Nothing appears under the final
// name before Commit; Abort removes every trace (a temporary file, an
// incomplete multipart upload).
type Sink interface {
	io.Writer
	Commit(ctx context.Context) error
	Abort()
}

// watchedSink is a Sink that keeps its first write error (a full disk, a
// file size limit): the exec stream that feeds it reports that only as its
// own failure.
type watchedSink struct {
	Sink
	mu  sync.Mutex
	err error
}

func (s *watchedSink) Write(p []byte) (int, error) {
	n, err := s.Sink.Write(p)
	if err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	return n, err
}

// writeErr returns the first write error (nil: none).
func (s *watchedSink) writeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Target is where backups live: a directory or an S3 bucket and prefix.
type Target interface {
	// Create starts writing the backup called name.
	Create(ctx context.Context, name string) (Sink, error)
	// Open reads a backup.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// WriteMeta stores the metadata document of a backup (atomically).
	WriteMeta(ctx context.Context, name string, data []byte) error
	// ReadMeta reads it.
	ReadMeta(ctx context.Context, name string) ([]byte, error)
	// List names the backups (data files, not metadata) with their sizes and times.
	List(ctx context.Context) ([]Entry, error)
	// Location is how messages name a backup.
	Location(name string) string
}

// Entry is one listed backup.
type Entry struct {
	Name     string
	Size     int64
	Modified time.Time
}

// IsBackupName reports whether a file or object name is a backup's data.
func IsBackupName(name string) bool { return CompressionForName(name) != "" }

// DirTarget stores backups in a local directory.
type DirTarget struct {
	Dir string
	// NoReplace makes Commit refuse (os.ErrExist) a backup whose final name
	// appeared meanwhile instead of replacing it (`backup create` without
	// --overwrite). Metadata is always replaced.
	NoReplace bool
}

// existsChecker is a Target that can tell whether a backup name is taken.
type existsChecker interface {
	Exists(ctx context.Context, name string) (bool, error)
}

// Exists reports whether the backup file name exists in the directory.
func (d DirTarget) Exists(_ context.Context, name string) (bool, error) {
	_, err := os.Lstat(filepath.Join(d.Dir, name))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, err
}

// Location implements Target.
func (d DirTarget) Location(name string) string { return filepath.Join(d.Dir, name) }

// Create implements Target: a temporary file beside the final one. A missing
// directory is created 0700: backups hold every user row.
func (d DirTarget) Create(_ context.Context, name string) (Sink, error) {
	return d.create(name, d.NoReplace)
}

func (d DirTarget) create(name string, noReplace bool) (Sink, error) {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return nil, err
	}
	final := filepath.Join(d.Dir, name)
	f, err := os.CreateTemp(d.Dir, "."+name+".partial-*")
	if err != nil {
		return nil, err
	}
	return &fileSink{f: f, final: final, noReplace: noReplace}, nil
}

type fileSink struct {
	f         *os.File
	final     string
	noReplace bool
	done      bool
}

func (s *fileSink) Write(p []byte) (int, error) { return s.f.Write(p) }

// Commit syncs the file, renames it to its final name and syncs the directory.
func (s *fileSink) Commit(context.Context) error {
	if err := s.f.Sync(); err != nil {
		s.Abort()
		return err
	}
	if err := s.f.Close(); err != nil {
		s.Abort()
		return err
	}
	if err := os.Chmod(s.f.Name(), 0o600); err != nil {
		s.Abort()
		return err
	}
	if err := s.place(); err != nil {
		s.Abort()
		return err
	}
	s.done = true
	syncDir(filepath.Dir(s.final))
	return nil
}

// place moves the temporary file to its final name: a rename, or with
// noReplace a hard link that fails when the name exists (then the temporary
// name is removed). Where hard links are not supported, a check then a rename.
func (s *fileSink) place() error {
	if !s.noReplace {
		return os.Rename(s.f.Name(), s.final)
	}
	err := os.Link(s.f.Name(), s.final)
	if err == nil {
		return os.Remove(s.f.Name())
	}
	if errors.Is(err, os.ErrExist) {
		return &os.PathError{Op: "store", Path: s.final, Err: os.ErrExist}
	}
	if _, serr := os.Lstat(s.final); serr == nil {
		return &os.PathError{Op: "store", Path: s.final, Err: os.ErrExist}
	}
	return os.Rename(s.f.Name(), s.final)
}

// Abort removes the temporary file.
func (s *fileSink) Abort() {
	if s.done {
		return
	}
	s.done = true
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Open implements Target.
func (d DirTarget) Open(_ context.Context, name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.Dir, name))
}

// WriteMeta implements Target: a temporary file, synced and renamed.
func (d DirTarget) WriteMeta(ctx context.Context, name string, data []byte) error {
	s, err := d.create(name+MetadataSuffix, false)
	if err != nil {
		return err
	}
	if _, err := s.Write(data); err != nil {
		s.Abort()
		return err
	}
	return s.Commit(ctx)
}

// ReadMeta implements Target.
func (d DirTarget) ReadMeta(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.Dir, name+MetadataSuffix))
}

// List implements Target.
func (d DirTarget) List(context.Context) ([]Entry, error) {
	des, err := os.ReadDir(d.Dir)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, de := range des {
		if de.IsDir() || strings.HasPrefix(de.Name(), ".") || !IsBackupName(de.Name()) {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		out = append(out, Entry{Name: de.Name(), Size: fi.Size(), Modified: fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Location is a parsed backup location: a target and a backup name in it.
type Location struct {
	Target Target
	Name   string
}

// S3Scheme prefixes object storage locations.
const S3Scheme = backupflags.Scheme

// ParseBackupRef parses a FILE or s3://BUCKET/KEY argument naming one backup.
func ParseBackupRef(ref string, s3 *S3Flags) (Location, error) {
	if strings.HasPrefix(ref, S3Scheme) {
		bucket, key, err := backupflags.SplitS3(ref)
		if err != nil {
			return Location{}, err
		}
		if key == "" || strings.HasSuffix(key, "/") {
			return Location{}, fmt.Errorf("%s names no object: give s3://BUCKET/PREFIX/NAME", ref)
		}
		dir, name := "", key
		if i := strings.LastIndexByte(key, '/'); i >= 0 {
			dir, name = key[:i], key[i+1:]
		}
		return Location{Target: &S3Target{Flags: s3, Bucket: bucket, Prefix: dir}, Name: name}, nil
	}
	if ref == "" {
		return Location{}, errors.New("no backup named")
	}
	return Location{Target: DirTarget{Dir: filepath.Dir(ref)}, Name: filepath.Base(ref)}, nil
}

// backupArg reads the backup argument of verify, restore, pin and unpin:
// a FILE or s3://BUCKET/KEY whose name is a backup's; exit 2 otherwise.
func backupArg(ref string, s3 *S3Flags) (Location, error) {
	loc, err := ParseBackupRef(ref, s3)
	if err != nil {
		return loc, cli.Usagef("%v", err)
	}
	if !IsBackupName(loc.Name) {
		return loc, cli.Usagef("%s is not a backup: its name must end in .sql[.zst|.gz][.age], .rdb[.zst|.gz][.age] or .tar[.zst|.gz][.age] (a base backup)", ref)
	}
	return loc, nil
}

// ParseTargetRef parses a --dir DIR or s3://BUCKET/PREFIX argument naming a place for backups.
func ParseTargetRef(ref string, s3 *S3Flags) (Target, error) {
	if strings.HasPrefix(ref, S3Scheme) {
		bucket, key, err := backupflags.SplitS3(ref)
		if err != nil {
			return nil, err
		}
		return &S3Target{Flags: s3, Bucket: bucket, Prefix: strings.Trim(key, "/")}, nil
	}
	if ref == "" {
		return nil, errors.New("no directory given")
	}
	return DirTarget{Dir: ref}, nil
}
