package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// sampleRDB is the start of a dump.rdb: the RDB signature and version.
const sampleRDB = "REDIS0011\xfa\tredis-ver\x057.2.4\xff\x00\x01\x02\x03\x04\x05\x06\x07"

// redisPod is a running redis pod with the component's labels; its redis
// container comes second (RedisPod picks it by name).
func redisPod(ns string, phase corev1.PodPhase) *corev1.Pod {
	c, _ := app.LookupComponent(app.Redis)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-redis-0", Namespace: ns, Labels: c.Labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "exporter"}, {Name: app.Redis}}},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

// runRedis runs `backup create --redis --dir DIR` with ex on objs.
func runRedis(t *testing.T, ex Executor, dir string, objs ...runtime.Object) (string, error) {
	t.Helper()
	tt := clitest.New("piyasa-chatbot-dev", objs...)
	o := NewCreateOptions(tt.Global)
	o.Executor, o.Dir, o.Redis = ex, dir, true
	if err := o.Complete(NewCmdCreate(tt.Global), nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(context.Background())
	out, _ := tt.Output()
	return out, err
}

// TestCreateRedis: create --redis copies dump.rdb out of the redis container
// under a redis-NS-TIME.rdb.zst name with a BackupInfo of format redis-rdb.
func TestCreateRedis(t *testing.T) {
	dir := t.TempDir()
	ex := &fakeExec{stdout: sampleRDB}
	if _, err := runRedis(t, ex, dir, redisPod("piyasa-chatbot-dev", corev1.PodRunning)); err != nil {
		t.Fatal(err)
	}
	if len(ex.cmd) != 3 || ex.cmd[2] != redisScript {
		t.Errorf("command %q", ex.cmd)
	}
	name := fmt.Sprintf("redis-piyasa-chatbot-dev-%s%s", clitest.Fixed.Format(NameStampLayout), Zstd.RDBExt())
	raw, err := os.ReadFile(filepath.Join(dir, name+MetadataSuffix))
	if err != nil {
		t.Fatalf("%v (dir: %v)", err, dirNames(t, dir))
	}
	info, err := ParseInfo(raw)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != FormatRedisRDB || info.Database != app.Redis || info.RawBytes != int64(len(sampleRDB)) ||
		info.Compression != string(Zstd) || info.BackupKind != KindManual || info.Namespace != "piyasa-chatbot-dev" {
		t.Errorf("info %+v", info)
	}
	stored, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Zstd.NewDecompressor(bytes.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if _, err := plain.ReadFrom(r); err != nil || plain.String() != sampleRDB {
		t.Errorf("stored data %q, %v", plain.String(), err)
	}
}

// TestCreateRedisRejects: a copy that is not an RDB file, lost bytes, a
// failed BGSAVE or a missing status line are exit 1 and leave nothing.
func TestCreateRedisRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		ex   *fakeExec
		want string
	}{
		{"not an RDB", &fakeExec{stdout: "-- PostgreSQL database dump"}, "does not start with the RDB signature"},
		{"bytes lost", &fakeExec{stdout: sampleRDB, status: StatusMarker + " rc=0 tee=0 bytes=999 sha256=" + strings.Repeat("a", 64)},
			fmt.Sprintf("received %d bytes but the copy of dump.rdb wrote 999 in the pod", len(sampleRDB))},
		{"sha256 differs", &fakeExec{stdout: sampleRDB, status: fmt.Sprintf("%s rc=0 tee=0 bytes=%d sha256=%s", StatusMarker, len(sampleRDB), strings.Repeat("a", 64))},
			"differs from the pod's"},
		{"BGSAVE failed", &fakeExec{stdout: "", status: "BGSAVE failed: rdb_last_bgsave_status=err\n" + StatusMarker + " rc=90 tee=0 bytes=0 sha256=" + strings.Repeat("a", 64)},
			"exit status 90"},
		{"no status line", &fakeExec{stdout: sampleRDB, status: "redis-cli could not read INFO persistence"}, "redis-cli could not read INFO persistence"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := runRedis(t, c.ex, dir, redisPod("piyasa-chatbot-dev", corev1.PodRunning))
			if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitFailed || !strings.Contains(e.Msg, c.want) || !strings.Contains(e.Msg, "nothing written") {
				t.Errorf("err %v", err)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("left %v", names)
			}
		})
	}
}

// TestCreateRedisNoPod: without a running redis pod create --redis is exit 1
// naming the selector, and runs nothing.
func TestCreateRedisNoPod(t *testing.T) {
	ex := &fakeExec{stdout: sampleRDB}
	_, err := runRedis(t, ex, t.TempDir(), redisPod("piyasa-chatbot-dev", corev1.PodPending))
	c, _ := app.LookupComponent(app.Redis)
	if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitFailed || !strings.Contains(e.Msg, "no running redis pod ("+c.Selector()+")") {
		t.Errorf("err %v", err)
	}
	if ex.cmd != nil {
		t.Errorf("ran %q", ex.cmd)
	}
}
