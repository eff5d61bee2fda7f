package envfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func TestParseSyntax(t *testing.T) {
	in := "\xef\xbb\xbf# comment\r\n\r\nexport A=1\r\nB = two words  # note\nC='x # y'\nD=\"q\\\"\\n\" # c\n  E=\nF=a#b\n"
	f, err := Parse(".env", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two words", "C": "x # y", "D": "q\"\n", "E": "", "F": "a#b"}
	if got := f.Keys(); strings.Join(got, ",") != "A,B,C,D,E,F" {
		t.Fatalf("keys %v", got)
	}
	for k, v := range want {
		e, _ := f.Lookup(k)
		if e.Value.Reveal() != v {
			t.Errorf("%s = %q, want %q", k, e.Value.Reveal(), v)
		}
	}
	if e, _ := f.Lookup("A"); e.Line != 3 {
		t.Errorf("A on line %d, want 3", e.Line)
	}
}

func TestParseErrorsNameLineNotValue(t *testing.T) {
	cases := []struct{ in, want string }{
		{"A=1\nsupersecretvalue\n", ".env:2: not a KEY=VALUE line"},
		{"A=1\nA=2\n", ".env:2: duplicate key A (first set on line 1)"},
		{"1A=supersecretvalue\n", ".env:1: invalid key"},
		{"A='supersecretvalue\n", ".env:1: value of A: unterminated single quote"},
		{"A=\"supersecretvalue\n", ".env:1: value of A: unterminated double quote"},
		{"A=\"x\"supersecretvalue\n", ".env:1: value of A: unexpected text"},
	}
	for _, c := range cases {
		_, err := Parse(".env", []byte(c.in))
		var le *LineError
		if !errors.As(err, &le) {
			t.Fatalf("%q: error %v, want a LineError", c.in, err)
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: %q, want prefix %q", c.in, err, c.want)
		}
		if strings.Contains(err.Error(), "supersecret") {
			t.Errorf("%q: the error shows the value", c.in)
		}
	}
}

func TestValueMasked(t *testing.T) {
	f, err := Parse(".env", []byte("K=topsecret\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(f.Entries), fmt.Sprintf("%+v %#v %s %q", f.Entries[0], f.Entries[0], f.Entries[0].Value, f.Entries[0].Value)} {
		if strings.Contains(s, "topsecret") {
			t.Fatalf("value printed: %s", s)
		}
	}
}

func TestGenerateValidates(t *testing.T) {
	content, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(".env", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	if p := Validate(f, RulesFor(app.Environments["dev"], "")); len(p) != 0 {
		t.Fatalf("generated .env has problems in dev: %v", p)
	}
	// prod refuses only the placeholder of the provider in use (issue 16 #15).
	p := Validate(f, RulesFor(app.Environments["prod"], ""))
	if len(p) != 1 || p[0].Key != app.KeyOpenAIAPIKey {
		t.Fatalf("prod problems %v, want the OPENAI_API_KEY placeholder only", p)
	}
	e, _ := f.Lookup(app.KeyTokenEncryptionKey)
	if !IsFernetKey(e.Value.Reveal()) {
		t.Fatal("not a Fernet key")
	}
	other, _ := Generate()
	if other == content {
		t.Fatal("two generated files are equal")
	}
}

func TestValidate(t *testing.T) {
	good, _ := Generate()
	f, _ := Parse(".env", []byte(good))
	set := func(key, val string) *File {
		var b strings.Builder
		for _, e := range f.Entries {
			if e.Key == key {
				if val != "\x00" {
					fmt.Fprintf(&b, "%s=%s\n", key, val)
				}
				continue
			}
			fmt.Fprintf(&b, "%s='%s'\n", e.Key, e.Value.Reveal())
		}
		out, err := Parse(".env", []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	dev := RulesFor(app.Environments["dev"], "openai")
	prod := RulesFor(app.Environments["prod"], "groq")
	cases := []struct {
		name  string
		f     *File
		r     Rules
		want  string
		count int
	}{
		{"missing key", set(app.KeyAPIKey, "\x00"), dev, "missing key API_KEY", 1},
		{"empty key", set(app.KeyAPIKey, ""), dev, "API_KEY is empty", 1},
		{"llm key", set(app.KeyOpenAIAPIKey, "\x00"), dev, "missing key OPENAI_API_KEY (LLM_PROVIDER is openai)", 1},
		{"bad fernet", set(app.KeyTokenEncryptionKey, "abc"), dev, "TOKEN_ENCRYPTION_KEY is not a Fernet key", 1},
		{"fernet 31 bytes", set(app.KeyTokenEncryptionKey, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="), dev, "not a Fernet key", 1},
		{"bad mfa", set(app.KeyDefaultAdminMFASecret, "not-base32-at-all!!"), dev, "DEFAULT_ADMIN_MFA_SECRET is not a base32", 1},
		{"default admin password dev ok", set(app.KeyDefaultAdminPassword, app.DefaultAdminPassword), dev, "", 0},
		{"default admin password prod", set(app.KeyGroqAPIKey, "gsk_real").withReplace(app.KeyDefaultAdminPassword, app.DefaultAdminPassword), prod, "DEFAULT_ADMIN_PASSWORD is the guide's default password", 1},
		{"placeholder of the provider in use", f, prod, "GROQ_API_KEY still holds the guide's placeholder", 1},
		// The .env's LLM_PROVIDER is the one the pods see (issue 16 #10).
		{"env provider wins", set(app.KeyOpenAIAPIKey, "\x00").withAdd(app.KeyLLMProvider, "groq"), dev, "", 0},
		{"env provider needs its key", set(app.KeyGroqAPIKey, "\x00").withAdd(app.KeyLLMProvider, "groq"), dev, "missing key GROQ_API_KEY (LLM_PROVIDER is groq, from the .env)", 1},
		{"bad provider", f, Rules{LLMProvider: "mistral"}, `LLM_PROVIDER "mistral"`, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Validate(c.f, c.r)
			if len(p) != c.count {
				t.Fatalf("problems %v, want %d", p, c.count)
			}
			if c.count > 0 && !strings.Contains(p[0].String(), c.want) {
				t.Fatalf("%q, want %q", p[0], c.want)
			}
		})
	}
}

// withReplace returns a copy of f with key set to val (test helper).
func (f *File) withReplace(key, val string) *File {
	var b strings.Builder
	for _, e := range f.Entries {
		v := e.Value.Reveal()
		if e.Key == key {
			v = val
		}
		fmt.Fprintf(&b, "%s='%s'\n", e.Key, v)
	}
	out, _ := Parse(f.Name, []byte(b.String()))
	return out
}

// withAdd returns a copy of f with key=val added (test helper).
func (f *File) withAdd(key, val string) *File {
	var b strings.Builder
	for _, e := range f.Entries {
		fmt.Fprintf(&b, "%s='%s'\n", e.Key, e.Value.Reveal())
	}
	fmt.Fprintf(&b, "%s=%s\n", key, val)
	out, _ := Parse(f.Name, []byte(b.String()))
	return out
}

func TestWriteNew(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".env")
	if err := WriteNew(p, "A=1\n"); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	if err := WriteNew(p, "A=2\n"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("overwrote: %v", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "A=1\n" {
		t.Fatal("content changed")
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Fatalf("missing file: %v", err)
	}
}

// FuzzParse: no input panics; accepted input has unique, valid keys; every
// value survives a round trip through double-quoted form; syntax errors never
// echo the text after '='.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"A=1\n", "export B='x'\r\n", "C=\"a\\nb\" # c", "#x\n\nD=", "E=1\nE=2", "F='", "G=\"\\", "=x", "H=a #b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f", data)
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("error %v is not a LineError with a line", err)
			}
			lines := strings.Split(string(data), "\n")
			if le.Line <= len(lines) {
				line := strings.TrimSuffix(lines[le.Line-1], "\r")
				if i := strings.IndexByte(line, '='); i >= 0 {
					if v := strings.TrimSpace(line[i+1:]); len(v) >= 12 && strings.Contains(le.Msg, v) {
						t.Fatalf("error %q shows the value", le.Msg)
					}
				}
			}
			return
		}
		seen := map[string]bool{}
		var b strings.Builder
		for _, e := range file.Entries {
			if seen[e.Key] || !keyRE.MatchString(e.Key) {
				t.Fatalf("bad or duplicate key %q", e.Key)
			}
			seen[e.Key] = true
			v := e.Value.Reveal()
			if strings.ContainsAny(v, "\n\r") && !strings.Contains(string(data), "\\") {
				t.Fatalf("multi-line value without escapes")
			}
			r := strings.NewReplacer("\\", "\\\\", "\"", "\\\"", "\n", "\\n", "\r", "\\r", "\t", "\\t")
			fmt.Fprintf(&b, "%s=\"%s\"\n", e.Key, r.Replace(v))
		}
		again, err := Parse("f", []byte(b.String()))
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if len(again.Entries) != len(file.Entries) {
			t.Fatalf("round trip: %d entries, want %d", len(again.Entries), len(file.Entries))
		}
		for i, e := range again.Entries {
			if e.Key != file.Entries[i].Key || e.Value != file.Entries[i].Value {
				t.Fatalf("round trip changed %s", e.Key)
			}
		}
	})
}
