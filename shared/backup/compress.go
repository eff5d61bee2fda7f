package backup

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is how a backup is stored.
type Compression string

// The compressions.
const (
	Zstd Compression = "zstd"
	Gzip Compression = "gzip"
	None Compression = "none"
)

// DefaultCompression is zstd at its fastest level: it keeps up with the exec
// stream (gzip, even klauspost's, is the bottleneck above ~60 MB/s per core).
const DefaultCompression = Zstd

// Compressions lists the accepted --compress values.
var Compressions = []string{string(Zstd), string(Gzip), string(None)}

// ParseCompression checks a --compress value.
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case Zstd, Gzip, None:
		return c, nil
	}
	return "", fmt.Errorf("unknown compression %q: use %s", s, strings.Join(Compressions, "|"))
}

// Ext is the file name extension of a backup so compressed.
func (c Compression) Ext() string {
	switch c {
	case Zstd:
		return ".sql.zst"
	case Gzip:
		return ".sql.gz"
	}
	return ".sql"
}

// RDBExt is the file name extension of a Redis backup so compressed.
func (c Compression) RDBExt() string {
	return ".rdb" + strings.TrimPrefix(c.Ext(), ".sql")
}

// TarExt is the file name extension of a base backup so compressed
// (pg_basebackup's tar: .tar.zst, .tar.gz, .tar).
func (c Compression) TarExt() string {
	return ".tar" + strings.TrimPrefix(c.Ext(), ".sql")
}

// CompressionForName guesses the compression from a file name ("" when it
// is no backup's name: *.sql[.zst|.gz], *.rdb[.zst|.gz], *.tar[.zst|.gz],
// each also with .age when encrypted).
func CompressionForName(name string) Compression {
	name = strings.TrimSuffix(name, EncryptedSuffix)
	switch {
	case strings.HasSuffix(name, ".sql.zst"), strings.HasSuffix(name, ".rdb.zst"), strings.HasSuffix(name, ".tar.zst"):
		return Zstd
	case strings.HasSuffix(name, ".sql.gz"), strings.HasSuffix(name, ".rdb.gz"), strings.HasSuffix(name, ".tar.gz"):
		return Gzip
	case strings.HasSuffix(name, ".sql"), strings.HasSuffix(name, ".rdb"), strings.HasSuffix(name, ".tar"):
		return None
	}
	return ""
}

// IsBaseBackupName reports a base backup's name (*.tar[.zst|.gz], also
// with .age when encrypted).
func IsBaseBackupName(name string) bool {
	name = strings.TrimSuffix(name, EncryptedSuffix)
	return strings.HasSuffix(name, ".tar.zst") || strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tar")
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// NewCompressor returns a writer that compresses into w; Close flushes it (and
// does not close w).
func (c Compression) NewCompressor(w io.Writer) (io.WriteCloser, error) {
	switch c {
	case Zstd:
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), 4)), zstd.WithWindowSize(1<<20))
	case Gzip:
		return gzip.NewWriterLevel(w, gzip.BestSpeed)
	}
	return nopWriteCloser{w}, nil
}

type readCloser struct {
	io.Reader
	close func()
}

func (r readCloser) Close() error { r.close(); return nil }

// NewDecompressor returns a reader of the plain dump stored in r.
func (c Compression) NewDecompressor(r io.Reader) (io.ReadCloser, error) {
	switch c {
	case Zstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, err
		}
		return readCloser{d, d.Close}, nil
	case Gzip:
		g, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		g.Multistream(false)
		return g, nil
	}
	return io.NopCloser(r), nil
}
