package diagnose_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/bundle"
	"github.com/piyasa/kubectl-piyasa/shared/diagnose"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestSecretsInLogsAndInterruptedRestore, in one deployed namespace:
//
// D8: a crash-looping api pod whose log holds API_KEY raw and
// DATABASE_PASSWORD base64; diagnose in every output format and the bundle,
// as admin and as the viewer Role, print neither (the harness scans every
// output for the canary, and the test for the planted values). The viewer,
// who may not read the Secrets, gets no log line, and a bundle that says so.
//
// D7: the api and the workers stopped and annotated as a killed restore
// leaves them: diagnose names the restore (PIY120) with the command that
// finishes it and the one that goes back, proposes no worker scale, exit 1;
// deploy status says the same instead of "see why: diagnose".
func TestSecretsInLogsAndInterruptedRestore(t *testing.T) {
	ns := harness.Namespace(t, "diag-d7d8")
	deployHealthy(t, ns)

	// D8 --------------------------------------------------------------
	crashPod(t, ns, "dev-api-crashy2", apiLabels, "512Mi", crashLoop("api", "Error", 1, 6))
	b64 := base64.StdEncoding.EncodeToString([]byte(planted["DATABASE_PASSWORD"]))
	prev := criLog(t, t.TempDir(), "prev.log", "DEBUG connecting to postgresql://piyasa_user:"+planted["DATABASE_PASSWORD"]+"@dev-db-service:5432/piyasa_db",
		"ERROR auth failed for key "+planted["API_KEY"]+" (b64 "+b64+")", "WARN shutting down")
	harness.ApplyYAML(t, ns, fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: Logs
metadata: {name: dev-api-crashy2}
spec: {logs: [{containers: [api], logsFile: %[1]s, previousLogsFile: %[1]s}]}
`, prev))
	grant(t, ns, "oncall-viewer", "--role", "viewer")
	viewer := []string{"--as", "system:serviceaccount:" + ns + ":oncall-viewer"}

	for _, who := range []struct {
		name string
		as   []string
	}{{"admin", nil}, {"viewer", viewer}} {
		var wide string
		for _, o := range []string{"table", "wide", "json", "yaml", "junit"} {
			args := append([]string{"diagnose", "--env", "dev", "-n", ns, "-o", o}, who.as...)
			res := harness.Piyasa(t, args...).ExpectCode(1) // the crash loop is an error
			noPlanted(t, who.name+" -o "+o, res.Stdout, res.Stderr)
			if o == "wide" {
				wide = res.Stdout
			}
		}
		if who.as == nil && !strings.Contains(wide, "ERROR auth failed for key REDACTED (b64 REDACTED)") {
			t.Errorf("admin -o wide: the masked log line is missing:\n%s", wide)
		}
		if who.as != nil && (strings.Contains(wide, "auth failed") || !strings.Contains(wide, diagnose.LogEvidenceLeftOut)) {
			t.Errorf("viewer -o wide: want no log line and the note:\n%s", wide)
		}

		out := filepath.Join(t.TempDir(), "bundle.tar.gz")
		res := harness.Piyasa(t, append([]string{"diagnose", "bundle", "--env", "dev", "-n", ns, "-f", out}, who.as...)...).RunOK()
		files := untar(t, out)
		logs := 0
		for name, data := range files {
			noPlanted(t, who.name+" bundle "+name, data)
			if strings.HasPrefix(name, "logs/") {
				logs++
			}
		}
		switch {
		case who.as == nil && (logs == 0 || !strings.Contains(res.Stderr, ", redacted (")):
			t.Errorf("admin bundle: %d logs; stderr: %s", logs, res.Stderr)
		case who.as != nil && (logs != 0 || strings.Contains(res.Stderr, "redacted") || !strings.Contains(res.Stderr, "NOT scrubbed") ||
			!strings.Contains(files["README.txt"], bundle.LogsLeftOut)):
			t.Errorf("viewer bundle: %d logs; stderr: %s\nREADME.txt:\n%s", logs, res.Stderr, files["README.txt"])
		}
	}
	harness.Kubectl(t, "delete", "pod", "dev-api-crashy2", "-n", ns, "--wait=false").RunOK()

	// D7 --------------------------------------------------------------
	rec := app.RestoreRecord{Since: time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second), Backup: "backups/piyasa_db-20261201T134916Z.sql.zst",
		SafetyBackup: "backups/piyasa_db-20261201T135418Z-pre-restore.sql.zst", Environment: "dev", Holder: "oncall@host (pid 4242)",
		Replicas: map[string]int32{app.API: 1, app.Worker: 4}}
	for _, w := range []struct{ obj, before string }{{"deployment/dev-api", "1"}, {"statefulset/dev-worker", "4"}} {
		harness.Kubectl(t, "annotate", w.obj, "-n", ns, "--overwrite", app.RestoreAnnotation+"="+rec.Marshal(), app.ReplicasBeforeRestoreAnnotation+"="+w.before).RunOK()
		harness.Kubectl(t, "scale", w.obj, "-n", ns, "--replicas=0").RunOK()
	}
	harness.Kubectl(t, "patch", "configmap", "dev-piyasa-config", "-n", ns, "--type=merge", "-p", `{"data":{"TOTAL_WORKERS":"4"}}`).RunOK()
	finish := rec.FinishCommand(ns)
	undo := rec.UndoCommand(ns)

	rep := report(t, 1, "--env", "dev", "-n", ns)
	got := codes(rep)
	if len(got["PIY120"]) != 1 {
		t.Fatalf("no PIY120: %+v", rep.Findings)
	}
	f := got["PIY120"][0]
	if f.Severity != diagnose.SeverityError || !strings.Contains(f.Message, rec.Backup) || !strings.Contains(f.Message, rec.Since.Format(time.RFC3339)) ||
		!strings.Contains(f.Fix, finish) || !strings.Contains(f.Fix, undo) {
		t.Errorf("PIY120: %+v", f)
	}
	for _, f := range rep.Findings {
		if strings.Contains(f.Fix, "scale worker") {
			t.Errorf("%s proposes scaling the workers: %s", f.Code, f.Fix)
		}
	}
	if len(got["PIY115"]) != 1 || got["PIY115"][0].Object.Name != "dev-api" {
		t.Errorf("api at 0 replicas is not reported: %+v", got["PIY115"])
	}

	res := harness.Piyasa(t, "deploy", "status", "--env", "dev", "-n", ns).ExpectCode(1)
	if !strings.Contains(res.Stderr, "a restore of "+rec.Backup+" did not finish") || !strings.Contains(res.Stderr, finish) || !strings.Contains(res.Stderr, undo) ||
		strings.Contains(res.Stderr, "see why") {
		t.Errorf("deploy status:\n%s", res.Stderr)
	}
	res = harness.Piyasa(t, "deploy", "status", "--env", "dev", "-n", ns, "-o", "json").ExpectCode(1)
	var doc struct {
		RestoreInterrupted *struct{ Finish, Undo string } `json:"restoreInterrupted"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &doc); err != nil || doc.RestoreInterrupted == nil || doc.RestoreInterrupted.Finish != finish || doc.RestoreInterrupted.Undo != undo {
		t.Errorf("deploy status -o json (%v):\n%s", err, res.Stdout)
	}
	res = harness.Piyasa(t, "scale", "status", "--env", "dev", "-n", ns).Run()
	if strings.Contains(res.Stdout+res.Stderr, "scale worker") || !strings.Contains(res.Stdout+res.Stderr, "brings back 4") {
		t.Errorf("scale status (exit %d):\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
}

// grant makes ServiceAccount sa in ns and binds it to the Role of `deploy
// render --rbac` with args (--role viewer), applied as a user would.
func grant(t *testing.T, ns, sa string, args ...string) {
	t.Helper()
	harness.Kubectl(t, "create", "serviceaccount", sa, "-n", ns).RunOK()
	y := harness.Piyasa(t, append([]string{"deploy", "render", "--rbac", "-n", ns, "--bind-service-account", sa}, args...)...).RunOK().Stdout
	harness.Kubectl(t, "apply", "-f", "-").WithStdin(strings.NewReader(y)).RunOK()
}
