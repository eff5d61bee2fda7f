package backup

import (
	"fmt"
	"io"
	"strings"
)

// PodCompressions lists the accepted --compress-in-pod values.
var PodCompressions = []string{string(None), string(Gzip), string(Zstd)}

// ParsePodCompression checks a --compress-in-pod value ("" is none).
func ParsePodCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case "", None:
		return None, nil
	case Gzip, Zstd:
		return c, nil
	}
	return "", fmt.Errorf("unknown --compress-in-pod %q: use %s", s, strings.Join(PodCompressions, "|"))
}

// podDumpArgs are the pg_dump arguments that compress its plain output in
// the pod: -Z 1 is gzip level 1 in every pg_dump (PostgreSQL 15 knows no
// other method for the plain format); zstd needs pg_dump 16 or later.
func podDumpArgs(c Compression) []string {
	switch c {
	case Gzip:
		return []string{"-Z", "1"}
	case Zstd:
		return []string{"--compress=zstd:1"}
	}
	return nil
}

// DumpCommandCompressed is the exec command of a dump that pg_dump
// compresses in the pod (c none: DumpCommand). The wrapper's byte count and
// sha256 then describe the compressed stream, as it travels.
func DumpCommandCompressed(db string, c Compression) []string {
	return append(DumpCommand(db), podDumpArgs(c)...)
}

// podInflater receives the stream pg_dump compressed in the pod. It passes
// it on as it is to pass (the stored bytes, when the backup is stored with
// the pod's compression; nil otherwise) and expands it in a goroutine into
// plain (the plain dump's counter and scanner, the client's compressor when
// it stores another compression): the plain dump is still hashed, counted
// and checked for its trailer.
type podInflater struct {
	pass io.Writer
	pw   *io.PipeWriter
	done chan struct{}
	err  error
}

func newPodInflater(c Compression, pass, plain io.Writer) *podInflater {
	pr, pw := io.Pipe()
	p := &podInflater{pass: pass, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer func() { _, _ = io.Copy(io.Discard, pr) }() // never block the stream
		dec, err := c.NewDecompressor(pr)
		if err == nil {
			_, err = io.Copy(plain, dec)
			dec.Close()
		}
		if err != nil {
			p.err = fmt.Errorf("the %s stream pg_dump compressed in the pod does not expand: %v", c, err)
		}
	}()
	return p
}

func (p *podInflater) Write(b []byte) (int, error) {
	if p.pass != nil {
		if _, err := p.pass.Write(b); err != nil {
			return 0, err
		}
	}
	if _, err := p.pw.Write(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// finish ends the stream and returns the expansion's error, if any.
func (p *podInflater) finish() error {
	_ = p.pw.Close()
	<-p.done
	return p.err
}

// dumpStreams wires what the exec's stdout feeds: the plain dump's counter,
// scanner and progress, and the stored bytes (through the client's
// compressor, or as they come when pg_dump compressed them in the pod the
// same way). wire counts what travels (the pod's status describes it); infl
// is nil without compression in the pod.
type dumpStreams struct {
	stdout io.Writer
	comp   io.WriteCloser
	wire   *Counter
	infl   *podInflater
}

func newDumpStreams(pod, stored Compression, out io.Writer, raw *Counter, plain ...io.Writer) (*dumpStreams, error) {
	plain = append([]io.Writer{raw}, plain...)
	if pod == "" || pod == None {
		comp, err := stored.NewCompressor(out)
		if err != nil {
			return nil, err
		}
		return &dumpStreams{stdout: io.MultiWriter(append(plain, comp)...), comp: comp, wire: raw}, nil
	}
	s := &dumpStreams{wire: NewCounter()}
	var pass io.Writer
	if pod == stored {
		pass, s.comp = out, nopWriteCloser{io.Discard}
	} else {
		comp, err := stored.NewCompressor(out)
		if err != nil {
			return nil, err
		}
		s.comp, plain = comp, append(plain, comp)
	}
	s.infl = newPodInflater(pod, pass, io.MultiWriter(plain...))
	s.stdout = io.MultiWriter(s.wire, s.infl)
	return s, nil
}

// finish waits for the expansion (nil without compression in the pod).
func (s *dumpStreams) finish() error {
	if s.infl == nil {
		return nil
	}
	return s.infl.finish()
}

// expandScan is the streamScan of a dump compressed in the pod: once the
// stream arrived whole (the pod's status, byte count and sha256), a stream
// that did not expand is the problem, before the plain dump's own.
type expandScan struct {
	scan      *DumpScanner
	expandErr error
}

// Problem implements streamScan.
func (e expandScan) Problem() string {
	if e.expandErr != nil {
		return e.expandErr.Error()
	}
	return e.scan.Problem()
}
