// Package redact removes secret values from what the suite prints or packs:
// Secret data, ConfigMap values whose key or content looks like a password,
// token or key, credentials in URLs, and known secret values anywhere in text.
package redact

import (
	"encoding/base64"
	"regexp"
	"sort"
	"strings"
)

// Mask replaces every redacted value.
const Mask = "REDACTED"

var (
	sensitiveKeyRE = regexp.MustCompile(`(?i)(passw(or)?d|passwd|pwd|(^|[_.-])pass($|[_.-])|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential|auth|mfa|totp|fernet|signing|encryption|(^|[_.-])key$|^key$|dsn)`)
	urlCredsRE     = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:@/\s]*):([^@/\s]+)@`)
	pemKeyRE       = regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)
	tokenRE        = regexp.MustCompile(`\b((AKIA|ASIA)[A-Z0-9]{16}|sk-[A-Za-z0-9_-]{8,}|gsk_[A-Za-z0-9_-]{8,}|AIza[A-Za-z0-9_-]{8,}|xox[abp]-[A-Za-z0-9-]{8,}|gh[pousr]_[A-Za-z0-9]{16,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*|\d{6,}:[A-Za-z0-9_-]{30,})`)
	assignRE       = regexp.MustCompile(`(?i)\b([A-Z0-9_]*(passw(or)?d|secret|token|api[_-]?key|apikey|private[_-]?key|credential|mfa)[A-Z0-9_]*)(["']?\s*[=:]\s*["']?)([^\s"',;&]+)`)
	bearerRE       = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`)
	opaqueRE       = regexp.MustCompile(`^[A-Za-z0-9+/=_-]{24,}$`)
	hasDigitRE     = regexp.MustCompile(`[0-9]`)
	hasLetterRE    = regexp.MustCompile(`[A-Za-z]`)
)

// SensitiveKey tells whether a key name looks like it holds a password, token or key.
func SensitiveKey(key string) bool { return sensitiveKeyRE.MatchString(key) }

// SensitiveValue tells whether a value looks like a secret: a URL with a
// password, a private key, a provider API key or token, or a long opaque string.
func SensitiveValue(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return false
	}
	if urlCredsRE.MatchString(v) || pemKeyRE.MatchString(v) || tokenRE.MatchString(v) || bearerRE.MatchString(v) || assignRE.MatchString(v) {
		return true
	}
	return opaqueRE.MatchString(v) && hasDigitRE.MatchString(v) && hasLetterRE.MatchString(v)
}

// SensitiveEntry tells whether a KEY=VALUE pair holds a secret by its key
// (SensitiveKey) or its value (SensitiveValue, URLPassword): the rule by
// which a configuration entry belongs in a Secret, not a ConfigMap. A URL
// whose password is a Kubernetes env reference, $(DATABASE_PASSWORD), is not
// a secret.
func SensitiveEntry(key, value string) bool {
	if SensitiveKey(key) || URLPassword(value) {
		return true
	}
	return SensitiveValue(urlCredsRE.ReplaceAllString(value, "${1}@"))
}

// URLPassword reports whether s holds a URL with a password (user:password@host),
// ignoring passwords that are Kubernetes env references such as $(DATABASE_PASSWORD).
func URLPassword(s string) bool {
	for _, m := range urlCredsRE.FindAllStringSubmatch(s, -1) {
		if !strings.HasPrefix(m[2], "$(") && !strings.HasPrefix(m[2], "${") {
			return true
		}
	}
	return false
}

// Value returns the value to show for key: Mask when the key or the value looks sensitive.
func Value(key, v string) string {
	if v == "" {
		return v
	}
	if SensitiveKey(key) {
		return Mask
	}
	if SensitiveValue(v) {
		l := Line(v)
		if l == v || SensitiveValue(strings.ReplaceAll(l, Mask, "")) {
			return Mask
		}
		return l
	}
	return v
}

// Map returns a copy of data with Value applied to each entry.
func Map(data map[string]string) map[string]string {
	if data == nil {
		return nil
	}
	out := make(map[string]string, len(data))
	for k, v := range data {
		out[k] = Value(k, v)
	}
	return out
}

// Line masks credentials inside free text (log lines, messages): URL
// passwords, KEY=value assignments of sensitive names, bearer tokens and
// provider API keys.
func Line(s string) string {
	s = urlCredsRE.ReplaceAllString(s, "${1}:"+Mask+"@")
	s = assignRE.ReplaceAllString(s, "${1}${4}"+Mask)
	s = bearerRE.ReplaceAllString(s, "${1} "+Mask)
	s = tokenRE.ReplaceAllString(s, Mask)
	s = pemKeyRE.ReplaceAllString(s, Mask)
	return s
}

// Scrubber removes known secret values (and their base64 forms) from text.
type Scrubber struct {
	r *strings.Replacer
	n int
}

// NewScrubber returns a scrubber for the given secret values; values shorter
// than 4 characters are ignored (they would mask ordinary words).
func NewScrubber(values ...string) *Scrubber {
	seen := map[string]bool{}
	var vs []string
	addv := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) >= 4 && !seen[v] {
			seen[v] = true
			vs = append(vs, v)
		}
	}
	for _, v := range values {
		addv(v)
		addv(base64.StdEncoding.EncodeToString([]byte(v)))
		addv(strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(v)), "="))
	}
	// longest first, so a value containing another is masked whole
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	pairs := make([]string, 0, 2*len(vs))
	for _, v := range vs {
		pairs = append(pairs, v, Mask)
	}
	return &Scrubber{r: strings.NewReplacer(pairs...), n: len(vs)}
}

// Values masks every known value in text (not the patterns of Line): for
// text of the suite's own wording that may quote a value.
func (s *Scrubber) Values(text string) string {
	if s != nil && s.n > 0 {
		text = s.r.Replace(text)
	}
	return text
}

// Scrub masks every known value in s, then the patterns of Line.
func (s *Scrubber) Scrub(text string) string {
	if s != nil && s.n > 0 {
		text = s.r.Replace(text)
	}
	return Line(text)
}
