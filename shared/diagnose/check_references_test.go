package diagnose

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func TestCheckReferences(t *testing.T) {
	runAreaCases(t, AreaReferences, []areaCase{
		{name: "secretKeyRef to a missing key", code: "PIY201", msg: "has no key DB_PASSWORD", break_: func(s *Snapshot) {
			c := &s.Deployments[0].Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "PGPASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: app.SecretName}, Key: "DB_PASSWORD"}}})
		}},
		{name: "configMapKeyRef to a missing ConfigMap", code: "PIY202", msg: "ConfigMap nope not found", break_: func(s *Snapshot) {
			c := &s.Deployments[0].Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "X"}}})
		}},
		{name: "configMapKeyRef to a missing key", code: "PIY202", msg: "ConfigMap dev-piyasa-config has no key NOPE", break_: func(s *Snapshot) {
			c := &s.Deployments[0].Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "dev-piyasa-config"}, Key: "NOPE"}}})
		}},
		{name: "volume ConfigMap missing", code: "PIY203", msg: "volume cfg: ConfigMap nope not found", break_: func(s *Snapshot) {
			t := &s.Deployments[0].Spec.Template
			t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}})
		}},
		{name: "envFrom Secret missing", code: "PIY203", msg: "Secret piyasa-secrets not found", break_: func(s *Snapshot) { delete(s.Secrets, app.SecretName) }},
		{name: ".env differs", code: "PIY204", msg: "differ in 1 key", cfg: Config{EnvFileKeys: append(append([]string{}, app.RequiredSecretKeys...), app.KeyOpenAIAPIKey, "EXTRA")},
			break_: func(*Snapshot) {}},
		// issue 16 #5: the fix adds the one key to the .env the app was deployed with, never init-env
		{name: "required key missing", code: "PIY205", msg: "lacks API_KEY",
			fix:    "add API_KEY to the .env the app was deployed with (keep its other values), then: kubectl piyasa deploy secret rotate --env-file .env -n piyasa-chatbot-dev",
			break_: func(s *Snapshot) { delete(s.Secrets[app.SecretName].Keys, app.KeyAPIKey) }},
		{name: "LLM key of the provider missing", code: "PIY205", msg: "lacks GROQ_API_KEY", break_: func(s *Snapshot) { s.ConfigMaps["dev-piyasa-config"][app.KeyLLMProvider] = "groq" }},
	})
}

// TestPIY205ReadsTheSecretThePodsReference: a prefixed Secret that the pods'
// envFrom names is the one checked (issue 13 #4), not a hard-coded name.
func TestPIY205ReadsTheSecretThePodsReference(t *testing.T) {
	prefixed := func(s *Snapshot) {
		s.Secrets["dev-piyasa-secrets"] = s.Secrets[app.SecretName]
		delete(s.Secrets, app.SecretName)
		var lists [][]corev1.Container
		for i := range s.Deployments {
			lists = append(lists, s.Deployments[i].Spec.Template.Spec.Containers)
		}
		for i := range s.StatefulSets {
			lists = append(lists, s.StatefulSets[i].Spec.Template.Spec.Containers)
		}
		for _, list := range lists {
			for i := range list {
				for j := range list[i].EnvFrom {
					if list[i].EnvFrom[j].SecretRef != nil {
						list[i].EnvFrom[j].SecretRef.Name = "dev-piyasa-secrets"
					}
				}
			}
		}
	}
	runAreaCases(t, AreaReferences, []areaCase{
		{name: "prefixed Secret lacks a key", code: "PIY205", msg: "Secret dev-piyasa-secrets lacks API_KEY", break_: func(s *Snapshot) {
			prefixed(s)
			delete(s.Secrets["dev-piyasa-secrets"].Keys, app.KeyAPIKey)
		}},
	})
	s := healthySnapshot()
	prefixed(s)
	if rep := analyzeOnly(s, AreaReferences); len(rep.Findings) != 0 {
		t.Errorf("a complete prefixed Secret gives: %s", findingList(rep))
	}
}

func TestPIY205FixNeverInitEnv(t *testing.T) {
	c, _ := LookupCode("PIY205")
	if strings.Contains(c.Fix, "init-env") {
		t.Errorf("PIY205's fix runs init-env, which would replace DATABASE_PASSWORD and TOKEN_ENCRYPTION_KEY: %s", c.Fix)
	}
}
