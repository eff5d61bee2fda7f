package harness

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/rand"
)

// S3 is a real S3-compatible server (versitygw, Apache-2.0, built from the Go
// module proxy by .ci/run) serving the folders of a temporary directory as
// buckets on loopback, for one test.
type S3 struct {
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	// Root is the directory whose folders are the buckets.
	Root string
}

// VersitygwVersion is the version .ci/run installs.
const VersitygwVersion = "v1.8.0"

func versitygwPath() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		out, _ := exec.Command("go", "env", "GOPATH").Output()
		gopath = strings.TrimSpace(string(out))
	}
	p := filepath.Join(gopath, "bin", "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// StartS3 starts versitygw with the given buckets and stops it when the test ends.
func StartS3(t testing.TB, buckets ...string) *S3 {
	t.Helper()
	bin := versitygwPath()
	if bin == "" {
		t.Fatalf("versitygw is not installed (go install github.com/versity/versitygw/cmd/versitygw@%s; .ci/run does it)", VersitygwVersion)
	}
	root := t.TempDir()
	for _, b := range buckets {
		if err := os.Mkdir(filepath.Join(root, b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &S3{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Region: "us-east-1",
		AccessKey: "piyasa" + rand.String(8), SecretKey: CanaryValue("s3-secret"), Root: root}
	var log bytes.Buffer
	cmd := exec.Command(bin, "--port", fmt.Sprintf("127.0.0.1:%d", port), "posix", root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey, "VGW_REGION="+s.Region)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	// A watchdog stops the server when the test process is gone, even killed.
	wd := exec.Command("sh", "-c", fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; kill %d 2>/dev/null", os.Getpid(), cmd.Process.Pid))
	wd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := wd.Start(); err == nil {
		go wd.Wait() //nolint:errcheck
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-done:
			t.Fatalf("versitygw exited: %s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %d: %s", port, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Env returns the AWS variables that reach the server.
func (s *S3) Env() []string {
	return []string{"AWS_ENDPOINT_URL=" + s.Endpoint, "AWS_REGION=" + s.Region,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey}
}
