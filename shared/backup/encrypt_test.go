package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// testKey is a fresh age identity written to an identity file, as
// age-keygen writes it.
type testKey struct {
	id        *age.X25519Identity
	recipient string
	file      string
}

func newTestKey(t *testing.T) testKey {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "key.txt")
	body := "# created: 2026-12-06T10:00:00Z\n# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return testKey{id: id, recipient: id.Recipient().String(), file: file}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestEncryptedCreateRoundTrip: create --encrypt-to stores ciphertext under
// a .age name, its BackupInfo names the recipient and describes the
// encrypted file (stored) and the plain dump (raw); checkStored reads it
// back with the identity, asks for one without, and names the recipients
// (and no key) with a wrong one.
func TestEncryptedCreateRoundTrip(t *testing.T) {
	for _, c := range []Compression{Zstd, Gzip, None} {
		t.Run(string(c), func(t *testing.T) {
			key, other := newTestKey(t), newTestKey(t)
			dir := t.TempDir()
			o, _ := newCreate(t, &fakeExec{stdout: sampleDump}, "--dir", dir, "--compress", string(c), "--encrypt-to", key.recipient)
			o.Encrypt.To = []string{key.recipient}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			info, err := o.take(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(info.Name, c.Ext()+EncryptedSuffix) || info.Encryption == nil ||
				info.Encryption.Method != AgeMethod || strings.Join(info.Encryption.Recipients, ",") != key.recipient {
				t.Fatalf("info %+v", info)
			}
			stored, err := os.ReadFile(filepath.Join(dir, info.Name))
			if err != nil {
				t.Fatal(err)
			}
			if sha(stored) != info.StoredSHA256 || int64(len(stored)) != info.StoredBytes ||
				info.RawSHA256 != sha([]byte(sampleDump)) || info.RawBytes != int64(len(sampleDump)) {
				t.Errorf("sums: stored %d %s, info %+v", len(stored), sha(stored), info)
			}
			if bytes.Contains(stored, []byte("COPY public")) || !bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")) {
				t.Errorf("the stored file is not an age file")
			}
			loc := Location{Target: DirTarget{Dir: dir}, Name: info.Name}
			ids := &Identities{ids: []age.Identity{key.id}, files: []string{key.file}}
			if res, err := checkStored(context.Background(), loc, ids); err != nil || len(res.Problems) != 0 {
				t.Fatalf("check with the identity: %v %v", err, res)
			}
			var need *NeedIdentityError
			if _, err := checkStored(context.Background(), loc, nil); !errors.As(err, &need) || !strings.Contains(err.Error(), key.recipient) {
				t.Errorf("without identity: %v", err)
			}
			wrong := &Identities{ids: []age.Identity{other.id}, files: []string{other.file}}
			_, err = checkStored(context.Background(), loc, wrong)
			var de *DecryptError
			if !errors.As(err, &de) || !de.NoMatch || !strings.Contains(err.Error(), key.recipient) || !strings.Contains(err.Error(), other.file) ||
				strings.Contains(err.Error(), "AGE-SECRET-KEY") {
				t.Errorf("wrong identity: %v", err)
			}
		})
	}
}

// TestEncryptedCreateDamaged: a flipped byte of the ciphertext is found
// (stored sha256 and decryption), not passed on as a good backup.
func TestEncryptedCreateDamaged(t *testing.T) {
	key := newTestKey(t)
	dir := t.TempDir()
	o, _ := newCreate(t, &fakeExec{stdout: sampleDump}, "--dir", dir)
	o.Encrypt.To = []string{key.recipient}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	info, err := o.take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, info.Name)
	raw, _ := os.ReadFile(file)
	raw[len(raw)-20] ^= 1
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	ids := &Identities{ids: []age.Identity{key.id}, files: []string{key.file}}
	res, err := checkStored(context.Background(), Location{Target: DirTarget{Dir: dir}, Name: info.Name}, ids)
	if err != nil || len(res.Problems) == 0 || !strings.Contains(joinProblems(res.Problems), "stored sha256") {
		t.Errorf("damaged: %v %v", err, res)
	}
}

// peekExec plays pg_dump and, while the dump streams, records every file in
// the target directory: no plaintext may reach the disk, not even in the
// temporary file.
type peekExec struct {
	dir   string
	files map[string][]byte
}

func (p *peekExec) Exec(ctx context.Context, pod *corev1.Pod, c string, cmd []string, in io.Reader, stdout, stderr io.Writer) error {
	// more than one age chunk (64 KiB) of filler before the trailer
	big := strings.Replace(sampleDump, "--\n-- PostgreSQL database dump complete", strings.Repeat("-- filler line of the dump to pass the age chunk size\n", 4000)+"--\n-- PostgreSQL database dump complete", 1)
	half := len(big) / 2
	io.WriteString(stdout, big[:half])
	p.files = map[string][]byte{}
	ents, _ := os.ReadDir(p.dir)
	for _, e := range ents {
		p.files[e.Name()], _ = os.ReadFile(filepath.Join(p.dir, e.Name()))
	}
	return (&fakeExec{stdout: big}).finish(stdout, stderr, big, half)
}

// finish writes the rest of the dump from off and the status line of all of it.
func (f *fakeExec) finish(stdout, stderr io.Writer, all string, off int) error {
	io.WriteString(stdout, all[off:])
	io.WriteString(stderr, StatusMarker+" rc=0 tee=0 bytes="+strconv.Itoa(len(all))+" sha256="+sha([]byte(all))+"\n")
	return nil
}

func TestEncryptedCreateWritesNoPlaintext(t *testing.T) {
	key := newTestKey(t)
	dir := t.TempDir()
	ex := &peekExec{dir: dir}
	o, _ := newCreate(t, ex, "--dir", dir, "--compress", "none")
	o.Encrypt.To = []string{key.recipient}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	info, err := o.take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.files) != 1 {
		t.Fatalf("files during the dump: %v", ex.files)
	}
	for name, data := range ex.files {
		if !strings.HasPrefix(name, "."+info.Name+".partial-") || len(data) == 0 || bytes.Contains(data, []byte("COPY public")) ||
			bytes.Contains(data, []byte("filler line")) {
			t.Errorf("temporary file %s (%d bytes) holds plaintext or is not the partial one", name, len(data))
		}
	}
}

func TestRecipientsAndIdentityFiles(t *testing.T) {
	key := newTestKey(t)
	secret := key.id.String()
	for name, c := range map[string]struct {
		recipients, identity string
		want                 string
	}{
		"good":                   {recipients: "# ops\n\n" + key.recipient + "\n", identity: "# k\n" + secret + "\n"},
		"garbage line 3":         {recipients: "# ops\n" + key.recipient + "\nnot-a-key\n", want: "r.txt line 3: not an age X25519 public key"},
		"secret as recipient":    {recipients: secret + "\n", want: "r.txt line 1: a secret key (AGE-SECRET-KEY-...) where a public key"},
		"ssh key":                {recipients: "ssh-ed25519 AAAAC3Nza x@y\n", want: "r.txt line 1: SSH keys are not accepted"},
		"post-quantum":           {recipients: "age1pq1" + strings.Repeat("q", 100) + "\n", want: "r.txt line 1: not an age X25519 public key: post-quantum"},
		"empty recipients":       {recipients: "# nobody\n", want: "r.txt holds no recipient"},
		"public key as identity": {identity: "\n" + key.recipient + "\n", want: "i.txt line 2: a public key (age1...) where an identity belongs"},
		"garbage identity":       {identity: "AGE-SECRET-KEY-1NOTREALLY\n", want: "i.txt line 1: not an age X25519 identity"},
		"empty identity":         {identity: "# none\n", want: "i.txt holds no identity"},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			if c.recipients != "" {
				_, err = ParseRecipientsFile("r.txt", []byte(c.recipients))
			} else {
				_, err = ParseIdentityFile("i.txt", []byte(c.identity))
			}
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "NOTREALLY")) {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

func TestCreateEncryptValidation(t *testing.T) {
	key := newTestKey(t)
	dir := t.TempDir()
	for name, c := range map[string]struct {
		args []string
		to   []string
		want string
	}{
		"-f without .age":  {args: []string{"-f", filepath.Join(dir, "b.sql.zst")}, to: []string{key.recipient}, want: "does not end in .age"},
		".age without key": {args: []string{"-f", filepath.Join(dir, "b.sql.zst.age")}, want: "no recipient is given"},
		"secret key":       {args: []string{"--dir", dir}, to: []string{key.id.String()}, want: "--encrypt-to: recipient 1: a secret key"},
		"bad second key":   {args: []string{"--dir", dir}, to: []string{key.recipient, "age1nope"}, want: "--encrypt-to: recipient 2: not an age X25519"},
	} {
		t.Run(name, func(t *testing.T) {
			o, _ := newCreate(t, &fakeExec{stdout: sampleDump}, c.args...)
			o.Encrypt.To = c.to
			err := o.Validate()
			if exitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), key.id.String()) {
				t.Fatalf("err %v, want exit 2 with %q", err, c.want)
			}
		})
	}
	o, _ := newCreate(t, &fakeExec{stdout: sampleDump}, "-f", filepath.Join(dir, "b.sql.gz.age"))
	o.Encrypt.Files = []string{filepath.Join(dir, "missing.txt")}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.take(context.Background()); exitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "missing.txt: no such file") {
		t.Errorf("missing recipients file: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("written: %v", ents)
	}
}

// writeEncryptedBackup is writeBackup's backup encrypted to key.
func writeEncryptedBackup(t *testing.T, dir string, key testKey) string {
	t.Helper()
	plain := writeBackup(t, dir, nil)
	name := filepath.Base(plain) + EncryptedSuffix
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, key.id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, restoreDump)
	w.Close()
	raw, _ := os.ReadFile(plain + MetadataSuffix)
	info, _ := ParseInfo(raw)
	info.Name, info.StoredBytes, info.StoredSHA256 = name, int64(buf.Len()), sha(buf.Bytes())
	info.Encryption = &Encryption{Method: AgeMethod, Recipients: []string{key.recipient}}
	data, _ := info.Marshal()
	for _, f := range []string{plain, plain + MetadataSuffix} {
		os.Remove(f)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+MetadataSuffix), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// TestRestoreEncrypted: the plaintext streams into psql, the safety backup
// is encrypted to the backup's recipients; without --identity, or with one
// that does not fit, nothing happens (exit 2) and the message names the
// recipients, never a key.
func TestRestoreEncrypted(t *testing.T) {
	key, other := newTestKey(t), newTestKey(t)
	for name, c := range map[string]struct {
		identity []string
		want     string
	}{
		"right identity": {identity: []string{other.file, key.file}},
		"no identity":    {want: "is encrypted (age, to " + key.recipient + "): give --identity FILE"},
		"wrong identity": {identity: []string{other.file}, want: "no identity in " + other.file + " is one of its recipients; nothing was changed"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newRestoreWorld(t, appObjects(1, 2, nil), nil, nil)
			w.o.Ref = writeEncryptedBackup(t, w.dir, key)
			w.o.Identity.Files = c.identity
			if err := w.o.Validate(); err != nil {
				t.Fatal(err)
			}
			e := w.run(t, context.Background())
			if c.want != "" {
				if e == nil || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, c.want) || strings.Contains(e.Msg+e.Hint, key.id.String()) ||
					strings.Contains(e.Msg+e.Hint, other.id.String()) ||
					len(w.db.events) != 0 || w.db.appState() != "api=1/1 worker=2/2" {
					t.Fatalf("err %v, events %v, app %s", e, w.db.events, w.db.appState())
				}
				return
			}
			if e != nil {
				t.Fatalf("restore: %v (%s)", e, e.Hint)
			}
			if !strings.Contains(w.db.loadInput, "COPY public.alembic_version (version_num) FROM stdin;\nabc123\n") {
				t.Errorf("load input is not the plain dump: %.200q", w.db.loadInput)
			}
			safety := filepath.Join(w.dir, strings.TrimSuffix(DefaultName(devNS, clitest.Fixed, DefaultCompression), DefaultCompression.Ext())+
				"-pre-restore"+DefaultCompression.Ext()+EncryptedSuffix)
			raw, err := os.ReadFile(safety + MetadataSuffix)
			if err != nil {
				t.Fatal(err)
			}
			si, err := ParseInfo(raw)
			if err != nil || si.Encryption == nil || strings.Join(si.Encryption.Recipients, ",") != key.recipient {
				t.Errorf("safety backup not encrypted to the backup's recipients: %+v %v", si, err)
			}
		})
	}
}

// TestVerifyEncryptedExitCodes: verify exits 2 without --identity, 1 with
// one that does not fit, 0 with the right one.
func TestVerifyEncryptedExitCodes(t *testing.T) {
	key, other := newTestKey(t), newTestKey(t)
	file := writeEncryptedBackup(t, t.TempDir(), key)
	for _, c := range []struct {
		identity []string
		code     int
	}{{nil, cli.ExitUsage}, {[]string{other.file}, cli.ExitFailed}, {[]string{key.file}, 0}} {
		tg := clitest.New(devNS)
		_ = tg.Global.Complete()
		v := NewVerifyOptions(tg.Global)
		v.Ref, v.Identity.Files = file, c.identity
		if err := v.Validate(); err != nil {
			t.Fatal(err)
		}
		err := v.Run(context.Background())
		if code := exitCode(err); err == nil && c.code != 0 || err != nil && code != c.code {
			t.Errorf("identity %v: %v, want exit %d", c.identity, err, c.code)
		}
		if out, errOut := tg.Output(); strings.Contains(out+errOut+errString(err), key.id.String()) || strings.Contains(out+errOut+errString(err), other.id.String()) {
			t.Error("a key was printed")
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestPullEncrypted: pull copies an encrypted backup as it is stored (still
// ciphertext); with --identity it also checks the plain dump in memory, and
// an identity that does not fit writes nothing (exit 1).
func TestPullEncrypted(t *testing.T) {
	key, other := newTestKey(t), newTestKey(t)
	src := t.TempDir()
	file := writeEncryptedBackup(t, src, key)
	stored, _ := os.ReadFile(file)
	meta, _ := os.ReadFile(file + MetadataSuffix)
	name := "daily/" + filepath.Base(file)
	for _, c := range []struct {
		identity []string
		want     string // "" = pulled
	}{{nil, ""}, {[]string{key.file}, ""}, {[]string{other.file}, "no identity in " + other.file + " is one of its recipients; nothing was written"}} {
		dir := t.TempDir()
		tt := clitest.New("piyasa-chatbot-dev")
		runningPods(tt)
		o := &PullOptions{base: newBase(tt.Global), Dir: dir}
		o.Executor = &pvcExec{files: map[string]string{name: string(stored)}, meta: map[string]string{name: string(meta)}}
		o.Identity.Files = c.identity
		if err := o.Complete(nil, []string{name}); err != nil {
			t.Fatal(err)
		}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		err := o.Run(context.Background())
		if c.want != "" {
			if exitCode(err) != cli.ExitFailed || !strings.Contains(err.Error(), c.want) || len(dirNames(t, dir)) != 0 {
				t.Errorf("identity %v: %v, files %v", c.identity, err, dirNames(t, dir))
			}
			continue
		}
		if err != nil {
			t.Fatalf("identity %v: %v", c.identity, err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, filepath.Base(file)))
		if !bytes.Equal(got, stored) {
			t.Errorf("identity %v: the pulled file is not the stored ciphertext", c.identity)
		}
	}
}
