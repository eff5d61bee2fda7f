package diagnose

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// stopByRestore leaves the snapshot as a killed restore leaves the app: api
// and worker at 0 with the restore's annotations (record: with the JSON
// record; else only the older per-workload count), TOTAL_WORKERS 4.
func stopByRestore(s *Snapshot, record bool) {
	rec := app.RestoreRecord{Since: s.Now.Add(-20 * time.Minute), Backup: "backups/piyasa_db-20261201T134916Z.sql.zst",
		SafetyBackup: "backups/piyasa_db-20261201T135418Z-pre-restore.sql.zst", Environment: "dev", Holder: "ops@host (pid 42)",
		Replicas: map[string]int32{app.API: 1, app.Worker: 4}}
	for i := range s.Deployments {
		d := &s.Deployments[i]
		if d.Name == "dev-api" {
			d.Annotations = map[string]string{app.ReplicasBeforeRestoreAnnotation: "1"}
			if record {
				d.Annotations[app.RestoreAnnotation] = rec.Marshal()
			}
			zero := int32(0)
			d.Spec.Replicas, d.Status.ReadyReplicas = &zero, 0
		}
	}
	for i := range s.StatefulSets {
		st := &s.StatefulSets[i]
		if st.Name == "dev-worker" {
			st.Annotations = map[string]string{app.ReplicasBeforeRestoreAnnotation: "4"}
			if record {
				st.Annotations[app.RestoreAnnotation] = rec.Marshal()
			}
			zero := int32(0)
			st.Spec.Replicas, st.Status.ReadyReplicas = &zero, 0
		}
	}
	s.ConfigMaps[s.Env.ConfigMap()][app.KeyTotalWorkers] = "4"
	s.HPAs = s.HPAs[1:] // the api's HPA stays in the list only for the frontend
}

func byCode(rep *Report) map[string][]Finding {
	got := map[string][]Finding{}
	for _, f := range rep.Findings {
		got[f.Code] = append(got[f.Code], f)
	}
	return got
}

// D7: an interrupted restore is named (when, which backup, the command that
// finishes it and the one that goes back); no fix scales the workers, and
// the worker count said is the recorded one.
func TestInterruptedRestore(t *testing.T) {
	for _, record := range []bool{true, false} {
		s := healthySnapshot()
		stopByRestore(s, record)
		rep := Analyze(context.Background(), s, Config{}, nil, nil)
		got := byCode(rep)
		if len(got["PIY120"]) != 1 {
			t.Fatalf("record %v: want one PIY120: %s", record, findingList(rep))
		}
		f := got["PIY120"][0]
		if record {
			for _, want := range []string{"backups/piyasa_db-20261201T134916Z.sql.zst", s.Now.Add(-20 * time.Minute).UTC().Format(time.RFC3339), "api=1 worker=4"} {
				if !strings.Contains(f.Message, want) {
					t.Errorf("PIY120 message lacks %q: %s", want, f.Message)
				}
			}
			for _, want := range []string{"kubectl piyasa backup restore backups/piyasa_db-20261201T134916Z.sql.zst -n piyasa-chatbot-dev --env dev --yes",
				"kubectl piyasa backup restore backups/piyasa_db-20261201T135418Z-pre-restore.sql.zst -n piyasa-chatbot-dev --env dev --yes --no-safety-backup"} {
				if !strings.Contains(f.Fix, want) {
					t.Errorf("PIY120 fix lacks %q: %s", want, f.Fix)
				}
			}
		} else if !strings.Contains(f.Message, "backup not recorded") || !strings.Contains(f.Fix, "kubectl scale -n piyasa-chatbot-dev statefulset/dev-worker --replicas=4") {
			t.Errorf("older annotation only: %+v", f)
		}
		for _, fs := range got {
			for _, f := range fs {
				if strings.Contains(f.Fix, "scale worker") {
					t.Errorf("record %v: %s proposes scaling the workers: %s", record, f.Code, f.Fix)
				}
			}
		}
		if len(got["PIY401"]) != 1 || !strings.Contains(got["PIY401"][0].Message, "brings back 4") || !strings.Contains(got["PIY401"][0].Fix, "PIY120") {
			t.Errorf("record %v: PIY401 should point at the restore: %+v", record, got["PIY401"])
		}
		if len(got["PIY115"]) != 1 || got["PIY115"][0].Object.Name != "dev-api" || !strings.Contains(got["PIY115"][0].Fix, "PIY120") {
			t.Errorf("record %v: api at 0 should be PIY115 pointing at the restore: %+v", record, got["PIY115"])
		}
		if !rep.Failing() {
			t.Errorf("an interrupted restore must fail the run")
		}
	}
}

// Annotations left on an app that runs again (restarted by hand) are stale:
// no restore finding.
func TestStaleRestoreAnnotationsIgnored(t *testing.T) {
	s := healthySnapshot()
	stopByRestore(s, true)
	for i := range s.Deployments {
		one := int32(1)
		s.Deployments[i].Spec.Replicas, s.Deployments[i].Status.ReadyReplicas = &one, 1
	}
	for i := range s.StatefulSets {
		n := int32(4)
		if s.StatefulSets[i].Name != "dev-worker" {
			n = 1
		}
		s.StatefulSets[i].Spec.Replicas, s.StatefulSets[i].Status.ReadyReplicas = &n, n
	}
	if got := byCode(Analyze(context.Background(), s, Config{}, nil, nil)); len(got["PIY120"]) != 0 {
		t.Errorf("stale annotations: %+v", got["PIY120"])
	}
}

// The api at 0 replicas (no restore) serves nothing: an error, with the
// command that scales it back; the worker at 0 is scaled to TOTAL_WORKERS.
func TestAppScaledToZero(t *testing.T) {
	runAreaCases(t, AreaPods, []areaCase{
		{name: "api at 0 under its HPA", code: "PIY115", msg: "deployment/dev-api has 0 replicas", fix: "kubectl scale deployment/dev-api --replicas=1 -n piyasa-chatbot-dev",
			not: []string{"PIY120"}, break_: func(s *Snapshot) {
				zero := int32(0)
				s.Deployments[0].Spec.Replicas, s.Deployments[0].Status.ReadyReplicas = &zero, 0
			}},
		{name: "worker at 0", code: "PIY113", fix: "kubectl piyasa scale worker 4 -n piyasa-chatbot-dev", break_: func(s *Snapshot) {
			zero := int32(0)
			s.ConfigMaps[s.Env.ConfigMap()][app.KeyTotalWorkers] = "4"
			s.StatefulSets[0].Spec.Replicas, s.StatefulSets[0].Status.ReadyReplicas = &zero, 0
		}},
	})
}
