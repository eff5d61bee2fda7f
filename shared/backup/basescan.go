package backup

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// baseScanner reads a base backup's stored stream as it passes (an
// io.Writer fed by the exec stream): it decompresses it, counts and hashes
// the plain tar (the BackupInfo's raw size and sha256) and reads the tar's
// entries for backup_label (the WAL start, the timeline) and backup_manifest.
// Close waits for the end of the reading; then Problem names what is wrong.
// Nothing is buffered beyond the decompressor's window.
type baseScanner struct {
	pw   *io.PipeWriter
	done chan struct{}
	// Raw counts and hashes the decompressed tar.
	Raw *Counter
	// Label is the parsed backup_label (nil when the tar has none).
	Label *WALRange
	// Manifest is true when the tar holds backup_manifest.
	Manifest bool
	// Complete is true when the tar reached its end-of-archive marker.
	Complete bool
	// WALFiles counts the WAL segments in pg_wal/ (what -X fetch added).
	WALFiles int

	mu  sync.Mutex
	err error
}

// newBaseScanner starts reading a stream stored with compression c.
func newBaseScanner(c Compression) *baseScanner {
	pr, pw := io.Pipe()
	s := &baseScanner{pw: pw, done: make(chan struct{}), Raw: NewCounter()}
	go func() {
		defer close(s.done)
		s.read(c, pr)
		_, _ = io.Copy(io.Discard, pr) // after an error or the end: take the rest, never block the stream
	}()
	return s
}

// Write passes p to the reader; it never fails (a bad stream is a Problem).
func (s *baseScanner) Write(p []byte) (int, error) {
	_, _ = s.pw.Write(p)
	return len(p), nil
}

// Close ends the stream and waits until it has been read.
func (s *baseScanner) Close() {
	_ = s.pw.Close()
	<-s.done
}

func (s *baseScanner) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// read decompresses r and walks the tar.
func (s *baseScanner) read(c Compression, r io.Reader) {
	dec, err := c.NewDecompressor(r)
	if err != nil {
		s.fail(fmt.Errorf("%s decompression failed: %v", c, err))
		return
	}
	defer dec.Close()
	if err := s.readPlain(dec); err != nil {
		s.fail(fmt.Errorf("%s decompression failed: %v", c, err))
	}
}

// readPlain walks the plain tar r, counting and hashing it into Raw, to
// its end (the padding after the end-of-archive marker counts too). A tar
// that is not whole is kept for Problem; the error returned is r's own.
func (s *baseScanner) readPlain(r io.Reader) error {
	er := &errReader{r: r}
	plain := io.TeeReader(er, s.Raw)
	if err := s.walk(newTarReader(plain)); err != nil {
		if er.err != nil && !errors.Is(er.err, io.EOF) {
			return er.err
		}
		s.fail(err)
		return nil
	}
	_, err := io.Copy(io.Discard, plain)
	return err
}

// walk reads every entry of the tar.
func (s *baseScanner) walk(tr *tarReader) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			s.Complete = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("the tar is not whole: %v", err)
		}
		switch name := strings.TrimPrefix(h.Name, "./"); {
		case name == "backup_label":
			data, err := io.ReadAll(io.LimitReader(tr, 64<<10))
			if err != nil {
				return fmt.Errorf("the tar is not whole: %v", err)
			}
			l, err := parseBackupLabel(data)
			if err != nil {
				return err
			}
			s.Label = l
		case name == "backup_manifest":
			s.Manifest = true
		case strings.HasPrefix(name, "pg_wal/") && isSegmentName(strings.TrimPrefix(name, "pg_wal/")):
			s.WALFiles++
		}
	}
}

// errReader keeps the first error of its reader (a decompressor's, told
// apart from the tar's own).
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// Problem names what makes the base backup not whole ("" when nothing does).
func (s *baseScanner) Problem() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return s.err.Error()
	case !s.Complete:
		return "the tar ends before its end-of-archive marker"
	case s.Label == nil:
		return "the tar holds no backup_label: it is not a base backup"
	case s.WALFiles == 0:
		return "the tar holds no WAL segment in pg_wal/: the copy could not be made consistent"
	}
	return ""
}

// isSegmentName reports a WAL segment's file name (24 upper-case hex digits).
func isSegmentName(s string) bool { return len(s) == 24 && isHex(s) }

// isLSN reports a PostgreSQL LSN (0/3000028).
func isLSN(s string) bool {
	hi, lo, ok := strings.Cut(s, "/")
	return ok && len(hi) >= 1 && len(hi) <= 8 && len(lo) >= 1 && len(lo) <= 8 && isHex(hi) && isHex(lo)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// parseBackupLabel reads START WAL LOCATION (with its segment) and START
// TIMELINE of a backup_label.
func parseBackupLabel(data []byte) (*WALRange, error) {
	var w WALRange
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "START WAL LOCATION":
			// 0/2000028 (file 000000010000000000000002)
			f := strings.Fields(v)
			if len(f) == 3 && f[1] == "(file" && isLSN(f[0]) && isSegmentName(strings.TrimSuffix(f[2], ")")) {
				w.StartLSN, w.StartSegment = f[0], strings.TrimSuffix(f[2], ")")
			}
		case "START TIMELINE":
			if tl, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
				w.Timeline = uint32(tl)
			}
		}
	}
	if w.StartLSN == "" || w.Timeline == 0 {
		return nil, fmt.Errorf("backup_label lacks START WAL LOCATION or START TIMELINE")
	}
	return &w, nil
}

// baseLog reads pg_basebackup -v's messages on stderr (StderrCollector's
// OnLine) for the WAL start and end points ("write-ahead log start point:
// 0/2000028 on timeline 1", "write-ahead log end point: 0/2000100").
type baseLog struct {
	start, end string
	timeline   uint32
}

func (l *baseLog) line(s string) {
	const startP, endP = "write-ahead log start point: ", "write-ahead log end point: "
	if _, v, ok := strings.Cut(s, startP); ok {
		f := strings.Fields(v) // 0/2000028 on timeline 1
		if len(f) == 4 && isLSN(f[0]) {
			l.start = f[0]
			if tl, err := strconv.ParseUint(f[3], 10, 32); err == nil {
				l.timeline = uint32(tl)
			}
		}
	}
	if _, v, ok := strings.Cut(s, endP); ok {
		if f := strings.Fields(v); len(f) > 0 && isLSN(f[0]) {
			l.end = f[0]
		}
	}
}

// walRange is the WAL range of a base backup: the start and the timeline
// from its backup_label (what recovery itself reads), which pg_basebackup's
// reported start point must equal, and the end point it reported.
func walRange(label *WALRange, l *baseLog) (*WALRange, error) {
	switch {
	case label == nil:
		return nil, fmt.Errorf("the tar holds no backup_label")
	case l.end == "":
		return nil, fmt.Errorf("pg_basebackup did not report its write-ahead log end point")
	case l.start != "" && (l.start != label.StartLSN || l.timeline != label.Timeline):
		return nil, fmt.Errorf("pg_basebackup reported the start point %s on timeline %d, backup_label says %s on timeline %d",
			l.start, l.timeline, label.StartLSN, label.Timeline)
	}
	w := *label
	w.EndLSN = l.end
	return &w, nil
}
