package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// runList runs `backup list ARGS...` and returns stdout and stderr.
func runList(t *testing.T, tt *clitest.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewCmdList(tt.Global)
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	out, stderr := tt.Output()
	return out, stderr, err
}

// TestListDir: list --dir prints every backup with its kind, status and
// verification; -o wide adds what the BackupInfo says; -o json is the document.
func TestListDir(t *testing.T) {
	dir := t.TempDir()
	writeTestBackup(t, dir, "piyasa_db-piyasa-chatbot-20261130T020000Z.sql", day("2026-11-30"), "ok")
	writeTestBackup(t, dir, "piyasa_db-piyasa-chatbot-20261129T020000Z.sql", day("2026-11-29"), "size-mismatch")
	writeTestBackup(t, dir, "piyasa_db-piyasa-chatbot-20261128T020000Z.sql", day("2026-11-28"), "no-metadata")
	// One verified by a restore test an hour ago, pinned, with tables.
	name := "piyasa_db-piyasa-chatbot-20261130T020000Z.sql"
	raw, _ := os.ReadFile(filepath.Join(dir, name+MetadataSuffix))
	info, err := ParseInfo(raw)
	if err != nil {
		t.Fatal(err)
	}
	info.Pinned, info.AlembicRevision = true, "abc123"
	info.Tables = []TableRows{{Name: "public.rooms", Rows: 5}, {Name: "public.messages", Rows: 37}}
	info.Verification = &Verification{Time: clitest.Fixed.Add(-time.Hour), RestoreTest: true}
	if raw, err = info.Marshal(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+MetadataSuffix), raw, 0o600); err != nil {
		t.Fatal(err)
	}

	out, _, err := runList(t, clitest.New("piyasa-chatbot"), "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	if r := rows[name]; len(r) < 8 || r[1] != "scheduled,pinned" || r[5] != "ok" || strings.Join(r[6:], " ") != "restore-test 60m ago" {
		t.Errorf("verified row %q\n%s", r, out)
	}
	if r := rows["piyasa_db-piyasa-chatbot-20261129T020000Z.sql"]; len(r) < 7 || r[5] != "size-mismatch" || r[6] != "no" {
		t.Errorf("size-mismatch row %q", r)
	}
	if r := rows["piyasa_db-piyasa-chatbot-20261128T020000Z.sql"]; len(r) < 7 || r[5] != "no-metadata" {
		t.Errorf("no-metadata row %q", r)
	}

	out, _, err = runList(t, clitest.New("piyasa-chatbot"), "--dir", dir, "-o", "wide")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name) && strings.Join(strings.Fields(l)[9:13], " ") != "piyasa-chatbot 2 42 abc123" {
			t.Errorf("wide row %q", l)
		}
		if strings.HasPrefix(l, "piyasa_db-piyasa-chatbot-20261128T020000Z.sql") && strings.Join(strings.Fields(l)[len(strings.Fields(l))-5:], " ") != "- - - - -" {
			t.Errorf("wide row without info %q", l)
		}
	}

	out, _, err = runList(t, clitest.New("piyasa-chatbot"), "--dir", dir, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc BackupList
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Location != dir || len(doc.Items) != 3 {
		t.Errorf("doc %s %d items", doc.Location, len(doc.Items))
	}
}

// TestListEmpty: an empty directory says so on stderr (the table stays
// empty); -o json is a document with no items, not null.
func TestListEmpty(t *testing.T) {
	dir := t.TempDir()
	out, stderr, err := runList(t, clitest.New("piyasa-chatbot"), "--dir", dir)
	if err != nil || out != "" || stderr != "no backups in "+dir+"\n" {
		t.Errorf("err %v stdout %q stderr %q", err, out, stderr)
	}
	out, _, err = runList(t, clitest.New("piyasa-chatbot"), "--dir", dir, "-o", "json")
	if err != nil || !strings.Contains(out, `"items": []`) {
		t.Errorf("err %v stdout %q", err, out)
	}
}

// TestListValidate: exactly one place, --from only s3://, known -o.
func TestListValidate(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "give exactly one of"},
		{[]string{"--dir", "d", "--in-cluster"}, "give exactly one of"},
		{[]string{"--dir", "d", "--from", "s3://b/p"}, "give exactly one of"},
		{[]string{"--from", "/tmp/x"}, "--from takes s3://BUCKET/PREFIX"},
		{[]string{"--dir", "d", "-o", "xml"}, "xml"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, _, err := runList(t, clitest.New("piyasa-chatbot"), c.args...)
			if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, c.want) {
				t.Errorf("err %v", err)
			}
		})
	}
}

// runningPods makes every pod the fake creates run at once (the kubelet's part).
func runningPods(tt *clitest.T) {
	tt.Fake.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).Status.Phase = corev1.PodRunning
		return false, nil, nil
	})
}

// pvcExec plays the browse pod: files maps a path in the PVC to its content;
// meta to its BackupInfo. It answers the list script, the cat of a
// BackupInfo and the pull script.
type pvcExec struct {
	files   map[string]string
	meta    map[string]string
	listErr error
	// lie replaces the pull script's status line.
	lie  string
	pods []string
}

func (p *pvcExec) Exec(_ context.Context, pod *corev1.Pod, _ string, cmd []string, _ io.Reader, stdout, stderr io.Writer) error {
	p.pods = append(p.pods, pod.Name)
	switch {
	case cmd[2] == listScript:
		if p.listErr != nil {
			io.WriteString(stderr, "sh: cd: /backups: Permission denied\n")
			return p.listErr
		}
		for name, data := range p.files {
			fmt.Fprintf(stdout, "%s\t%d\t%d\t%s\n", name, len(data), clitest.Fixed.Add(-time.Hour).Unix(), strings.ReplaceAll(p.meta[name], "\n", ""))
		}
	case cmd[2] == pullScript:
		data := p.files[cmd[4]]
		io.WriteString(stdout, data)
		sum := sha256.Sum256([]byte(data))
		st := fmt.Sprintf("%s rc=0 tee=0 bytes=%d sha256=%s", StatusMarker, len(data), hex.EncodeToString(sum[:]))
		if p.lie != "" {
			st = p.lie
		}
		io.WriteString(stderr, st+"\n")
	default: // cat "$1.json"
		m, ok := p.meta[cmd[4]]
		if !ok {
			io.WriteString(stderr, "cat: no such file\n")
			return fmt.Errorf("command terminated with exit code 1")
		}
		io.WriteString(stdout, m)
	}
	return nil
}

// pvcInfo is a valid BackupInfo of data.
func pvcInfo(t *testing.T, name, data string, size int64) string {
	t.Helper()
	sum := sha256.Sum256([]byte(data))
	info := &BackupInfo{Name: name, Namespace: "piyasa-chatbot-dev", Database: "piyasa_db", Compression: "none",
		StartTime: day("2026-11-30"), EndTime: day("2026-11-30").Add(time.Minute), RawBytes: size, StoredBytes: size,
		RawSHA256: hex.EncodeToString(sum[:]), StoredSHA256: hex.EncodeToString(sum[:]), BackupKind: KindScheduled}
	raw, err := info.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestListInCluster: list --in-cluster reads the PVC through a browse pod
// (read-only, deleted afterwards) and judges each backup by its BackupInfo.
func TestListInCluster(t *testing.T) {
	ok, short := "daily/piyasa_db-a.sql.gz", "daily/piyasa_db-b.sql.gz"
	ex := &pvcExec{
		files: map[string]string{ok: "data of a", short: "data of b", "weekly/piyasa_db-c.sql.gz": "c", "monthly/piyasa_db-d.sql.gz": "d"},
		meta: map[string]string{ok: pvcInfo(t, "piyasa_db-a.sql.gz", "data of a", 9), short: pvcInfo(t, "piyasa_db-b.sql.gz", "data of b", 99),
			"weekly/piyasa_db-c.sql.gz": "{broken"},
	}
	tt := clitest.New("piyasa-chatbot-dev")
	runningPods(tt)
	o := NewListOptions(tt.Global)
	o.Executor, o.InCluster, o.Print.Output = ex, true, "json"
	if err := o.Complete(nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var doc BackupList
	out, _ := tt.Output()
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := map[string]string{}
	for _, it := range doc.Items {
		got[it.Name] = it.Status + " " + it.Kind + " " + it.Location
	}
	want := map[string]string{
		ok:                           "ok scheduled pvc:" + ok,
		short:                        "size-mismatch scheduled pvc:" + short,
		"weekly/piyasa_db-c.sql.gz":  "bad-metadata scheduled pvc:weekly/piyasa_db-c.sql.gz",
		"monthly/piyasa_db-d.sql.gz": "no-metadata scheduled pvc:monthly/piyasa_db-d.sql.gz",
	}
	if doc.Location != "pvc:dev-backup-pvc" || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("location %s items %v", doc.Location, got)
	}
	pods, _ := tt.Fake.CoreV1().Pods("piyasa-chatbot-dev").List(context.Background(), metav1.ListOptions{})
	if len(ex.pods) != 1 || len(pods.Items) != 0 {
		t.Errorf("exec in %v; pods left %d", ex.pods, len(pods.Items))
	}
	var created *corev1.Pod
	for _, a := range tt.Fake.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "pods" {
			created = a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		}
	}
	if created == nil || created.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "dev-backup-pvc" ||
		!created.Spec.Volumes[0].PersistentVolumeClaim.ReadOnly || !created.Spec.Containers[0].VolumeMounts[0].ReadOnly {
		t.Errorf("browse pod %+v", created)
	}
}

// TestListInClusterExecFails: a failing list in the pod is exit 1 with the
// pod's last stderr line, and the browse pod is still deleted.
func TestListInClusterExecFails(t *testing.T) {
	tt := clitest.New("piyasa-chatbot-dev")
	runningPods(tt)
	o := NewListOptions(tt.Global)
	o.Executor, o.InCluster = &pvcExec{listErr: fmt.Errorf("command terminated with exit code 1")}, true
	_ = o.Complete(nil, nil)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(context.Background())
	if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitFailed ||
		e.Msg != "cannot list the backup PVC: command terminated with exit code 1 sh: cd: /backups: Permission denied" {
		t.Errorf("err %v", err)
	}
	if pods, _ := tt.Fake.CoreV1().Pods("piyasa-chatbot-dev").List(context.Background(), metav1.ListOptions{}); len(pods.Items) != 0 {
		t.Errorf("browse pod left")
	}
}

// runPull runs `backup pull NAME --dir DIR` with ex.
func runPull(t *testing.T, ex Executor, name, dir string) (string, error) {
	t.Helper()
	tt := clitest.New("piyasa-chatbot-dev")
	runningPods(tt)
	o := &PullOptions{base: newBase(tt.Global), Dir: dir}
	o.Executor = ex
	if err := o.Complete(nil, []string{name}); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		return "", err
	}
	err := o.Run(context.Background())
	out, _ := tt.Output()
	return out, err
}

// TestPull: pull copies a backup and its BackupInfo out of the PVC when the
// bytes match the pod's and the BackupInfo's sha256 and size; otherwise it
// is exit 1 and nothing is written.
func TestPull(t *testing.T) {
	name, data := "daily/piyasa_db-a.sql.gz", "data of a"
	good := pvcInfo(t, "piyasa_db-a.sql.gz", data, int64(len(data)))
	for _, c := range []struct {
		name string
		ex   *pvcExec
		want string // "" = pulled
	}{
		{"ok", &pvcExec{files: map[string]string{name: data}, meta: map[string]string{name: good}}, ""},
		{"no metadata", &pvcExec{files: map[string]string{name: data}}, "has no BackupInfo"},
		{"bad metadata", &pvcExec{files: map[string]string{name: data}, meta: map[string]string{name: "{"}}, name + ".json:"},
		{"differs from its BackupInfo", &pvcExec{files: map[string]string{name: data + "!"}, meta: map[string]string{name: good}},
			"does not match its BackupInfo (size 10, want 9)"},
		{"lost bytes", &pvcExec{files: map[string]string{name: data}, meta: map[string]string{name: good},
			lie: StatusMarker + " rc=0 tee=0 bytes=100 sha256=" + strings.Repeat("0", 64)}, "received 9 bytes but cat wrote 100 in the pod"},
		{"cat failed", &pvcExec{files: map[string]string{name: data}, meta: map[string]string{name: good},
			lie: "cat: daily/piyasa_db-a.sql.gz: Permission denied"}, "nothing written: the status line never arrived from the pod: cat: daily/piyasa_db-a.sql.gz: Permission denied"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out, err := runPull(t, c.ex, name, dir)
			if c.want == "" {
				if err != nil || out != filepath.Join(dir, "piyasa_db-a.sql.gz")+"\n" {
					t.Fatalf("err %v stdout %q", err, out)
				}
				if b, _ := os.ReadFile(filepath.Join(dir, "piyasa_db-a.sql.gz")); !bytes.Equal(b, []byte(data)) {
					t.Errorf("data %q", b)
				}
				raw, _ := os.ReadFile(filepath.Join(dir, "piyasa_db-a.sql.gz"+MetadataSuffix))
				if info, err := ParseInfo(raw); err != nil || info.Location != filepath.Join(dir, "piyasa_db-a.sql.gz") || info.Name != "piyasa_db-a.sql.gz" {
					t.Errorf("info %+v %v", info, err)
				}
				return
			}
			if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitFailed || !strings.Contains(e.Msg, c.want) {
				t.Errorf("err %v", err)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("left %v", names)
			}
		})
	}
}

// TestPullValidate: NAME must be a backup's path inside the PVC; --dir a
// local directory.
func TestPullValidate(t *testing.T) {
	for _, c := range []struct{ name, dir, want string }{
		{"../etc/passwd.sql", ".", "invalid backup name"},
		{"/backups/daily/a.sql.gz", ".", "invalid backup name"},
		{"daily/../../a.sql.gz", ".", "invalid backup name"},
		{"daily/notes.txt", ".", "invalid backup name"},
		{"", ".", "invalid backup name"},
		{"daily/a.sql.gz", "", "--dir takes a local directory"},
		{"daily/a.sql.gz", "s3://b/p", "--dir takes a local directory"},
	} {
		_, err := runPull(t, nil, c.name, c.dir)
		if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, c.want) {
			t.Errorf("pull %q --dir %q: %v", c.name, c.dir, err)
		}
	}
}
