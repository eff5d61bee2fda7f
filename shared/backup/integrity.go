package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// StatusMarker starts the line the remote wrapper writes on stderr after
// pg_dump ended: pg_dump's own exit status and the byte count and sha256 of
// what it wrote, computed inside the pod.
const StatusMarker = "PIYASA-DUMP-STATUS"

// RemoteStatus is the parsed status line.
type RemoteStatus struct {
	// RC is pg_dump's exit status.
	RC int
	// Tee is the exit status of the tee that fed the stream and the hashers.
	Tee    int
	Bytes  int64
	SHA256 string
}

// ParseStatusLine parses `PIYASA-DUMP-STATUS rc=0 tee=0 bytes=N sha256=H`.
func ParseStatusLine(line string) (RemoteStatus, error) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != StatusMarker {
		return RemoteStatus{}, fmt.Errorf("not a status line")
	}
	st := RemoteStatus{RC: -1, Tee: -1, Bytes: -1}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "rc":
			st.RC, err = strconv.Atoi(v)
		case "tee":
			st.Tee, err = strconv.Atoi(v)
		case "bytes":
			st.Bytes, err = strconv.ParseInt(v, 10, 64)
		case "sha256":
			st.SHA256 = v
		}
		if err != nil {
			return RemoteStatus{}, fmt.Errorf("bad status field %q", kv)
		}
	}
	if st.RC < 0 || st.Bytes < 0 || len(st.SHA256) != 64 {
		return RemoteStatus{}, fmt.Errorf("incomplete status line %q", line)
	}
	return st, nil
}

// StderrCollector is the exec's stderr: it finds the status line and keeps
// the last few other lines (pg_dump's messages) for the error message.
type StderrCollector struct {
	mu     sync.Mutex
	buf    []byte
	status *RemoteStatus
	bad    string
	lines  []string
	// OnLine, when set, sees every other line as it arrives (pg_basebackup -v's WAL points).
	OnLine func(string)
}

const keepLines = 5

// Write consumes stderr.
func (c *StderrCollector) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	for {
		i := bytes.IndexByte(c.buf, '\n')
		if i < 0 {
			if len(c.buf) > 8<<10 { // a runaway line: keep its start only
				c.add(string(c.buf[:512]))
				c.buf = c.buf[:0]
			}
			break
		}
		c.add(string(c.buf[:i]))
		c.buf = c.buf[i+1:]
	}
	return len(p), nil
}

func (c *StderrCollector) add(line string) {
	line = strings.TrimRight(line, "\r")
	if strings.HasPrefix(line, StatusMarker) {
		st, err := ParseStatusLine(line)
		if err != nil {
			c.bad = err.Error()
			return
		}
		c.status = &st
		return
	}
	if strings.TrimSpace(line) == "" {
		return
	}
	if c.OnLine != nil {
		c.OnLine(line)
	}
	c.lines = append(c.lines, line)
	if len(c.lines) > keepLines {
		c.lines = c.lines[1:]
	}
}

// Status returns the status line, if it arrived.
func (c *StderrCollector) Status() (RemoteStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) > 0 {
		c.add(string(c.buf))
		c.buf = c.buf[:0]
	}
	if c.status == nil {
		return RemoteStatus{}, false
	}
	return *c.status, true
}

// Last returns the last message line of the remote side ("" if none).
func (c *StderrCollector) Last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lines) == 0 {
		return ""
	}
	return c.lines[len(c.lines)-1]
}

// Lines returns the kept message lines.
func (c *StderrCollector) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// Counter counts and hashes the bytes written to it.
type Counter struct {
	N int64
	h hash.Hash
}

// NewCounter returns a sha256 counter.
func NewCounter() *Counter { return &Counter{h: sha256.New()} }

func (c *Counter) Write(p []byte) (int, error) {
	c.N += int64(len(p))
	return c.h.Write(p)
}

// Sum returns the hex sha256 so far.
func (c *Counter) Sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// streamScan inspects a stream as it passes (the plain dump's DumpScanner,
// a base backup's tarScanner) and names what makes it not whole.
type streamScan interface {
	Problem() string
}

// CheckDump applies the rules that make a dump count: pg_dump's status 0 on
// the side channel, the pod's byte count and sha256 equal to what arrived,
// and the completion trailer. It returns nil or the first broken rule.
func CheckDump(st RemoteStatus, haveStatus bool, raw *Counter, scan *DumpScanner, remoteMsg string) error {
	return checkStream("pg_dump", st, haveStatus, raw, scan, remoteMsg)
}

// Streamed names what a streamScript sent, for CheckStreamed's messages.
type Streamed struct {
	// What is the thing streamed ("dump", "WAL segment 0000...").
	What string
	// Program is what produced it in the pod ("pg_dump", "cat").
	Program string
}

// CheckStreamed is checkStream for a stream nothing scans (a WAL segment).
func CheckStreamed(s Streamed, st RemoteStatus, haveStatus bool, raw *Counter, remoteMsg string) error {
	if err := checkStream(s.Program, st, haveStatus, raw, noScan{}, remoteMsg); err != nil {
		return fmt.Errorf("%s: %v", s.What, err)
	}
	return nil
}

// checkStream is CheckDump for any tool that streams through streamScript:
// its status 0, the pod's byte count and sha256 equal to what arrived (got),
// and no problem found by scan.
func checkStream(tool string, st RemoteStatus, haveStatus bool, got *Counter, scan streamScan, remoteMsg string) error {
	if !haveStatus {
		if remoteMsg != "" {
			return fmt.Errorf("the status line never arrived from the pod: %s", remoteMsg)
		}
		return fmt.Errorf("the status line never arrived from the pod: the stream was cut before %s ended", tool)
	}
	if st.RC != 0 {
		msg := fmt.Sprintf("%s failed in the pod (exit status %d)", tool, st.RC)
		if remoteMsg != "" {
			msg += ": " + remoteMsg
		}
		return fmt.Errorf("%s", msg)
	}
	if st.Tee > 0 {
		return fmt.Errorf("the pod's tee failed (exit status %d): the output of %s was not passed on whole", st.Tee, tool)
	}
	if st.Bytes != got.N {
		return fmt.Errorf("received %d bytes but %s wrote %d in the pod: the stream lost data", got.N, tool, st.Bytes)
	}
	if sum := got.Sum(); sum != st.SHA256 {
		return fmt.Errorf("sha256 of the received stream %s differs from the pod's %s", short(sum), short(st.SHA256))
	}
	if p := scan.Problem(); p != "" {
		return fmt.Errorf("%s", p)
	}
	return nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
