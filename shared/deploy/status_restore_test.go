package deploy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// D7: deploy status names a restore that did not finish (instead of "see
// why: diagnose"), with the command that finishes it and the one that goes
// back; -o json carries it.
func TestStatusInterruptedRestore(t *testing.T) {
	rec := app.RestoreRecord{Since: time.Date(2026, 12, 1, 13, 54, 18, 0, time.UTC), Backup: "backups/b.sql.zst",
		SafetyBackup: "backups/b-pre-restore.sql.zst", Environment: "dev", Replicas: map[string]int32{app.API: 1, app.Worker: 4}}
	objs := liveApp(imgV1)
	for _, o := range objs {
		var ann *map[string]string
		var n **int32
		switch w := o.(type) {
		case *appsv1.Deployment:
			if w.Name == "dev-api" {
				ann, n = &w.Annotations, &w.Spec.Replicas
			}
		case *appsv1.StatefulSet:
			if w.Name == "dev-worker" {
				ann, n = &w.Annotations, &w.Spec.Replicas
			}
		}
		if ann != nil {
			*ann = map[string]string{app.RestoreAnnotation: rec.Marshal()}
			zero := int32(0)
			*n = &zero
		}
	}
	tt := clitest.New(devNS, []runtime.Object(objs)...)
	err := run(tt, "status", "-o", "json")
	stdout, _ := tt.Output()
	e := cli_error(err)
	if e == nil || e.Code != 1 || !strings.Contains(e.Msg, "a restore of backups/b.sql.zst did not finish") || !strings.Contains(e.Msg, "2026-12-01T13:54:18Z") ||
		!strings.Contains(e.Hint, "kubectl piyasa backup restore backups/b.sql.zst -n "+devNS+" --env dev --yes") ||
		!strings.Contains(e.Hint, "backups/b-pre-restore.sql.zst") || strings.Contains(e.Hint, "diagnose") {
		t.Fatalf("%#v", err)
	}
	var doc struct {
		RestoreInterrupted *struct {
			Finish, Undo string
			Replicas     map[string]int32
		}
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.RestoreInterrupted == nil || doc.RestoreInterrupted.Finish == "" || doc.RestoreInterrupted.Undo == "" || doc.RestoreInterrupted.Replicas[app.Worker] != 4 {
		t.Errorf("-o json: %s", stdout)
	}
}
