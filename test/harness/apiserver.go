package harness

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The fault tests stop and restart the kube-apiserver of the package's
// cluster (StopAPIServer, StartAPIServer) or of one of its clusters
// (Cluster.StopAPIServer, Cluster.StartAPIServer), each on its own.
// kwokctl (runtime: binary) starts each component as a detached process,
// records its PID in <cluster dir>/pids/<component>.pid and its output in
// logs/<component>.log; StopAPIServer kills that process with
// SIGKILL (a crash: no graceful shutdown, every connection cut), and
// StartAPIServer starts the same command line again, in the same directory
// with the same environment (same port, certificates and etcd), and records
// the new PID so that kwokctl still finds and deletes it. Only the API server
// goes away: etcd, the controller manager, the scheduler and kwok keep
// running and reconnect, as they would on a real control plane. The
// controller manager and the scheduler hold leader leases and exit when they
// cannot renew them for 10 s (kwokctl starts them with leader election); a
// real control plane's kubelet or systemd starts them again, and so does the
// harness while a fault test runs (superviseComponents). kwok is started
// afresh when a fault test ends (restartKwok).

// process is a control plane process as started, to start it again.
type process struct {
	name string // kwokctl's component name (pids/<name>.pid)
	pid  int
	argv []string
	dir  string
	env  []string
}

// apiServerState is a cluster's stopped API server: its command, kept to start it again.
type apiServerState struct {
	mu      sync.Mutex
	stopped bool
	argv    []string
	dir     string
	env     []string
	stopAt  time.Time
}

// apiServer holds each cluster's API server state (by kwokctl's name) and
// counts the kills (injected) and the restarts that became ready again
// (recovered) over all the package's clusters.
var apiServer struct {
	mu                  sync.Mutex
	clusters            map[string]*apiServerState
	injected, recovered int
}

// apiServerOf returns the state of cluster name's API server.
func apiServerOf(name string) *apiServerState {
	apiServer.mu.Lock()
	defer apiServer.mu.Unlock()
	if apiServer.clusters == nil {
		apiServer.clusters = map[string]*apiServerState{}
	}
	st := apiServer.clusters[name]
	if st == nil {
		st = &apiServerState{}
		apiServer.clusters[name] = st
	}
	return st
}

// countFault adds one to injected (kill) or recovered (restart ready) and returns the new count.
func countFault(kill bool) int {
	apiServer.mu.Lock()
	defer apiServer.mu.Unlock()
	if kill {
		apiServer.injected++
		return apiServer.injected
	}
	apiServer.recovered++
	return apiServer.recovered
}

// creationLock is scripts/cluster.sh's creation lock, held while any of the
// package's API servers is down: kwokctl gives a new cluster the highest
// free port, which would be ours. holders counts the stopped API servers
// (flock is per open file: a second open in this process would wait forever).
var creationLock struct {
	mu      sync.Mutex
	file    *os.File
	holders int
}

// FaultsMain is Main for the fault tests: after the tests it prints how many
// faults (kills of the API server) were injected and after how many the API
// server was ready again.
func FaultsMain(m *testing.M, opts ...Option) {
	code := run(m, opts...)
	apiServer.mu.Lock()
	fmt.Fprintf(os.Stderr, "harness: %d faults injected (API server killed), %d recovered (ready again)\n", apiServer.injected, apiServer.recovered)
	apiServer.mu.Unlock()
	os.Exit(code)
}

// Faults returns how many faults were injected and how many recovered so far.
func Faults() (injected, recovered int) {
	apiServer.mu.Lock()
	defer apiServer.mu.Unlock()
	return apiServer.injected, apiServer.recovered
}

// dir is kwokctl's directory of the cluster.
func (c *Cluster) dir(t testing.TB) string {
	t.Helper()
	if c.Name == "" || Env.ClusterBin == "" {
		t.Skip("the API server of a cluster the harness did not start (PIYASA_E2E_KUBECONFIG) is not stopped")
	}
	// scripts/cluster.sh: KWOK_WORKDIR=$CP_CACHE/clusters, and CP_BIN=$CP_CACHE/bin.
	return filepath.Join(filepath.Dir(Env.ClusterBin), "clusters", "clusters", c.Name)
}

// StopAPIServer kills the package's cluster's kube-apiserver (Primary) with
// SIGKILL; see (*Cluster).StopAPIServer.
func StopAPIServer(t testing.TB) {
	t.Helper()
	Primary().StopAPIServer(t)
}

// StartAPIServer starts the package's cluster's kube-apiserver again; see
// (*Cluster).StartAPIServer.
func StartAPIServer(t testing.TB) {
	t.Helper()
	Primary().StartAPIServer(t)
}

// StopAPIServer kills the cluster's kube-apiserver with SIGKILL and returns
// once its port refuses connections. If the test ends with it still
// stopped, it is started again (the package's other tests need it).
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	dir := c.dir(t)
	pidFile := filepath.Join(dir, "pids", "kube-apiserver.pid")
	st := apiServerOf(c.Name)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopped {
		t.Fatalf("harness: the API server of cluster %s is already stopped", c.Name)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("harness: API server PID: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("harness: API server PID file %s: %v", pidFile, err)
	}
	argv, err := procStrings(pid, "cmdline")
	if err != nil || len(argv) == 0 || filepath.Base(argv[0]) != "kube-apiserver" {
		t.Fatalf("harness: process %d is not the API server (%v): %v", pid, argv, err)
	}
	env, err := procStrings(pid, "environ")
	if err != nil {
		t.Fatalf("harness: API server environment: %v", err)
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		t.Fatalf("harness: API server directory: %v", err)
	}
	others := componentProcesses(t, dir)
	if err := holdCreationLock(dir); err != nil {
		t.Fatalf("harness: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		releaseCreationLock()
		t.Fatalf("harness: kill -9 %d: %v", pid, err)
	}
	st.stopped, st.argv, st.dir, st.env = true, argv, cwd, env
	st.stopAt = time.Now()
	n := countFault(true)
	deadline := time.Now().Add(30 * time.Second)
	for !processGone(pid) || c.portOpen(t) {
		if time.Now().After(deadline) {
			t.Fatalf("harness: the API server (pid %d) still runs 30 s after SIGKILL", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("harness: fault %d: kube-apiserver of %s (pid %d) killed with SIGKILL", n, c.Name, pid)
	stopSupervising := c.superviseComponents(t, st, others)
	t.Cleanup(func() {
		st.mu.Lock()
		stopped := st.stopped
		st.mu.Unlock()
		if stopped {
			c.StartAPIServer(t)
		}
		stopSupervising()
	})
}

// componentProcesses reads the command lines of the cluster's other
// running components (etcd, the controller manager, the scheduler, kwok ...).
func componentProcesses(t testing.TB, dir string) []*process {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "pids", "*.pid"))
	var out []*process
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		if name == "kube-apiserver" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil || processGone(pid) {
			continue
		}
		argv, err1 := procStrings(pid, "cmdline")
		env, err2 := procStrings(pid, "environ")
		dir, err3 := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err1 != nil || err2 != nil || err3 != nil || len(argv) == 0 {
			t.Fatalf("harness: cannot read process %d (%s): %v %v %v", pid, name, err1, err2, err3)
		}
		out = append(out, &process{name: name, pid: pid, argv: argv, dir: dir, env: env})
	}
	return out
}

// superviseComponents starts again, while the cluster's API server (st) runs, any of procs
// that has exited (the controller manager and the scheduler do when their
// leader lease could not be renewed during the outage), until the returned
// function is called; that makes a last pass and waits for the restarts.
func (c *Cluster) superviseComponents(t testing.TB, st *apiServerState, procs []*process) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	finished := make(chan struct{})
	dir := c.dir(t)
	check := func() {
		st.mu.Lock()
		down := st.stopped
		st.mu.Unlock()
		if down {
			return
		}
		for _, p := range procs {
			if !processGone(p.pid) {
				continue
			}
			pid, err := startProcess(dir, p)
			if err != nil {
				t.Logf("harness: restart %s: %v", p.name, err)
				continue
			}
			t.Logf("harness: %s (pid %d) had exited during the outage; started again (pid %d), as a control plane's supervisor does", p.name, p.pid, pid)
			p.pid = pid
		}
	}
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-time.After(500 * time.Millisecond):
				check()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		// A component whose lease ran out just as the API server came back exits within seconds.
		time.Sleep(2 * time.Second)
		check()
		for _, p := range procs {
			if p.name == "kwok-controller" {
				c.restartKwok(t, p)
			}
		}
	}
}

// restartKwok starts the kwok controller afresh once a fault test is done.
// kwok plays the kubelets and reconnects by itself, but the watches of its
// own objects (Stages, ClusterExec, Logs) come back only after client-go's
// backoff, up to a minute after an outage: the next test would find exec
// unmapped or a Stage change unseen. A fresh kwok lists them at once. Each
// kwok takes the nodes' Leases (kube-node-lease) under a new identity, and
// would wait for the old ones to expire (--node-lease-duration-seconds,
// 200 s) before playing those nodes: the old kwok's Leases are deleted.
func (c *Cluster) restartKwok(t testing.TB, p *process) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	for deadline := time.Now().Add(30 * time.Second); !processGone(p.pid); {
		if time.Now().After(deadline) {
			t.Fatalf("harness: kwok-controller (pid %d) still runs 30 s after SIGKILL", p.pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cs.CoordinationV1().Leases("kube-node-lease").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatalf("harness: delete the node Leases of the old kwok: %v", err)
	}
	pid, err := startProcess(c.dir(t), p)
	if err != nil {
		t.Fatalf("harness: restart kwok-controller: %v", err)
	}
	p.pid = pid
	addr := ""
	for _, a := range p.argv {
		if v, ok := strings.CutPrefix(a, "--server-address="); ok {
			addr = v
		}
	}
	for deadline := time.Now().Add(time.Minute); addr != ""; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if processGone(pid) || time.Now().After(deadline) {
			t.Fatalf("harness: the restarted kwok-controller (pid %d) does not serve %s", pid, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// It plays the nodes once it holds their Leases.
	for deadline := time.Now().Add(time.Minute); ; {
		nodes, err1 := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		leases, err2 := cs.CoordinationV1().Leases("kube-node-lease").List(ctx, metav1.ListOptions{})
		if err1 == nil && err2 == nil && len(nodes.Items) > 0 && len(leases.Items) >= len(nodes.Items) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("harness: the restarted kwok-controller (pid %d) took no node Lease in a minute", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("harness: kwok-controller started afresh (pid %d) for the next test", pid)
}

// startProcess starts p again detached (as kwokctl starts it), its output
// appended to logs/<name>.log, and records its PID in pids/<name>.pid.
func startProcess(dir string, p *process) (int, error) {
	logFile, err := os.OpenFile(filepath.Join(dir, "logs", p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Dir, cmd.Env = p.dir, p.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go func() { _ = cmd.Wait() }() // reaped when it exits or is killed
	return cmd.Process.Pid, os.WriteFile(filepath.Join(dir, "pids", p.name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
}

// StartAPIServer starts the cluster's API server that StopAPIServer killed,
// with the same command line, directory and environment, and returns once
// /readyz says ok.
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	dir := c.dir(t)
	st := apiServerOf(c.Name)
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.stopped {
		t.Fatalf("harness: the API server of cluster %s is not stopped", c.Name)
	}
	logPath := filepath.Join(dir, "logs", "kube-apiserver.log")
	down := time.Since(st.stopAt)
	st.stopped = false
	start := time.Now()
	// An API server that exits while starting is started again, as its
	// supervisor (systemd, the kubelet) would, three times at most.
	for attempt := 1; ; attempt++ {
		pid, err := startProcess(dir, &process{name: "kube-apiserver", argv: st.argv, dir: st.dir, env: st.env})
		if err != nil {
			t.Fatalf("harness: start the API server: %v", err)
		}
		err = waitReady(c.RESTConfig(t), 3*time.Minute, func() bool { return processGone(pid) })
		if err == nil {
			releaseCreationLock()
			countFault(false)
			t.Logf("harness: kube-apiserver of %s restarted (pid %d) after %.1fs down, ready in %.1fs", c.Name, pid, down.Seconds(), time.Since(start).Seconds())
			return
		}
		if !processGone(pid) || attempt == 3 {
			t.Fatalf("harness: the restarted API server (pid %d) is not ready: %v\nlast lines of %s:\n%s", pid, err, logPath, logTail(logPath, 30))
		}
		t.Logf("harness: the restarted API server (pid %d) exited while starting (attempt %d); last lines of its log:\n%s", pid, attempt, logTail(logPath, 15))
		time.Sleep(time.Second)
	}
}

// holdCreationLock takes scripts/cluster.sh's lock of cluster creation
// ($KWOK_WORKDIR/.up.lock, above the cluster directory dir), so that no
// other package's cluster is created while an API server's port is free;
// this process takes it once however many of its API servers are down.
func holdCreationLock(dir string) error {
	creationLock.mu.Lock()
	defer creationLock.mu.Unlock()
	if creationLock.holders > 0 {
		creationLock.holders++
		return nil
	}
	path := filepath.Join(filepath.Dir(filepath.Dir(dir)), ".up.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("cluster creation lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return fmt.Errorf("cluster creation lock %s: %v", path, err)
	}
	creationLock.file, creationLock.holders = f, 1
	return nil
}

// releaseCreationLock releases a hold of holdCreationLock; the last one closes the lock.
func releaseCreationLock() {
	creationLock.mu.Lock()
	defer creationLock.mu.Unlock()
	if creationLock.holders == 0 {
		return
	}
	creationLock.holders--
	if creationLock.holders == 0 {
		creationLock.file.Close()
		creationLock.file = nil
	}
}

// logTail returns the last n lines of a log file.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// APIServerOutage stops the package's cluster's API server, waits d and starts it again.
func APIServerOutage(t testing.TB, d time.Duration) {
	t.Helper()
	StopAPIServer(t)
	time.Sleep(d)
	StartAPIServer(t)
}

// waitReady polls /readyz until it answers ok, or exited says the process is gone.
func waitReady(cfg *rest.Config, limit time.Duration, exited func() bool) error {
	cfg.QPS, cfg.Burst = 50, 100 // polled: client-go's default limiter would throttle the polls
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "true").DoRaw(rctx)
		rcancel()
		if err == nil {
			return nil // 200: every check passed
		}
		last := err.Error()
		if len(body) > 0 {
			last = failedChecks(string(body))
		}
		if exited() {
			return fmt.Errorf("the process exited (last: %s)", last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no ok from /readyz in %s (last: %s)", limit, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// failedChecks returns the failed lines of a verbose /readyz answer.
func failedChecks(body string) string {
	var failed []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "[-]") {
			failed = append(failed, l)
		}
	}
	if len(failed) == 0 {
		return strings.TrimSpace(body)
	}
	return strings.Join(failed, "; ")
}

// procStrings reads a NUL-separated /proc/PID file (cmdline, environ).
func procStrings(pid int, name string) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), nil
}

// processGone reports a process that has exited (gone, or a zombie).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) STATE ...: comm may hold spaces, the state follows the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

// portOpen reports whether the cluster's API server port accepts connections.
func (c *Cluster) portOpen(t testing.TB) bool {
	u, err := url.Parse(c.Server)
	if err != nil {
		t.Fatalf("harness: server URL %q: %v", c.Server, err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
