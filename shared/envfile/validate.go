package envfile

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// Problem is one reason a .env cannot be deployed. Its message names the key
// and line, never the value.
type Problem struct {
	Key  string
	Line int
	Msg  string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	return p.Msg
}

// Rules say what a .env must hold for an environment.
type Rules struct {
	// LLMProvider selects the LLM key that is required (openai, groq, gemini).
	LLMProvider string
	// Strict refuses the guide's sample values and the default admin password (prod).
	Strict bool
}

// RulesFor returns the rules of an environment: prod is strict.
func RulesFor(env app.Environment, llmProvider string) Rules {
	if llmProvider == "" {
		llmProvider = app.DefaultLLMProvider
	}
	return Rules{LLMProvider: llmProvider, Strict: env.Name == "prod"}
}

// Validate checks a parsed .env against the rules and returns every problem.
func Validate(f *File, r Rules) []Problem {
	var out []Problem
	add := func(key string, line int, format string, args ...any) {
		out = append(out, Problem{Key: key, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	// The pods see the .env's LLM_PROVIDER when it has one: the Secret comes
	// after the ConfigMap in envFrom, so its value wins.
	provider, from := r.LLMProvider, ""
	if e, ok := f.Lookup(app.KeyLLMProvider); ok && e.Value != "" {
		provider, from = e.Value.Reveal(), ", from the .env"
	}
	required := slices.Clone(app.RequiredSecretKeys)
	llmKey, ok := app.LLMProviderKeys[provider]
	if !ok {
		add(app.KeyLLMProvider, 0, "LLM_PROVIDER %q is not one of %s", provider, strings.Join(providerNames(), ", "))
	} else {
		required = append(required, llmKey)
	}
	for _, k := range required {
		e, ok := f.Lookup(k)
		switch {
		case !ok:
			what := ""
			if k == llmKey {
				what = fmt.Sprintf(" (LLM_PROVIDER is %s%s)", provider, from)
			}
			add(k, 0, "missing key %s%s", k, what)
		case e.Value == "":
			add(k, e.Line, "%s is empty", k)
		}
	}
	if e, ok := f.Lookup(app.KeyTokenEncryptionKey); ok && e.Value != "" && !IsFernetKey(e.Value.Reveal()) {
		add(e.Key, e.Line, "%s is not a Fernet key (32 random bytes, URL-safe base64, 44 characters); make one with: kubectl piyasa deploy init-env", e.Key)
	}
	if e, ok := f.Lookup(app.KeyDefaultAdminMFASecret); ok && e.Value != "" && !IsBase32Secret(e.Value.Reveal()) {
		add(e.Key, e.Line, "%s is not a base32 TOTP secret (letters A-Z and digits 2-7, at least 16)", e.Key)
	}
	if r.Strict {
		unused := map[string]bool{}
		for _, k := range app.LLMProviderKeys {
			unused[k] = k != llmKey
		}
		for _, e := range f.Entries {
			v := e.Value.Reveal()
			switch {
			case unused[e.Key]:
				// the key of a provider not in use: the app never reads it
			case e.Key == app.KeyDefaultAdminPassword && v == app.DefaultAdminPassword:
				add(e.Key, e.Line, "%s is the guide's default password: set your own for prod", e.Key)
			case slices.Contains(app.PlaceholderValues, v) || strings.Contains(v, "your-") && strings.Contains(v, "-here"):
				add(e.Key, e.Line, "%s still holds the guide's placeholder value: set the real one for prod", e.Key)
			}
		}
	}
	return out
}

// providerNames lists the LLM providers, sorted.
func providerNames() []string {
	out := make([]string, 0, len(app.LLMProviderKeys))
	for p := range app.LLMProviderKeys {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// IsFernetKey reports whether s is a Fernet key: URL-safe base64 of 32 bytes.
func IsFernetKey(s string) bool {
	if len(s) != 44 {
		return false
	}
	b, err := base64.URLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

// IsBase32Secret reports whether s is a base32 (RFC 4648) secret of at least
// 80 bits, as TOTP apps take it (padding optional, case-insensitive).
func IsBase32Secret(s string) bool {
	t := strings.TrimRight(strings.ToUpper(s), "=")
	if len(t) < 16 {
		return false
	}
	_, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(t)
	return err == nil
}

// Generate returns the content of a fresh .env: random API_KEY,
// DATABASE_PASSWORD, admin password and API key, a Fernet
// TOKEN_ENCRYPTION_KEY and a base32 MFA secret. The LLM keys hold the
// guide's placeholders, to be replaced (prod refuses them).
func Generate() (string, error) {
	r := func(n int) (string, error) {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return base64.RawURLEncoding.EncodeToString(b), nil
	}
	var vals [4]string
	for i := range vals {
		v, err := r(32)
		if err != nil {
			return "", err
		}
		vals[i] = v
	}
	fk := make([]byte, 32)
	mfa := make([]byte, 20)
	if _, err := rand.Read(fk); err != nil {
		return "", err
	}
	if _, err := rand.Read(mfa); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# piyasa chat bot secrets: the source of Secret piyasa-secrets.\n")
	b.WriteString("# Made by `kubectl piyasa deploy init-env`. Keep this file private (mode 0600), never commit it.\n")
	b.WriteString("# Replace the LLM key of your LLM_PROVIDER (openai by default); prod refuses the placeholders.\n")
	fmt.Fprintf(&b, "%s=%s\n", app.KeyOpenAIAPIKey, "sk-your-openai-key-here")
	fmt.Fprintf(&b, "%s=%s\n", app.KeyGroqAPIKey, "gsk_your-groq-key-here")
	fmt.Fprintf(&b, "%s=%s\n", app.KeyGeminiAPIKey, "AIza_your-gemini-key-here")
	fmt.Fprintf(&b, "%s=%s\n", app.KeyAPIKey, vals[0])
	fmt.Fprintf(&b, "%s=%s\n", app.KeyTokenEncryptionKey, base64.URLEncoding.EncodeToString(fk))
	fmt.Fprintf(&b, "%s=%s\n", app.KeyDatabasePassword, vals[1])
	fmt.Fprintf(&b, "%s=%s\n", app.KeyDefaultAdminUsername, "admin")
	fmt.Fprintf(&b, "%s=%s\n", app.KeyDefaultAdminPassword, vals[2])
	fmt.Fprintf(&b, "%s=%s\n", app.KeyDefaultAdminAPIKey, vals[3])
	fmt.Fprintf(&b, "%s=%s\n", app.KeyDefaultAdminMFASecret, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(mfa))
	return b.String(), nil
}

// WriteNew writes content to path with mode 0600; it never replaces an
// existing file.
func WriteNew(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if os.IsExist(err) {
			return fmt.Errorf("%s already exists: not overwriting it", path)
		}
		return fmt.Errorf("cannot create %s: %v", path, unwrapPath(err))
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("cannot write %s: %v", path, unwrapPath(err))
	}
	return f.Close()
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
