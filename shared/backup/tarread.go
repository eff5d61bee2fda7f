package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// tarReader reads the ustar archives pg_basebackup writes (its own
// tarCreateHeader: ustar headers, names under 100 bytes, octal or base-256
// sizes, no pax or GNU extension headers). It replaces archive/tar's reader,
// which costs the backup binary ~60 KiB it does not have (scripts/bench-size.sh).
type tarReader struct {
	r      io.Reader
	remain int64 // bytes of the current entry not yet read
	pad    int64 // padding after it, to the next 512-byte block
	hdr    [512]byte
}

// tarEntry is one header.
type tarEntry struct {
	Name string
	Size int64
	// Type is the typeflag: '0' (or 0) a file, '5' a directory, '2' a link.
	Type byte
}

// IsFile reports a regular file.
func (e *tarEntry) IsFile() bool { return e.Type == '0' || e.Type == 0 }

// IsDir reports a directory.
func (e *tarEntry) IsDir() bool { return e.Type == '5' }

func newTarReader(r io.Reader) *tarReader { return &tarReader{r: r} }

// Next skips what is left of the current entry and reads the next header;
// io.EOF at the end-of-archive marker (two zero blocks), io.ErrUnexpectedEOF
// when the stream ends before it.
func (t *tarReader) Next() (*tarEntry, error) {
	if _, err := io.CopyN(io.Discard, t.r, t.remain+t.pad); err != nil {
		return nil, unexpected(err)
	}
	t.remain, t.pad = 0, 0
	if _, err := io.ReadFull(t.r, t.hdr[:]); err != nil {
		return nil, unexpected(err)
	}
	if t.hdr == [512]byte{} {
		if _, err := io.ReadFull(t.r, t.hdr[:]); err != nil {
			return nil, unexpected(err)
		}
		if t.hdr == [512]byte{} {
			return nil, io.EOF
		}
		return nil, errors.New("a zero block inside the archive")
	}
	h := t.hdr[:]
	if sum, err := parseTarNumber(h[148:156]); err != nil || sum != tarChecksum(h) {
		return nil, errors.New("a header with a bad checksum")
	}
	e := &tarEntry{Name: cString(h[0:100]), Type: h[156]}
	if string(h[257:262]) == "ustar" {
		if p := cString(h[345:500]); p != "" {
			e.Name = p + "/" + e.Name
		}
	}
	if e.Type != 0 && strings.IndexByte("012567", e.Type) < 0 {
		return nil, fmt.Errorf("entry %s has the unsupported type %q", e.Name, e.Type)
	}
	size, err := parseTarNumber(h[124:136])
	if err != nil || size < 0 {
		return nil, fmt.Errorf("entry %s has a bad size", e.Name)
	}
	if e.IsFile() {
		e.Size = size
		t.remain, t.pad = size, (512-size%512)%512
	}
	return e, nil
}

// Read reads the current entry's data.
func (t *tarReader) Read(p []byte) (int, error) {
	if t.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > t.remain {
		p = p[:t.remain]
	}
	n, err := t.r.Read(p)
	t.remain -= int64(n)
	if err == io.EOF && t.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseTarNumber reads an octal field, or a base-256 one (high bit set: sizes over 8 GiB).
func parseTarNumber(b []byte) (int64, error) {
	if len(b) > 0 && b[0]&0x80 != 0 {
		var n int64
		for i, c := range b {
			if i == 0 {
				c &= 0x7f
			}
			n = n<<8 | int64(c)
		}
		return n, nil
	}
	s := strings.Trim(string(b), " \x00")
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 8, 64)
}

// tarChecksum is the header's sum of bytes with the checksum field as spaces.
func tarChecksum(h []byte) int64 {
	var sum int64
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	return sum
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
