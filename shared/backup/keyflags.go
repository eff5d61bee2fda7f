package backup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
	"github.com/spf13/pflag"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// EncryptFlags are --encrypt-to and --recipients-file: the age public keys a
// backup is encrypted to.
type EncryptFlags struct {
	// To are age1... public keys (--encrypt-to, repeatable).
	To []string
	// Files are recipients files: one age1... key a line, # comments (--recipients-file, repeatable).
	Files []string
}

// AddFlags adds --encrypt-to and --recipients-file.
func (f *EncryptFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.To, "encrypt-to", nil, "Encrypt the backup with age to this X25519 public key (age1...; repeatable): only the holders of a matching identity can read it")
	fs.StringArrayVar(&f.Files, "recipients-file", nil, "Encrypt to every age1... public key in FILE (one a line, # comments; repeatable)")
}

// Set reports whether encryption was asked for.
func (f *EncryptFlags) Set() bool { return f != nil && len(f.To)+len(f.Files) > 0 }

// Validate parses the --encrypt-to keys (no I/O): exit 2 on a bad one.
func (f *EncryptFlags) Validate() error {
	if f == nil || len(f.To) == 0 {
		return nil
	}
	if _, err := NewRecipients(f.To); err != nil {
		return cli.Usagef("--encrypt-to: %v", err)
	}
	return nil
}

// Recipients reads the recipients files and returns every key given (nil
// when encryption was not asked for); exit 2 on a bad key or file.
func (f *EncryptFlags) Recipients() (*Recipients, error) {
	if !f.Set() {
		return nil, nil
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	keys := append([]string(nil), f.To...)
	for _, file := range f.Files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, cli.Usagef("--recipients-file: %s", errnoPath(file, err))
		}
		ks, err := ParseRecipientsFile(file, raw)
		if err != nil {
			return nil, cli.Usagef("--recipients-file: %v", err)
		}
		keys = append(keys, ks...)
	}
	r, err := NewRecipients(keys)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	return r, nil
}

// ParseRecipientsFile reads a recipients file: one age1... public key a
// line; blank lines and lines starting with # are skipped. Errors name the
// file and the line, never the line's text.
func ParseRecipientsFile(name string, raw []byte) ([]string, error) {
	var keys []string
	err := eachKeyLine(raw, func(n int, line string) error {
		if _, err := parseRecipient(line); err != nil {
			return fmt.Errorf("%s line %d: %v", name, n, err)
		}
		keys = append(keys, line)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no recipient (age1... public keys, one a line)", name)
	}
	return keys, nil
}

// eachKeyLine calls fn with every line that is not blank or a # comment,
// trimmed, and its number (from 1).
func eachKeyLine(raw []byte, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	return sc.Err()
}

// IdentityFlags is --identity: age identity files that decrypt backups.
type IdentityFlags struct {
	// Files are age identity files (AGE-SECRET-KEY-1... a line, # comments; repeatable).
	Files []string
}

// AddFlags adds --identity.
func (f *IdentityFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.Files, "identity", nil, "Decrypt an encrypted backup with the age identities (AGE-SECRET-KEY-1...) in FILE (repeatable; as age-keygen writes it)")
}

// Load reads the identity files (nil when none was given); exit 2 on a
// file that cannot be read or holds anything but X25519 identities.
func (f *IdentityFlags) Load() (*Identities, error) {
	if f == nil || len(f.Files) == 0 {
		return nil, nil
	}
	ids := &Identities{}
	for _, file := range f.Files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, cli.Usagef("--identity: %s", errnoPath(file, err))
		}
		got, err := ParseIdentityFile(file, raw)
		if err != nil {
			return nil, cli.Usagef("--identity: %v", err)
		}
		ids.ids = append(ids.ids, got...)
		ids.files = append(ids.files, file)
	}
	return ids, nil
}

// ParseIdentityFile reads an identity file: AGE-SECRET-KEY-1... lines, as
// age-keygen writes them (# comments, blank lines). Errors name the file
// and the line, never its text.
func ParseIdentityFile(name string, raw []byte) ([]age.Identity, error) {
	var ids []age.Identity
	err := eachKeyLine(raw, func(n int, line string) error {
		if strings.HasPrefix(line, "age1") {
			return fmt.Errorf("%s line %d: a public key (age1...) where an identity belongs: give the secret key file (age-keygen's output)", name, n)
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return fmt.Errorf("%s line %d: not an age X25519 identity (AGE-SECRET-KEY-1...)", name, n)
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s holds no identity (AGE-SECRET-KEY-1... lines, as age-keygen writes them)", name)
	}
	return ids, nil
}

// errnoPath is "FILE: <system text>" for a file that cannot be read.
func errnoPath(file string, err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return file + ": " + pe.Err.Error()
	}
	return file + ": " + err.Error()
}
