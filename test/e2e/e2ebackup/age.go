package e2ebackup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// AgeKey is an age identity file, written as age-keygen writes it.
type AgeKey struct {
	// Secret is the identity (AGE-SECRET-KEY-1...).
	Secret string
	// Recipient is its public key (age1...).
	Recipient string
	// File is the identity file's path.
	File string
}

// NewAgeKey generates an identity and writes it to dir/name (mode 0600).
func NewAgeKey(t *testing.T, dir, name string) AgeKey {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	k := AgeKey{Secret: id.String(), Recipient: id.Recipient().String(), File: filepath.Join(dir, name)}
	body := "# created: 2026-12-06T10:00:00Z\n# public key: " + k.Recipient + "\n" + k.Secret + "\n"
	if err := os.WriteFile(k.File, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// NoKey fails when a command printed an identity.
func NoKey(t *testing.T, r harness.Result, keys ...AgeKey) {
	t.Helper()
	for _, k := range keys {
		if strings.Contains(strings.ToUpper(r.Stdout+r.Stderr), k.Secret) {
			t.Fatalf("output shows the identity of %s", k.Recipient)
		}
	}
}
