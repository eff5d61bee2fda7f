// Package envfile reads, checks and writes the app's .env file: the source of
// Secret piyasa-secrets. Values are secret: no error, message or String()
// of this package ever contains one; errors name the file, line and key.
package envfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Value is a secret value. It prints as a mask, so that a stray %v or %s
// never reveals it; use Reveal for the bytes that go into the Secret.
type Value string

// String masks the value.
func (Value) String() string { return "<redacted>" }

// GoString masks the value.
func (Value) GoString() string { return "<redacted>" }

// Reveal returns the value itself.
func (v Value) Reveal() string { return string(v) }

// Entry is one KEY=VALUE line.
type Entry struct {
	Key   string
	Value Value
	Line  int
}

// File is a parsed .env file.
type File struct {
	// Name is the file's name in messages.
	Name    string
	Entries []Entry
	index   map[string]int
}

// LineError is a syntax error on one line. Its message never holds a value.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

var keyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// maxSize bounds a .env file: it holds a handful of keys.
const maxSize = 1 << 20

// ReadFile reads and parses a .env file.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("cannot read %s: %v", path, pe.Err)
		}
		return nil, fmt.Errorf("cannot read %s", path)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s", path)
	}
	if len(data) > maxSize {
		return nil, fmt.Errorf("%s is larger than 1 MiB: not a .env file", path)
	}
	return Parse(path, data)
}

// Parse parses .env content: KEY=VALUE lines, optional `export ` prefixes,
// blank lines and # comments, CRLF or LF line ends, values unquoted (an
// inline comment starts at " #"), 'single-quoted' (literal) or
// "double-quoted" (\n, \t, \", \\ escapes). A key may appear once.
func Parse(name string, data []byte) (*File, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	f := &File{Name: name, index: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), maxSize+1)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if i := strings.IndexFunc(line, isControl); i >= 0 {
			return nil, &LineError{File: name, Line: n, Msg: fmt.Sprintf("control character at column %d (only tabs are allowed)", i+1)}
		}
		key, val, ok, msg := parseLine(line)
		if msg != "" {
			return nil, &LineError{File: name, Line: n, Msg: msg}
		}
		if !ok {
			continue
		}
		if prev, dup := f.index[key]; dup {
			return nil, &LineError{File: name, Line: n, Msg: fmt.Sprintf("duplicate key %s (first set on line %d)", key, f.Entries[prev].Line)}
		}
		f.index[key] = len(f.Entries)
		f.Entries = append(f.Entries, Entry{Key: key, Value: Value(val), Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, &LineError{File: name, Line: n + 1, Msg: "line too long"}
	}
	return f, nil
}

// parseLine returns the key and value of a line; ok is false for blank and
// comment lines; msg describes a syntax error (never quoting the value).
func parseLine(line string) (key, val string, ok bool, msg string) {
	s := strings.TrimLeft(line, " \t")
	if s == "" || s[0] == '#' {
		return "", "", false, ""
	}
	if rest, found := strings.CutPrefix(s, "export"); found && len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		s = strings.TrimLeft(rest, " \t")
	}
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		// The text is not quoted: it may be a secret value on a line of its own.
		return "", "", false, "not a KEY=VALUE line (no '=')"
	}
	key = strings.TrimRight(s[:eq], " \t")
	if !keyRE.MatchString(key) {
		// The key is not quoted: the line may be a mangled value.
		return "", "", false, "invalid key before '=': use letters, digits and _ (not starting with a digit)"
	}
	raw := strings.TrimLeft(s[eq+1:], " \t")
	switch {
	case raw == "":
		return key, "", true, ""
	case raw[0] == '\'':
		end := strings.IndexByte(raw[1:], '\'')
		if end < 0 {
			return "", "", false, fmt.Sprintf("value of %s: unterminated single quote (values span one line)", key)
		}
		val = raw[1 : 1+end]
		if m := trailing(raw[2+end:]); m != "" {
			return "", "", false, fmt.Sprintf("value of %s: %s", key, m)
		}
		return key, val, true, ""
	case raw[0] == '"':
		var b strings.Builder
		i := 1
		for ; i < len(raw); i++ {
			c := raw[i]
			if c == '"' {
				break
			}
			if c == '\\' && i+1 < len(raw) {
				i++
				switch raw[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				case '"', '\\', '$', '`':
					b.WriteByte(raw[i])
				default:
					b.WriteByte('\\')
					b.WriteByte(raw[i])
				}
				continue
			}
			b.WriteByte(c)
		}
		if i >= len(raw) {
			return "", "", false, fmt.Sprintf("value of %s: unterminated double quote (values span one line)", key)
		}
		if m := trailing(raw[i+1:]); m != "" {
			return "", "", false, fmt.Sprintf("value of %s: %s", key, m)
		}
		return key, b.String(), true, ""
	default:
		val = raw
		if i := strings.Index(val, " #"); i >= 0 {
			val = val[:i]
		}
		if i := strings.Index(val, "\t#"); i >= 0 {
			val = val[:i]
		}
		return key, strings.TrimRight(val, " \t"), true, ""
	}
}

func isControl(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }

// trailing checks what follows a closing quote: blanks and a comment only.
func trailing(s string) string {
	t := strings.TrimLeft(s, " \t")
	if t == "" || t[0] == '#' {
		return ""
	}
	return "unexpected text after the closing quote"
}

// Keys returns the keys in file order.
func (f *File) Keys() []string {
	keys := make([]string, len(f.Entries))
	for i, e := range f.Entries {
		keys[i] = e.Key
	}
	return keys
}

// SortedKeys returns the keys sorted.
func (f *File) SortedKeys() []string {
	keys := f.Keys()
	sort.Strings(keys)
	return keys
}

// Lookup returns the entry of a key.
func (f *File) Lookup(key string) (Entry, bool) {
	i, ok := f.index[key]
	if !ok {
		return Entry{}, false
	}
	return f.Entries[i], true
}

// Data returns the entries as Secret data.
func (f *File) Data() map[string][]byte {
	m := make(map[string][]byte, len(f.Entries))
	for _, e := range f.Entries {
		m[e.Key] = []byte(e.Value.Reveal())
	}
	return m
}
