package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// Postgres is a real PostgreSQL server (Debian's package) started on
// loopback in a temporary directory for one test, stopped when the test ends
// (and by a watchdog when the test process dies).
type Postgres struct {
	// BinDir holds initdb, pg_ctl, pg_dump, psql ... of the server's version.
	BinDir string
	// Dir is the data directory's parent.
	Dir      string
	Host     string
	Port     int
	User     string
	Password string
	// Data is the data directory (PGDATA).
	Data string
	// WALArchive is the archive directory when WithWALArchive was given ("" otherwise).
	WALArchive string
	// ReplicationPassword is ReplicationUser's password on a primary started
	// WithReplication and on its standbys ("" otherwise).
	ReplicationPassword string
	// Name is a standby's application_name (StartStandby, Follow).
	Name string
	// DB is the database StartPostgres created (a standby's primary's; "" for none).
	DB string

	serverOpts string
}

// PostgresBinDir returns the bin directory of the newest PostgreSQL server
// installed (/usr/lib/postgresql/<major>/bin holding initdb, majors compared
// as numbers: 15 before 9 is wrong, 9 before 15 right), or "" when none is.
// It is the one place the fixtures find the server binaries.
func PostgresBinDir() string {
	return newestPostgresBinDir(postgresRoot)
}

// postgresRoot is where Debian's postgresql packages install their servers.
const postgresRoot = "/usr/lib/postgresql"

func newestPostgresBinDir(root string) string {
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "bin"))
	best, bestMajor := "", -1
	for _, d := range dirs {
		major, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil || major <= bestMajor {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			best, bestMajor = d, major
		}
	}
	return best
}

// errNoPostgres is the message of a test that needs PostgreSQL on a machine without it.
const errNoPostgres = "PostgreSQL is not installed: no " + postgresRoot + "/<version>/bin/initdb (apt-get install postgresql; .ci/run does it)"

// FreePort returns a TCP port of 127.0.0.1 free right now, for a server a
// test starts (PostgreSQL, S3, Redis).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartPostgres initialises and starts a server whose superuser is user with
// password password (scram-sha-256 on 127.0.0.1 only), and creates database
// db. The test fails when PostgreSQL is not installed (.ci/run installs it).
func StartPostgres(t testing.TB, user, password, db string, opts ...PostgresOption) *Postgres {
	t.Helper()
	var o postgresOptions
	for _, opt := range opts {
		opt(&o)
	}
	p := newPostgres(t, user, password)
	p.DB = db
	pw := filepath.Join(p.Dir, "pwfile")
	if err := p.writeFile(pw, password+"\n"); err != nil {
		t.Fatal(err)
	}
	if err := p.run(nil, "initdb", "-D", p.Data, "-U", user, "--pwfile", pw, "-A", "scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
		t.Fatal(err)
	}
	if o.walArchive {
		p.WALArchive = filepath.Join(p.Dir, "wal-archive")
		if err := p.mkdir(p.WALArchive); err != nil {
			t.Fatal(err)
		}
	}
	if o.replication {
		if err := p.replicationHBA(); err != nil {
			t.Fatal(err)
		}
	}
	p.serverOpts = p.options(o)
	if o.replication {
		if err := p.withTLS(); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	p.watchdog()
	if o.replication {
		p.createReplicationRole(t)
	}
	if db != "" {
		p.MustPsql(t, "postgres", "CREATE DATABASE "+db)
	}
	return p
}

// newPostgres prepares a server of the newest PostgreSQL installed in a new
// temporary directory on a free port (not initialised, not started) and
// stops it and removes the directory when the test ends.
func newPostgres(t testing.TB, user, password string) *Postgres {
	t.Helper()
	bin := PostgresBinDir()
	if bin == "" {
		t.Fatal(errNoPostgres)
	}
	dir, err := os.MkdirTemp("", "piyasa-pg-")
	if err != nil {
		t.Fatal(err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serverCredential(dir); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	p := &Postgres{BinDir: bin, Dir: dir, Host: "127.0.0.1", Port: port, User: user, Password: password, Data: filepath.Join(dir, "data")}
	t.Cleanup(p.stop)
	return p
}

// run runs a program of the server's bin directory as the server's user in
// its directory, with env added to the test process's environment.
func (p *Postgres) run(env []string, name string, args ...string) error {
	cred, err := serverCredential(p.Dir)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(p.BinDir, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	cmd.Dir = p.Dir
	cmd.Env = append(append(os.Environ(), serverHome(p.Dir, cred)...), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", name, err, out)
	}
	return nil
}

// writeFile writes a file (mode 0600) owned by the server's user.
func (p *Postgres) writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	return p.own(path)
}

// mkdir makes a directory (mode 0700) owned by the server's user.
func (p *Postgres) mkdir(path string) error {
	if err := os.Mkdir(path, 0o700); err != nil {
		return err
	}
	return p.own(path)
}

// own gives path to the server's user (when the tests run as root).
func (p *Postgres) own(path string) error {
	cred, err := serverCredential(p.Dir)
	if err != nil || cred == nil {
		return err
	}
	return os.Chown(path, int(cred.Uid), int(cred.Gid))
}

// watchdog stops the server when the test process is gone, even killed.
func (p *Postgres) watchdog() {
	wd := exec.Command("sh", "-c", fmt.Sprintf(`while kill -0 %d 2>/dev/null; do sleep 1; done; kill -QUIT "$(head -1 %s/postmaster.pid)" 2>/dev/null; sleep 1; rm -rf %s`,
		os.Getpid(), p.Data, p.Dir))
	// It runs as the test's user, which may signal the test process.
	wd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := wd.Start(); err == nil {
		go wd.Wait() //nolint:errcheck
	}
}

// serverCredential returns the user to run the server as: root may not, so
// the postgres account owns dir then. nil means the current user.
func serverCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres account to run PostgreSQL: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// serverHome is HOME=dir for programs run as the postgres account (cred not
// nil): libpq (pg_basebackup, pg_rewind, a standby's WAL receiver) looks for
// a client certificate in $HOME/.postgresql, and fails on root's HOME, which
// it may not read.
func serverHome(dir string, cred *syscall.Credential) []string {
	if cred == nil {
		return nil
	}
	return []string{"HOME=" + dir}
}

// PostgresOption changes how StartPostgres sets up the server.
type PostgresOption func(*postgresOptions)

type postgresOptions struct {
	walArchive     bool
	archiveTimeout int
	replication    bool
}

// WithWALArchive turns continuous archiving on as the manifests do
// (wal_level replica, archive_mode on, app.ArchiveCommand) into the directory
// Postgres.WALArchive, with archive_timeout seconds (0: the manifests' default).
// ClusterExec then gives the pods WAL_ARCHIVE_DIR and PGDATA pointing at the
// server's archive and data directories, as the postgres pod has them.
func WithWALArchive(archiveTimeout int) PostgresOption {
	return func(o *postgresOptions) { o.walArchive, o.archiveTimeout = true, archiveTimeout }
}

// options returns the server's command-line settings.
func (p *Postgres) options(o postgresOptions) string {
	s := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c synchronous_commit=off", p.Port, p.Dir)
	if o.replication {
		// pg_rewind (Follow) needs full page writes and hint bits in the WAL.
		s += " -c wal_level=replica -c max_wal_senders=10 -c wal_keep_size=256MB -c wal_log_hints=on -c hot_standby=on"
	}
	if !o.walArchive && !o.replication {
		return s + " -c full_page_writes=off"
	}
	if !o.walArchive {
		return s
	}
	timeout := o.archiveTimeout
	if timeout == 0 {
		timeout = int(app.DefaultArchiveTimeout.Seconds())
	}
	return s + fmt.Sprintf(" -c wal_level=replica -c archive_mode=on -c archive_timeout=%d -c archive_command='%s'",
		timeout, strings.ReplaceAll(app.ArchiveCommand, "'", "''"))
}

// Start starts the server (again) on its data directory, as the kubelet
// starts the postgres container; it waits until the server accepts connections.
func (p *Postgres) Start() error {
	cred, err := serverCredential(p.Dir)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(p.BinDir, "pg_ctl"), "-D", p.Data, "-o", p.serverOpts, "-l", filepath.Join(p.Dir, "log"), "-w", "-t", "60", "start")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	cmd.Dir = p.Dir
	cmd.Env = append(append(os.Environ(), serverHome(p.Dir, cred)...), app.EnvWALArchiveDir+"="+p.WALArchive)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

// Stop stops the server (fast shutdown), as the kubelet stops the postgres container.
func (p *Postgres) Stop() error {
	cred, err := serverCredential(p.Dir)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(p.BinDir, "pg_ctl"), "-D", p.Data, "-m", "fast", "-w", "stop")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

func (p *Postgres) stop() {
	cred, _ := serverCredential(p.Dir)
	cmd := exec.Command(filepath.Join(p.BinDir, "pg_ctl"), "-D", filepath.Join(p.Dir, "data"), "-m", "fast", "-w", "stop")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	_ = cmd.Run()
	_ = os.RemoveAll(p.Dir)
}

// Env returns the libpq variables that reach the server.
func (p *Postgres) Env() []string {
	return []string{"PGHOST=" + p.Host, "PGPORT=" + strconv.Itoa(p.Port), "PGUSER=" + p.User, "PGPASSWORD=" + p.Password}
}

// Psql runs SQL in db with psql (unaligned, tuples only, tab-separated) and
// returns its output and error.
func (p *Postgres) Psql(db, sql string) (string, error) {
	return p.psql(db, sql, "\t")
}

// psql runs SQL in db, unaligned with fields separated by sep.
func (p *Postgres) psql(db, sql, sep string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", sep, "-d", db, "-c", sql)
	// Only the server's address and credentials: nothing of the developer's shell (PG* variables).
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "LC_ALL=C.UTF-8"}, p.Env()...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		return string(out), fmt.Errorf("psql: %v: %s", err, strings.TrimSpace(msg))
	}
	return strings.TrimRight(string(out), "\n"), nil
}

// MustPsql is Psql that fails the test on an error.
func (p *Postgres) MustPsql(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := p.Psql(db, sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ClusterExec makes kwok run every exec into the pods of namespace ns as a
// local command with the server's address in PGHOST/PGPORT,
// POSTGRES_PASSWORD as the postgres image has it, and PATH starting with
// pathFirst (fake tools a test puts first), then the server's bin directory.
// It waits until an exec into pod works (pod "": it does not wait, for a
// namespace that a command will create) and deletes the object when the test ends.
func (p *Postgres) ClusterExec(t testing.TB, ns, pod string, pathFirst ...string) {
	t.Helper()
	p.ClusterExecEnv(t, ns, pod, nil, pathFirst...)
}

// ClusterExecEnv is ClusterExec with more environment variables (e.g. REDIS_PORT).
func (p *Postgres) ClusterExecEnv(t testing.TB, ns, pod string, extra map[string]string, pathFirst ...string) {
	t.Helper()
	p.ClusterExecIn(t, Primary(), ns, pod, extra, pathFirst...)
}

// ClusterExecIn is ClusterExecEnv in cluster c (one of WithClusters): the
// execs into the pods of ns in c reach this server.
func (p *Postgres) ClusterExecIn(t testing.TB, c *Cluster, ns, pod string, extra map[string]string, pathFirst ...string) {
	t.Helper()
	path := strings.Join(append(append([]string{}, pathFirst...), p.BinDir, "/usr/local/bin", "/usr/bin", "/bin"), ":")
	work, err := os.MkdirTemp("", "piyasa-exec-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	env := map[string]string{
		"PGHOST": p.Host, "PGPORT": strconv.Itoa(p.Port), "POSTGRES_PASSWORD": p.Password,
		"POSTGRES_USER": p.User, "PATH": path, "TMPDIR": work, "PGPASSWORD": "", "PGUSER": "",
	}
	if p.WALArchive != "" {
		env[app.EnvWALArchiveDir], env["PGDATA"] = p.WALArchive, p.Data
	}
	for k, v := range extra {
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kvs := make([]string, 0, len(keys))
	for _, k := range keys {
		kvs = append(kvs, k+"="+env[k])
	}
	c.ApplyClusterExec(t, "pg-"+ns, ns, work, kvs...)
	if pod == "" {
		return // the namespace's pods do not exist yet (a namespace a command creates)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := c.Kubectl(t, "exec", "-n", ns, pod, "--", "sh", "-c", "echo ok").WithTimeout(20 * time.Second).Run()
		if r.Code == 0 && strings.TrimSpace(r.Stdout) == "ok" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("exec into %s/%s never worked: %s", ns, pod, r.Stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
