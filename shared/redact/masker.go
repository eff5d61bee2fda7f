package redact

import (
	"sync"
	"sync/atomic"
)

// Masker masks the secret values it was given (raw and base64) and the
// credential patterns of Line: the one masker of diagnose's evidence and of
// diagnose logs. Values are only added (a rotated Secret's old values stay
// masked); it is safe for concurrent use, and a nil Masker masks the
// patterns only.
type Masker struct {
	mu     sync.Mutex
	values map[string]bool
	scrub  atomic.Pointer[Scrubber]
}

// NewMasker returns a masker of values.
func NewMasker(values ...string) *Masker {
	m := &Masker{values: map[string]bool{}}
	m.scrub.Store(NewScrubber())
	m.Add(values...)
	return m
}

// Add adds secret values to mask from now on.
func (m *Masker) Add(values ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	added := false
	for _, v := range values {
		if !m.values[v] {
			m.values[v] = true
			added = true
		}
	}
	if !added {
		return
	}
	vs := make([]string, 0, len(m.values))
	for v := range m.values {
		vs = append(vs, v)
	}
	m.scrub.Store(NewScrubber(vs...))
}

// Scrub masks every known value in text, then the patterns of Line.
func (m *Masker) Scrub(text string) string {
	if m == nil {
		return Line(text)
	}
	return m.scrub.Load().Scrub(text)
}

// Values masks every known value in text (not the patterns of Line): for
// text of the suite's own wording that may quote a value.
func (m *Masker) Values(text string) string {
	if m == nil {
		return text
	}
	return m.scrub.Load().Values(text)
}
