package backup

import (
	"bytes"
	"strings"
)

// DumpScanner reads a plain-format pg_dump stream as it passes (an
// io.Writer, so no part of the dump is buffered) and records what the
// backup's metadata needs: the rows of every table's COPY block, the server
// and pg_dump versions of the header, the Alembic revision, and whether the
// dump ends with its completion trailer.
type DumpScanner struct {
	// Tables holds the row count of every COPY block, by table.
	Tables map[string]int64
	// ServerVersion and PgDumpVersion come from the header comments.
	ServerVersion, PgDumpVersion string
	// Alembic holds the rows of alembic_version.
	Alembic []string
	// Errors lists malformed parts (e.g. a COPY block without its end).
	Errors []string

	head   []byte // the first bytes (a Redis RDB's signature)
	line   []byte // the current line (only its start within a COPY block)
	inCopy string // the table of the open COPY block, "" outside one
	tail   []byte // the dump's last bytes, for the trailer
	bytes  int64
}

// maxLine bounds what is kept of a line outside COPY data (statements such as
// a COPY header with many columns); longer lines are not inspected.
const maxLine = 64 << 10

// tailSize is how much of the end of the dump is kept to find the trailer.
const tailSize = 1024

// CompletionTrailer is the comment a plain pg_dump writes when it has finished.
const CompletionTrailer = "-- PostgreSQL database dump complete"

// NewDumpScanner returns an empty scanner.
func NewDumpScanner() *DumpScanner { return &DumpScanner{Tables: map[string]int64{}} }

// Write scans p; it never fails.
func (s *DumpScanner) Write(p []byte) (int, error) {
	n := len(p)
	s.bytes += int64(n)
	if len(s.head) < 5 {
		s.head = append(s.head, p[:min(len(p), 5-len(s.head))]...)
	}
	s.keepTail(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.appendLine(p)
			break
		}
		s.appendLine(p[:i])
		s.endLine()
		p = p[i+1:]
	}
	return n, nil
}

func (s *DumpScanner) keepTail(p []byte) {
	if len(p) >= tailSize {
		s.tail = append(s.tail[:0], p[len(p)-tailSize:]...)
		return
	}
	s.tail = append(s.tail, p...)
	if len(s.tail) > tailSize {
		s.tail = append(s.tail[:0], s.tail[len(s.tail)-tailSize:]...)
	}
}

func (s *DumpScanner) appendLine(p []byte) {
	limit := maxLine
	if s.inCopy != "" && s.inCopy != alembicTable {
		limit = 3 // enough to recognise the end marker `\.`
	}
	if room := limit + 1 - len(s.line); room > 0 {
		if len(p) > room {
			p = p[:room]
		}
		s.line = append(s.line, p...)
	}
}

const alembicTable = "public.alembic_version"

func (s *DumpScanner) endLine() {
	line := s.line
	s.line = s.line[:0]
	if s.inCopy != "" {
		if len(line) == 2 && line[0] == '\\' && line[1] == '.' {
			s.inCopy = ""
			return
		}
		s.Tables[s.inCopy]++
		if s.inCopy == alembicTable && len(s.Alembic) < 8 {
			s.Alembic = append(s.Alembic, string(line))
		}
		return
	}
	switch {
	case bytes.HasPrefix(line, []byte("COPY ")):
		if t := copyTable(string(line)); t != "" {
			s.inCopy = t
			if _, ok := s.Tables[t]; !ok {
				s.Tables[t] = 0
			}
		}
	case bytes.HasPrefix(line, []byte("-- Dumped from database version ")):
		s.ServerVersion = strings.TrimPrefix(string(line), "-- Dumped from database version ")
	case bytes.HasPrefix(line, []byte("-- Dumped by pg_dump version ")):
		s.PgDumpVersion = strings.TrimPrefix(string(line), "-- Dumped by pg_dump version ")
	}
}

// copyTable returns the table of `COPY schema.table (cols) FROM stdin;`.
func copyTable(line string) string {
	if !strings.HasSuffix(line, " FROM stdin;") {
		return ""
	}
	rest := strings.TrimPrefix(line, "COPY ")
	// A quoted identifier may hold spaces and parentheses: walk it.
	var b strings.Builder
	quoted := false
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if c == '"' {
			quoted = !quoted
		} else if !quoted && (c == ' ' || c == '(') {
			break
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Bytes returns how many bytes were scanned.
func (s *DumpScanner) Bytes() int64 { return s.bytes }

// Complete reports whether the dump ended outside a COPY block with its
// completion trailer among its last lines.
func (s *DumpScanner) Complete() bool {
	return s.inCopy == "" && bytes.Contains(s.tail, []byte("\n"+CompletionTrailer+"\n"))
}

// Problem says why the dump is not complete ("" when it is).
func (s *DumpScanner) Problem() string {
	switch {
	case s.bytes == 0:
		return "the dump is empty"
	case s.inCopy != "":
		return "the dump ends inside the data of table " + s.inCopy + " (truncated)"
	case !bytes.Contains(s.tail, []byte("\n"+CompletionTrailer+"\n")):
		return "the dump lacks pg_dump's completion trailer (truncated)"
	}
	return ""
}

// AlembicRevision returns the Alembic revision(s) found in the dump.
func (s *DumpScanner) AlembicRevision() string { return strings.Join(s.Alembic, ",") }

// RDBMagic reports whether the stream starts with "REDIS", the RDB file signature.
func (s *DumpScanner) RDBMagic() bool { return string(s.head) == "REDIS" }
