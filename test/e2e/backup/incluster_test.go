package backup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestInClusterListPull: list --in-cluster shows what the CronJob's script
// wrote into the backup PVC (through a short-lived pod), and pull copies a
// backup out, checked against its BackupInfo.
func TestInClusterListPull(t *testing.T) {
	pvcDir := t.TempDir()
	e := e2ebackup.SetupWith(t, map[string]string{"BACKUP_DIR": pvcDir})
	if out, err := runCronScript(t, "sh", e.PG, pvcDir); err != nil {
		t.Fatalf("cron script: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(pvcDir, "daily", "broken.sql.gz"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	pv := "backup-pv-" + e.NS
	harness.ApplyYAML(t, "", fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata: {name: %s}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: {path: %s}
  claimRef: {namespace: %s, name: dev-backup-pvc}
`, pv, pvcDir, e.NS))
	t.Cleanup(func() { harness.Kubectl(t, "delete", "pv", pv, "--ignore-not-found", "--wait=false").Run() })
	harness.ApplyYAML(t, e.NS, fmt.Sprintf(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: dev-backup-pvc}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  volumeName: %s
  resources: {requests: {storage: 1Gi}}
`, pv))

	r := e.Backup(t, "list", "--in-cluster", "-o", "json").RunOK()
	var list backup.BackupList
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatal(err)
	}
	var good string
	daily := 0
	for _, it := range list.Items {
		if strings.HasPrefix(it.Name, "daily/") {
			daily++
		}
		switch {
		case it.Name == "daily/broken.sql.gz":
			if it.Status != "no-metadata" {
				t.Errorf("broken: status %s", it.Status)
			}
		case it.Status == "ok" && it.Info != nil && strings.HasPrefix(it.Name, "daily/piyasa_db-"):
			good = it.Name
		}
	}
	// (weekly/ and monthly/ hold copies on Sundays and on the 1st)
	if daily != 2 || good == "" {
		t.Fatalf("list --in-cluster: %s", r.Stdout)
	}
	// schedule show --pvc names the newest good backup.
	applyCronJob(t, e.NS)
	r = e.Backup(t, "schedule", "show", "--pvc", "-o", "json").RunOK()
	var sched backup.Schedule
	if err := json.Unmarshal([]byte(r.Stdout), &sched); err != nil {
		t.Fatal(err)
	}
	if sched.NewestBackup == nil || !strings.HasSuffix(sched.NewestBackup.Name, filepath.Base(good)) {
		t.Errorf("schedule show --pvc: %s", r.Stdout)
	}
	out := t.TempDir()
	r = e.Backup(t, "pull", good, "--dir", out).RunOK()
	pulled := strings.TrimSpace(r.Stdout)
	harness.Piyasa(t, "backup", "verify", pulled).RunOK()
	e.Backup(t, "pull", "daily/broken.sql.gz", "--dir", out).ExpectCode(1)
	e.Backup(t, "pull", "../etc/passwd.sql", "--dir", out).ExpectCode(2)

	// A file changed in the PVC no longer matches its BackupInfo: nothing is written.
	src := filepath.Join(pvcDir, good)
	data, _ := os.ReadFile(src)
	data[len(data)/2] ^= 0xff
	_ = os.WriteFile(src, data, 0o600)
	out2 := t.TempDir()
	r = e.Backup(t, "pull", good, "--dir", out2).ExpectCode(1)
	if !strings.Contains(r.Stderr, "does not match its BackupInfo") {
		t.Errorf("stderr: %s", r.Stderr)
	}
	if fs := e2ebackup.Files(t, out2); len(fs) != 0 {
		t.Errorf("a rejected pull left %v", fs)
	}
	// The browse pods are gone.
	deadline := time.Now().Add(time.Minute)
	for {
		pods, err := harness.Client(t).CoreV1().Pods(e.NS).List(context.Background(), metav1.ListOptions{LabelSelector: "app=piyasa-backup-browse"})
		if err == nil && len(pods.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("browse pods left: %d", len(pods.Items))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
