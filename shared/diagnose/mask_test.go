package diagnose

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// Values of piyasa-secrets planted in a crash-looping pod's log (raw and
// base64) and in an event message: no output of diagnose may hold them.
const (
	plantedAPIKey   = "k3y-VALUE-of-the-api-9f8e7d"
	plantedPassword = "pw-of-the-database-4b3a"
)

// secretSnapshot is the healthy snapshot with an api pod crash-looping, a
// warning event quoting a Secret value, and the values of piyasa-secrets
// read (Collect does the same with the Secrets it lists).
func secretSnapshot(canRead bool) *Snapshot {
	s := healthySnapshot()
	now := s.Now
	s.Pods = append(s.Pods, summarizePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dev-api-crashy", Labels: app.Components[0].Labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "extra-secret"}}}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "api", RestartCount: 7,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: kube.ReasonCrashLoopBackOff, Message: "back-off restarting: " + plantedAPIKey}}}}}}, now))
	s.Events = append(s.Events, EventGroup{Kind: "ConfigMap", Name: "dev-piyasa-config", Reason: "Odd", Count: 1, Last: now.Add(-time.Minute),
		Message: "value " + plantedPassword + " seen"})
	s.secretValues = map[string][]string{s.Env.Secret(): {plantedAPIKey}, "extra-secret": {plantedPassword}, "unrelated": {"not-referenced-value"}}
	if !canRead {
		s.secretValues = nil
		s.Errs[KindSecrets] = apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", nil)
	}
	s.buildMask()
	return s
}

func plantedLogs(context.Context, string, string, bool, int64) (string, error) {
	b64 := base64.StdEncoding.EncodeToString([]byte(plantedPassword))
	return "INFO boot\nERROR auth failed for key " + plantedAPIKey + " (b64 " + b64 + ")\nexit\n", nil
}

// renderAll prints the report in every output format of diagnose.
func renderAll(t *testing.T, rep *Report) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range []string{"table", "wide", "json", "yaml", "junit"} {
		var b bytes.Buffer
		var err error
		switch f {
		case "table", "wide":
			err = PrintTable(&b, rep, f == "wide")
		case "json":
			err = output.PrintDocument(&b, output.JSON, "DiagnoseReport", rep)
		case "yaml":
			err = output.PrintDocument(&b, output.YAML, "DiagnoseReport", rep)
		case "junit":
			err = PrintJUnit(&b, rep)
		}
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b.String()
	}
	return out
}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, v := range []string{plantedAPIKey, plantedPassword} {
		for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(v)), "=")} {
			if strings.Contains(text, form) {
				t.Errorf("%s holds a Secret value (%q):\n%s", what, form, text)
			}
		}
	}
}

// D8: the evidence of a crash-looping pod, event messages and container
// messages pass the masking of `diagnose logs`, in every output format.
func TestSecretValuesMaskedInEveryOutput(t *testing.T) {
	rep := Analyze(context.Background(), secretSnapshot(true), Config{}, plantedLogs, nil)
	outs := renderAll(t, rep)
	for f, text := range outs {
		assertNoSecret(t, "-o "+f, text)
	}
	if !strings.Contains(outs["wide"], "log: ERROR auth failed for key REDACTED (b64 REDACTED)") {
		t.Errorf("-o wide: the masked log line is missing:\n%s", outs["wide"])
	}
	if !strings.Contains(outs["json"], "value REDACTED seen") {
		t.Errorf("-o json: the masked event is missing:\n%s", outs["json"])
	}
	if strings.Contains(outs["json"], LogEvidenceLeftOut) {
		t.Errorf("the Secrets were read: log evidence is not left out")
	}
}

// A user who may not read the Secrets (viewer) gets no log line: it cannot
// be masked. The report says so.
func TestLogEvidenceLeftOutWithoutSecrets(t *testing.T) {
	rep := Analyze(context.Background(), secretSnapshot(false), Config{}, plantedLogs, nil)
	outs := renderAll(t, rep)
	for f, text := range outs {
		if strings.Contains(text, "auth failed") {
			t.Errorf("-o %s: a log line was printed though the Secrets could not be read:\n%s", f, text)
		}
	}
	if !strings.Contains(outs["table"], "note: "+LogEvidenceLeftOut) || !strings.Contains(outs["json"], LogEvidenceLeftOut) {
		t.Errorf("the report does not say the log evidence was left out:\n%s\n%s", outs["table"], outs["json"])
	}
}
