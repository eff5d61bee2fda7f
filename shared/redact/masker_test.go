package redact

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"
)

// A Masker learns values while it is used: a value added later is masked
// from then on, raw and base64, the old ones stay masked; Values leaves the
// credential patterns alone; a nil Masker masks the patterns only.
func TestMasker(t *testing.T) {
	m := NewMasker("first-secret-value")
	if got := m.Scrub("a first-secret-value b second-secret-value"); got != "a REDACTED b second-secret-value" {
		t.Errorf("before Add: %q", got)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Add("second-secret-value")
			_ = m.Scrub("second-secret-value")
		}()
	}
	wg.Wait()
	b64 := base64.StdEncoding.EncodeToString([]byte("second-secret-value"))
	got := m.Scrub("a first-secret-value b second-secret-value c " + b64 + " postgres://u:pw123@db")
	if strings.Contains(got, "secret-value") || strings.Contains(got, b64) || strings.Contains(got, "pw123") {
		t.Errorf("after Add: %q", got)
	}
	if got := m.Values("TOKEN=abcdefgh first-secret-value"); got != "TOKEN=abcdefgh REDACTED" {
		t.Errorf("Values: %q", got)
	}
	var none *Masker
	if got := none.Scrub("x postgres://u:pw123@db first-secret-value"); got != "x postgres://u:REDACTED@db first-secret-value" {
		t.Errorf("nil Scrub: %q", got)
	}
	if got := none.Values("first-secret-value"); got != "first-secret-value" {
		t.Errorf("nil Values: %q", got)
	}
}
