package backup_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// startRedis starts a local redis-server (Debian's) on a free loopback port.
func startRedis(t *testing.T) int {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		if out, err := exec.Command("redis-cli", "-p", strconv.Itoa(port), "PING").Output(); err == nil && strings.TrimSpace(string(out)) == "PONG" {
			return port
		}
		if i > 100 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRedisBackup: create --redis takes a BGSAVE and copies dump.rdb out, checked; verify accepts it.
func TestRedisBackup(t *testing.T) {
	port := startRedis(t)
	for i := 0; i < 200; i++ {
		if err := exec.Command("redis-cli", "-p", strconv.Itoa(port), "SET", fmt.Sprintf("key:%d", i), strings.Repeat("değer", i)).Run(); err != nil {
			t.Fatal(err)
		}
	}
	ns := harness.Namespace(t, "backup-redis")
	harness.ApplyYAML(t, ns, `apiVersion: apps/v1
kind: Deployment
metadata: {name: dev-redis}
spec:
  replicas: 1
  selector: {matchLabels: {app: redis}}
  template:
    metadata: {labels: {app: redis}}
    spec: {containers: [{name: redis, image: redis:7-alpine}]}
`)
	var pod string
	deadline := time.Now().Add(time.Minute)
	for pod == "" {
		pods, err := harness.Client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=redis"})
		if err == nil && len(pods.Items) == 1 && pods.Items[0].Status.Phase == "Running" {
			pod = pods.Items[0].Name
		} else if time.Now().After(deadline) {
			t.Fatal("redis pod not running")
		} else {
			time.Sleep(200 * time.Millisecond)
		}
	}
	pg := &harness.Postgres{BinDir: harness.PostgresBinDir(), Host: "127.0.0.1"}
	pg.ClusterExecEnv(t, ns, pod, map[string]string{"REDIS_PORT": strconv.Itoa(port)})
	dir := t.TempDir()
	r := harness.Piyasa(t, "backup", "create", "--redis", "--dir", dir, "--env", "dev", "-n", ns, "-o", "json").RunOK()
	info := e2ebackup.ParseInfo(t, r.Stdout)
	if info.Format != "redis-rdb" || info.Database != app.Redis || !strings.HasSuffix(info.Name, ".rdb.zst") || info.RawBytes < 1000 {
		t.Fatalf("BackupInfo %+v", info)
	}
	file := filepath.Join(dir, info.Name)
	harness.Piyasa(t, "backup", "verify", file).RunOK()
	// The copy equals what Redis saved.
	out, err := exec.Command("redis-cli", "-p", strconv.Itoa(port), "CONFIG", "GET", "dir").Output()
	if err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(filepath.Join(strings.Fields(string(out))[1], "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(saved)) != info.RawBytes {
		t.Errorf("dump.rdb has %d bytes, the backup %d", len(saved), info.RawBytes)
	}
	harness.Piyasa(t, "backup", "restore", file, "--yes", "--env", "dev", "-n", ns).ExpectCode(2)
	// No redis pod: exit 1, nothing written.
	other := harness.Namespace(t, "backup-noredis")
	harness.Piyasa(t, "backup", "create", "--redis", "--dir", dir, "--env", "dev", "-n", other).ExpectCode(1)
	if fs := e2ebackup.Files(t, dir); len(fs) != 2 {
		t.Errorf("dir holds %v", fs)
	}
}
