package envfile

import (
	"errors"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// rotateValues changes every letter and digit after the first '=' of each
// line to the next one (z to a, 9 to 0) and keeps every other byte: the
// quotes, escapes, blanks, '#' and control characters that decide how a
// line parses are where they were, only the values' text differs.
func rotateValues(data []byte) []byte {
	out := make([]byte, len(data))
	inValue := false
	for i, b := range data {
		switch {
		case b == '\n':
			inValue = false
		case !inValue && b == '=':
			inValue = true
		case inValue && b >= 'a' && b <= 'z':
			b = 'a' + (b-'a'+1)%26
		case inValue && b >= 'A' && b <= 'Z':
			b = 'A' + (b-'A'+1)%26
		case inValue && b >= '0' && b <= '9':
			b = '0' + (b-'0'+1)%10
		}
		out[i] = b
	}
	return out
}

// FuzzParseErrorsHideValues: an error of Parse is a LineError and never depends
// on a value (the same .env with other letters in its values gives the very
// same message: no value can be in it); a parsed file holds each key once,
// and Validate never panics on it.
func FuzzParseErrorsHideValues(f *testing.F) {
	good, err := Generate()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		good,
		"\xef\xbb\xbf# comment\r\n\r\nexport A=1\r\nB = two words  # note\nC='x # y'\nD=\"q\\\"\\n\" # c\n  E=\nF=a#b\n",
		"A=1\nsupersecretvalue\n", "A=1\nA=2\n", "1A=supersecretvalue\n", "A='supersecretvalue\n",
		"A=\"supersecretvalue\n", "A=\"x\"supersecretvalue\n", "A=\x01x\n", "export\tK=\"\\t\\$\\`\\\\\" #\n",
		"LLM_PROVIDER=groq\nGROQ_API_KEY=gsk_your-groq-key-here\nTOKEN_ENCRYPTION_KEY=short\nDEFAULT_ADMIN_MFA_SECRET=abc\n",
		"DEFAULT_ADMIN_PASSWORD=change-me-in-production\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.env", data)
		_, err2 := Parse("f.env", rotateValues(data))
		if (err == nil) != (err2 == nil) {
			t.Fatalf("parses %v, with other value letters %v", err, err2)
		}
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("error %v is no LineError", err)
			}
			if err.Error() != err2.Error() {
				t.Fatalf("the error depends on a value:\n%s\n%s", err, err2)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range file.Entries {
			if seen[e.Key] || !keyRE.MatchString(e.Key) {
				t.Fatalf("key %q twice or invalid", e.Key)
			}
			seen[e.Key] = true
			if got, ok := file.Lookup(e.Key); !ok || got.Line != e.Line {
				t.Fatalf("Lookup(%q) = %+v", e.Key, got)
			}
		}
		if len(file.Data()) != len(file.Entries) {
			t.Fatalf("Data has %d keys, Entries %d", len(file.Data()), len(file.Entries))
		}
		for _, env := range app.Environments {
			for _, p := range Validate(file, RulesFor(env, "")) {
				if p.Msg == "" {
					t.Fatalf("empty problem %+v", p)
				}
			}
		}
	})
}
