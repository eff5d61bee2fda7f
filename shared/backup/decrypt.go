package backup

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// Identities are the age X25519 identities (secret keys) read from
// --identity files. Nothing of them is ever printed: messages name the
// files and the recipients a file was encrypted to.
type Identities struct {
	ids   []age.Identity
	files []string
}

// Files names the identity files the identities came from.
func (i *Identities) Files() []string {
	if i == nil {
		return nil
	}
	return append([]string(nil), i.files...)
}

// DecryptError is a file none of the identities opens (or that is no age
// file): the message names it and the recipients it was encrypted to.
type DecryptError struct {
	// Where names the file (a path or an s3:// URL).
	Where string
	// Recipients are the public keys the file was encrypted to (from its metadata).
	Recipients []string
	// NoMatch is true when the file is sound and no identity is one of its recipients.
	NoMatch bool
	// Files are the identity files tried.
	Files []string
	cause string
}

func (e *DecryptError) Error() string {
	to := "recipients unknown"
	if len(e.Recipients) > 0 {
		to = "encrypted to " + strings.Join(e.Recipients, ", ")
	}
	if e.NoMatch {
		return fmt.Sprintf("cannot decrypt %s (%s): no identity in %s is one of its recipients", e.Where, to, strings.Join(e.Files, ", "))
	}
	return fmt.Sprintf("cannot decrypt %s (%s): %s", e.Where, to, e.cause)
}

// NeedIdentityError is an encrypted file read without --identity.
type NeedIdentityError struct {
	Where      string
	Recipients []string
}

func (e *NeedIdentityError) Error() string {
	return fmt.Sprintf("%s is encrypted (age, to %s): give --identity FILE with the secret key of one of its recipients", e.Where, strings.Join(e.Recipients, ", "))
}

// Decrypt returns the plaintext of r, a file stored at where and encrypted
// as enc says (nil enc: r is not encrypted and is returned as it is). It
// reads the age header at once: a *DecryptError says no identity fits, a
// *NeedIdentityError that i is nil. Errors reading the body later (a
// damaged chunk) come from the returned reader.
func (i *Identities) Decrypt(r io.Reader, where string, enc *Encryption) (io.Reader, error) {
	if enc == nil {
		return r, nil
	}
	if enc.Method != AgeMethod {
		return nil, &DecryptError{Where: where, Recipients: enc.Recipients, cause: fmt.Sprintf("encryption method %q is not age", enc.Method)}
	}
	if i == nil || len(i.ids) == 0 {
		return nil, &NeedIdentityError{Where: where, Recipients: enc.Recipients}
	}
	pr, err := age.Decrypt(r, i.ids...)
	if err != nil {
		e := &DecryptError{Where: where, Recipients: enc.Recipients, Files: i.Files(), cause: "not a whole age file: " + ageCause(err)}
		var nm *age.NoIdentityMatchError
		e.NoMatch = errors.As(err, &nm)
		return nil, e
	}
	return pr, nil
}

// ageCause is age's message about a damaged file, cut to one line.
func ageCause(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// keyError turns a *NeedIdentityError (exit 2: give --identity) or a
// *DecryptError (exit code: verify's 1, restore's 2 as nothing was changed
// yet) into the command's error, with state ("; nothing was changed")
// appended; nil for any other error.
func keyError(err error, code int, state string) *cli.Error {
	var need *NeedIdentityError
	if errors.As(err, &need) {
		return cli.Usagef("%v%s", need, state).WithHint("--identity takes a file as age-keygen writes it (AGE-SECRET-KEY-1...); it may be given several times")
	}
	var de *DecryptError
	if errors.As(err, &de) {
		e := &cli.Error{Code: code, Msg: de.Error() + state}
		if de.NoMatch {
			e = e.WithHint("give --identity with the secret key of one of those recipients (age-keygen -y FILE prints a file's public key)")
		}
		return e
	}
	return nil
}

// plainChecker decrypts and decompresses, as they are written to it, the
// stored bytes of an encrypted backup, and counts and hashes the plaintext
// in memory: `backup pull --identity` checks the plain dump against the
// BackupInfo without writing it anywhere.
type plainChecker struct {
	pw    *io.PipeWriter
	done  chan struct{}
	plain *Counter
	err   error
}

// pullCheck is the plain check of an encrypted backup pulled with
// --identity; nil (which does nothing) otherwise: pull then checks the
// stored file only, and never writes plaintext.
func (b *base) pullCheck(where string, info *BackupInfo) *plainChecker {
	if b.ids == nil || info.Encryption == nil {
		return nil
	}
	return newPlainChecker(b.ids, where, info)
}

// newPlainChecker starts the check of the backup info describes, read from where.
func newPlainChecker(ids *Identities, where string, info *BackupInfo) *plainChecker {
	pr, pw := io.Pipe()
	c := &plainChecker{pw: pw, done: make(chan struct{}), plain: NewCounter()}
	go func() {
		defer close(c.done)
		defer func() { _, _ = io.Copy(io.Discard, pr) }() // never block the writer
		clear, err := ids.Decrypt(pr, where, info.Encryption)
		if err != nil {
			c.err = err
			return
		}
		dec, err := Compression(info.Compression).NewDecompressor(clear)
		if err == nil {
			_, err = io.Copy(c.plain, dec)
			dec.Close()
		}
		if err != nil {
			c.err = fmt.Errorf("%s is damaged: decryption or %s decompression failed: %s", where, info.Compression, ageCause(err))
		}
	}()
	return c
}

func (c *plainChecker) Write(p []byte) (int, error) {
	if c == nil {
		return len(p), nil
	}
	if _, err := c.pw.Write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// finish ends the input and returns the first problem: an identity that
// does not fit, a damaged file, or a plaintext that is not the BackupInfo's.
func (c *plainChecker) finish(info *BackupInfo) error {
	if c == nil {
		return nil
	}
	_ = c.pw.Close()
	<-c.done
	switch {
	case c.err != nil:
		return c.err
	case c.plain.N != info.RawBytes:
		return fmt.Errorf("the decrypted dump has %d bytes, the metadata says %d", c.plain.N, info.RawBytes)
	case c.plain.Sum() != info.RawSHA256:
		return fmt.Errorf("the decrypted dump's sha256 %s differs from the metadata's %s", short(c.plain.Sum()), short(info.RawSHA256))
	}
	return nil
}

// abort stops the check (the copy failed).
func (c *plainChecker) abort() {
	if c == nil {
		return
	}
	_ = c.pw.CloseWithError(errAborted)
	<-c.done
}
