package backup

// Encryption of stored files with age (filippo.io/age, X25519 recipients).
//
// The API other writers use (backup create, create --physical, wal sync):
//
//	rs, err := flags.Recipients()        // EncryptFlags: --encrypt-to, --recipients-file
//	out, err := rs.Wrap(CountingSink(sink, stored)) // nil rs: out is the sink itself
//	... write the plain (compressed) bytes to out ...
//	err = out.Commit(ctx)                // ends the age stream, then commits the sink
//	name := rs.Name(name)                // the stored name: + ".age" when encrypting
//	info.Encryption = rs.Encryption()    // nil when not encrypting
//
// The stored counter sits under the encryption, so it hashes what is stored
// (StoredSHA256/StoredBytes, a WAL sidecar); a counter above it hashes the
// plaintext (RawSHA256). Only ciphertext reaches the sink: no plaintext is
// written to a local disk or an object store.
//
// Readers: ids.Decrypt(r, where, info.Encryption) between the stored bytes and
// the decompressor.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
)

// AgeMethod is Encryption.Method of files encrypted with age.
const AgeMethod = "age"

// EncryptedSuffix ends the name of a file encrypted with age.
const EncryptedSuffix = ".age"

// IsEncryptedName reports a name ending in EncryptedSuffix.
func IsEncryptedName(name string) bool { return strings.HasSuffix(name, EncryptedSuffix) }

// Recipients are the age X25519 public keys files are encrypted to. A nil
// *Recipients encrypts nothing.
type Recipients struct {
	keys []string
	rs   []age.Recipient
}

// NewRecipients parses age1... public keys (duplicates are dropped). It
// fails on anything else, naming the value by its position (it may be a
// secret typed in the wrong place), never by its text.
func NewRecipients(keys []string) (*Recipients, error) {
	r := &Recipients{}
	for i, k := range keys {
		k = strings.TrimSpace(k)
		if slices.Contains(r.keys, k) {
			continue
		}
		rc, err := parseRecipient(k)
		if err != nil {
			return nil, fmt.Errorf("recipient %d: %v", i+1, err)
		}
		r.keys = append(r.keys, k)
		r.rs = append(r.rs, rc)
	}
	if len(r.keys) == 0 {
		return nil, errors.New("no recipient given")
	}
	return r, nil
}

// parseRecipient parses one X25519 public key.
func parseRecipient(k string) (age.Recipient, error) {
	switch {
	case strings.HasPrefix(strings.ToUpper(k), "AGE-SECRET-KEY-"):
		return nil, errors.New("a secret key (AGE-SECRET-KEY-...) where a public key (age1...) belongs: give the recipient (age-keygen -y FILE), keep the identity secret")
	case strings.HasPrefix(k, "ssh-"), strings.HasPrefix(k, "ecdsa-"):
		return nil, errors.New("SSH keys are not accepted: give an age X25519 public key (age1..., from age-keygen -y)")
	}
	rc, err := age.ParseX25519Recipient(k)
	if err != nil {
		if strings.HasPrefix(k, "age1") && len(k) != 62 {
			return nil, errors.New("not an age X25519 public key: post-quantum (age1pq1...) and plugin recipients are not accepted")
		}
		return nil, errors.New("not an age X25519 public key (age1..., 62 characters, from age-keygen -y)")
	}
	return rc, nil
}

// Keys returns the public keys, in the order given.
func (r *Recipients) Keys() []string {
	if r == nil {
		return nil
	}
	return slices.Clone(r.keys)
}

// Encryption is what BackupInfo.Encryption records (nil: not encrypting).
func (r *Recipients) Encryption() *Encryption {
	if r == nil {
		return nil
	}
	return &Encryption{Method: AgeMethod, Recipients: r.Keys()}
}

// Name is the stored name of a file called name: name + ".age" when encrypting.
func (r *Recipients) Name(name string) string {
	if r == nil {
		return name
	}
	return name + EncryptedSuffix
}

// Wrap returns a Sink that encrypts what is written to it to the recipients
// and writes the ciphertext to dst. Commit ends the age stream (its last
// chunk and tag) and then commits dst; Abort aborts dst. A nil *Recipients
// returns dst itself.
func (r *Recipients) Wrap(dst Sink) (Sink, error) {
	if r == nil {
		return dst, nil
	}
	w, err := age.Encrypt(dst, r.rs...)
	if err != nil {
		return nil, err
	}
	return &encryptSink{dst: dst, w: w}, nil
}

type encryptSink struct {
	dst Sink
	w   io.WriteCloser
}

func (s *encryptSink) Write(p []byte) (int, error) { return s.w.Write(p) }

// Commit implements Sink.
func (s *encryptSink) Commit(ctx context.Context) error {
	if err := s.w.Close(); err != nil {
		s.dst.Abort()
		return err
	}
	return s.dst.Commit(ctx)
}

// Abort implements Sink.
func (s *encryptSink) Abort() { s.dst.Abort() }

// CountingSink returns a Sink that counts and hashes into c what it passes
// to dst (the stored bytes, when it wraps the target's sink).
func CountingSink(dst Sink, c *Counter) Sink { return &countingSink{Sink: dst, c: c} }

type countingSink struct {
	Sink
	c *Counter
}

func (s *countingSink) Write(p []byte) (int, error) {
	n, err := s.Sink.Write(p)
	_, _ = s.c.Write(p[:n])
	return n, err
}

// sameRecipients returns the recipients info's file was encrypted to (nil
// when it is not encrypted): what a copy taken beside it is encrypted to.
func sameRecipients(info *BackupInfo) (*Recipients, error) {
	if info == nil || info.Encryption == nil {
		return nil, nil
	}
	r, err := NewRecipients(info.Encryption.Recipients)
	if err != nil {
		return nil, fmt.Errorf("the backup's metadata names recipients that are not age X25519 keys: %v", err)
	}
	return r, nil
}
