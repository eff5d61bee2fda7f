package harness

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/envfile"
)

// EnvSecretValues returns the values of a .env worth looking for in output:
// those of 8 characters or more that are not the guide's placeholders.
func EnvSecretValues(t testing.TB, path string) []string {
	t.Helper()
	f, err := envfile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range f.Entries {
		if v := e.Value.Reveal(); len(v) >= 8 && !strings.Contains(v, "your-") {
			out = append(out, v)
		}
	}
	return out
}

// NoLeak fails the test, without printing the value, when text holds a
// value of one of the .env files, raw or base64 (standard or URL alphabet,
// also inside a longer encoded blob).
func NoLeak(t testing.TB, text string, envFiles ...string) {
	t.Helper()
	for _, f := range envFiles {
		for i, v := range EnvSecretValues(t, f) {
			for _, n := range needlesFor(v) {
				if strings.Contains(text, string(n.b)) {
					t.Fatalf("output shows value #%d of %s (%s)", i, filepath.Base(f), n.form)
				}
			}
		}
	}
}

// EnvValue returns the value of key in a .env file ("" when absent), for a
// test that gives it to a local server (e.g. DATABASE_PASSWORD).
func EnvValue(t testing.TB, path, key string) string {
	t.Helper()
	f, err := envfile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range f.Entries {
		if e.Key == key {
			return e.Value.Reveal()
		}
	}
	return ""
}
