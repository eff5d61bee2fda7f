package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// PostgresRoot is where Debian's postgresql packages install their servers
// (/usr/lib/postgresql/<major>/bin): verify --restore-test of a base backup
// starts the server of the backup's major from there.
var PostgresRoot = "/usr/lib/postgresql"

// serverMajor is the major version of a server_version ("16.4 (Debian ...)" is 16).
func serverMajor(version string) string {
	v, _, _ := strings.Cut(strings.TrimSpace(version), ".")
	v, _, _ = strings.Cut(v, " ")
	if _, err := strconv.Atoi(v); err != nil {
		return ""
	}
	return v
}

// localServer finds the bin directory of an installed PostgreSQL of the
// given major ("" when none is).
func localServer(major string) string {
	dir := filepath.Join(PostgresRoot, major, "bin")
	for _, f := range []string{"postgres", "pg_ctl", "psql"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return ""
		}
	}
	return dir
}

// baseRestoreTest extracts a base backup into a temporary directory, starts
// a local PostgreSQL of its major on it (crash recovery from backup_label
// with the WAL the tar holds, no archiving, reachable only on a socket in
// that directory), compares every table's row count and the Alembic
// revision with the metadata, stops it and removes the directory.
func (o *VerifyOptions) baseRestoreTest(ctx context.Context, loc Location, info *BackupInfo) ([]string, error) {
	major := serverMajor(info.ServerVersion)
	bin := localServer(major)
	if bin == "" {
		return nil, cli.Usagef("--restore-test of a base backup starts a local PostgreSQL %s and none is installed (%s/%s/bin); the checksums were not recorded as verified",
			orDash(major), PostgresRoot, orDash(major)).WithHint("install postgresql-%s, or run backup verify without --restore-test", orDash(major))
	}
	dir, err := os.MkdirTemp("", "piyasa-verify-")
	if err != nil {
		return nil, cli.Failedf("cannot create a scratch directory: %v", err)
	}
	defer os.RemoveAll(dir)
	o.Infof("restore test: extracting into %s and starting PostgreSQL %s on it\n", dir, major)
	srv := &localPG{bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	if err := srv.extract(ctx, loc, Compression(info.Compression)); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return []string{"restore test: " + err.Error()}, nil
	}
	if err := srv.start(ctx); err != nil {
		return []string{"restore test: " + err.Error()}, nil
	}
	defer srv.stop()
	return srv.compare(ctx, info)
}

// localPG is a PostgreSQL server started on an extracted base backup.
type localPG struct {
	bin, dir, data string
	cred           *syscall.Credential
}

// extract writes the tar's entries under data (regular files and
// directories only; no path may leave it), owned by the server's user.
func (s *localPG) extract(ctx context.Context, loc Location, c Compression) error {
	r, err := loc.Target.Open(ctx, loc.Name)
	if err != nil {
		return err
	}
	defer r.Close()
	dec, err := c.NewDecompressor(r)
	if err != nil {
		return err
	}
	defer dec.Close()
	if s.cred, err = serverUser(); err != nil {
		return err
	}
	if err := s.mkdir(s.data); err != nil {
		return err
	}
	tr := newTarReader(dec)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the tar: %v", err)
		}
		name := filepath.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("the tar names %q outside the data directory", h.Name)
		}
		if err := s.entry(filepath.Join(s.data, name), h, tr); err != nil {
			return err
		}
	}
}

func (s *localPG) entry(path string, h *tarEntry, r io.Reader) error {
	switch {
	case h.IsDir():
		return s.mkdir(path)
	case h.IsFile():
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return s.chown(path)
	}
	return fmt.Errorf("the tar holds %s of type %q: tablespaces and links are not supported by the restore test", h.Name, h.Type)
}

func (s *localPG) mkdir(path string) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return err
	}
	return s.chown(path)
}

func (s *localPG) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
}

// serverUser is who runs the server: the current user, or the postgres
// account when that is root (PostgreSQL refuses to run as root).
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL does not run as root and there is no postgres account to run it as: run verify --restore-test as another user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// localPort is the port in the socket's name (the socket is in dir, no TCP).
const localPort = "5432"

// start starts the server with the data directory's own settings but no
// archiving, no TCP and a trust pg_hba of its own (the backup's is left as it is).
func (s *localPG) start(ctx context.Context) error {
	hba := filepath.Join(s.dir, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte("local all all trust\n"), 0o600); err != nil {
		return err
	}
	if err := s.chown(hba); err != nil {
		return err
	}
	if err := s.chown(s.dir); err != nil {
		return err
	}
	opts := fmt.Sprintf("-p %s -k %s -c listen_addresses='' -c archive_mode=off -c hba_file=%s -c fsync=off", localPort, s.dir, hba)
	if out, err := s.run(ctx, "pg_ctl", "-D", s.data, "-o", opts, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "600", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("PostgreSQL did not start on the backup: %v %s", err, lastLine(string(log)+out))
	}
	return nil
}

// stop stops the server (fast shutdown).
func (s *localPG) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = s.run(ctx, "pg_ctl", "-D", s.data, "-m", "fast", "-w", "stop")
}

// psql runs sql in the restored piyasa_db.
func (s *localPG) psql(ctx context.Context, sql string) (string, error) {
	out, err := s.run(ctx, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-F", "\t", "-h", s.dir, "-p", localPort,
		"-U", app.DatabaseUser, "-d", app.DatabaseName, "-c", sql)
	if err != nil {
		return "", fmt.Errorf("psql: %v %s", err, lastLine(out))
	}
	return out, nil
}

// run runs one of the server's programs as the server's user.
func (s *localPG) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=" + s.bin + ":/usr/bin:/bin", "LC_ALL=C.UTF-8", "HOME=" + s.dir}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// compare counts the rows of the metadata's tables and reads the Alembic revision.
func (s *localPG) compare(ctx context.Context, info *BackupInfo) ([]string, error) {
	var q strings.Builder
	q.WriteString("SELECT '', (" + alembicSQL + ")::text")
	for _, t := range info.Tables {
		fmt.Fprintf(&q, " UNION ALL SELECT %s, count(*)::text FROM %s", quoteLiteral(t.Name), t.Name)
	}
	out, err := s.psql(ctx, q.String())
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return []string{"restore test: " + err.Error()}, nil
	}
	got := map[string]int64{}
	var problems []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		name, v, _ := strings.Cut(line, "\t")
		if name == "" {
			if v != info.AlembicRevision {
				problems = append(problems, fmt.Sprintf("the restored alembic_version holds %q, the metadata %q", v, info.AlembicRevision))
			}
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected psql output %q", line)
		}
		got[name] = n
	}
	return append(problems, compareRows(info.TableMap(), got, "the restored base backup")...), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
