package logs

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"regexp"
	"strings"
	"time"
)

// logLine is one line of a container's log, or (status set) a line about
// the streams for standard error.
type logLine struct {
	pod, container string
	time           time.Time
	msg            string
	status         string
}

// jsonLogLine is a line of `diagnose logs -o json`.
type jsonLogLine struct {
	Pod       string `json:"pod"`
	Container string `json:"container"`
	Time      string `json:"time,omitempty"`
	Message   string `json:"message"`
}

// logWriter is the one writer of the merged lines: each line is written
// whole, masked, filtered by --grep, prefixed (text) or as a JSON object.
type logWriter struct {
	out        *bufio.Writer
	errOut     io.Writer
	json       bool
	timestamps bool
	color      bool
	mask       *masker
	grep       *regexp.Regexp
	enc        *json.Encoder
	written    int
}

func newLogWriter(out, errOut io.Writer, asJSON, timestamps, color bool, m *masker, grep *regexp.Regexp) *logWriter {
	w := &logWriter{out: bufio.NewWriterSize(out, 64*1024), errOut: errOut, json: asJSON, timestamps: timestamps, color: color && !asJSON, mask: m, grep: grep}
	w.enc = json.NewEncoder(w.out)
	w.enc.SetEscapeHTML(false)
	return w
}

// write writes one line; flush says whether to flush now (nothing more is waiting).
func (w *logWriter) write(l logLine, flush bool) error {
	if l.status != "" {
		if err := w.out.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w.errOut, w.mask.mask(l.status))
		return err
	}
	msg := w.mask.mask(l.msg)
	if w.grep != nil && !w.grep.MatchString(msg) {
		return nil
	}
	w.written++
	var err error
	if w.json {
		jl := jsonLogLine{Pod: l.pod, Container: l.container, Message: msg}
		if !l.time.IsZero() {
			jl.Time = l.time.UTC().Format(time.RFC3339Nano)
		}
		err = w.enc.Encode(jl)
	} else {
		var b strings.Builder
		b.Grow(len(l.pod) + len(l.container) + len(msg) + 48)
		b.WriteString(w.paint(l.pod, l.pod, false))
		b.WriteByte(' ')
		b.WriteString(w.paint(l.pod, l.container, true))
		b.WriteByte(' ')
		if w.timestamps && !l.time.IsZero() {
			b.WriteString(l.time.UTC().Format(time.RFC3339Nano))
			b.WriteByte(' ')
		}
		b.WriteString(msg)
		b.WriteByte('\n')
		_, err = w.out.WriteString(b.String())
	}
	if err == nil && flush {
		err = w.out.Flush()
	}
	return err
}

// Flush writes what is buffered.
func (w *logWriter) Flush() error { return w.out.Flush() }

// podColors are the ANSI colours of the pod prefixes, as stern's.
var podColors = []string{"31", "32", "33", "34", "35", "36", "91", "92", "93", "94", "95", "96"}

// paint colours text (the pod's name, or dimmed its container's) in the
// pod's colour on a colour terminal.
func (w *logWriter) paint(pod, text string, dim bool) string {
	if !w.color {
		return text
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(pod))
	code := podColors[h.Sum32()%uint32(len(podColors))]
	if dim {
		code = "2;" + code
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}
