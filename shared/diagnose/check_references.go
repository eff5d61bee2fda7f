package diagnose

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// checkReferences reports the Secrets, ConfigMaps and keys the workloads
// read that are missing, and the app Secret's keys.
func (r *runner) checkReferences(context.Context) {
	r201 := r.begin("PIY201", KindSecrets, KindDeployments, KindStatefulSets, KindCronJobs, KindJobs)
	r202 := r.begin("PIY202", KindConfigMaps, KindDeployments, KindStatefulSets, KindCronJobs, KindJobs)
	r203s := r.begin("PIY203", KindSecrets, KindConfigMaps, KindDeployments, KindStatefulSets, KindCronJobs, KindJobs)
	for _, w := range r.workloads() {
		for _, c := range templateContainers(w.Template) {
			r.checkEnvRefs(w, c, r201, r202)
			if r203s {
				r.checkEnvFromRefs(w, c)
			}
		}
		if r203s {
			r.checkVolumeRefs(w)
		}
	}

	secName := r.appSecret()
	sec, haveSec := r.s.Secrets[secName]
	if r.begin("PIY205", KindSecrets, KindConfigMaps) {
		r.checkAppSecretKeys(secName, sec, haveSec)
	}
	if r.envFileKeys != nil && r.begin("PIY204", KindSecrets) && haveSec {
		r.checkEnvFileKeys(secName, sec)
	}
}

// templateContainers are the init containers and containers of t.
func templateContainers(t *corev1.PodTemplateSpec) []corev1.Container {
	return append(append([]corev1.Container{}, t.Spec.InitContainers...), t.Spec.Containers...)
}

// checkEnvRefs reports the env keys of c read from a missing Secret (PIY201)
// or ConfigMap (PIY202) or a missing key of one.
func (r *runner) checkEnvRefs(w workload, c corev1.Container, r201, r202 bool) {
	comp := w.Component
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if ref := e.ValueFrom.SecretKeyRef; ref != nil && r201 && !isTrue(ref.Optional) {
			sec, ok := r.s.Secrets[ref.Name]
			switch {
			case !ok:
				r.add("PIY201", comp, w.obj(), fmt.Sprintf("container %s env %s: Secret %s not found", c.Name, e.Name, ref.Name),
					[]string{fmt.Sprintf("secretKeyRef: %s/%s", ref.Name, ref.Key)}, r.secretFix(ref.Name))
			case !sec.Keys[ref.Key]:
				r.add("PIY201", comp, w.obj(), fmt.Sprintf("container %s env %s: Secret %s has no key %s", c.Name, e.Name, ref.Name, ref.Key),
					[]string{fmt.Sprintf("secretKeyRef: %s/%s", ref.Name, ref.Key), "keys: " + strings.Join(slices.Sorted(maps.Keys(sec.Keys)), ",")}, r.secretFix(ref.Name))
			}
		}
		if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil && r202 && !isTrue(ref.Optional) {
			data, ok := r.s.ConfigMaps[ref.Name]
			if !ok {
				r.add("PIY202", comp, w.obj(), fmt.Sprintf("container %s env %s: ConfigMap %s not found", c.Name, e.Name, ref.Name),
					[]string{fmt.Sprintf("configMapKeyRef: %s/%s", ref.Name, ref.Key)}, "")
			} else if _, has := data[ref.Key]; !has {
				r.add("PIY202", comp, w.obj(), fmt.Sprintf("container %s env %s: ConfigMap %s has no key %s", c.Name, e.Name, ref.Name, ref.Key),
					[]string{fmt.Sprintf("configMapKeyRef: %s/%s", ref.Name, ref.Key)}, "")
			}
		}
	}
}

// checkEnvFromRefs reports the envFrom Secrets and ConfigMaps of c that are
// missing (PIY203).
func (r *runner) checkEnvFromRefs(w workload, c corev1.Container) {
	comp := w.Component
	for _, ef := range c.EnvFrom {
		if ref := ef.SecretRef; ref != nil && !isTrue(ref.Optional) {
			if _, ok := r.s.Secrets[ref.Name]; !ok {
				r.add("PIY203", comp, w.obj(), fmt.Sprintf("container %s envFrom: Secret %s not found", c.Name, ref.Name), nil, r.secretFix(ref.Name))
			}
		}
		if ref := ef.ConfigMapRef; ref != nil && !isTrue(ref.Optional) {
			if _, ok := r.s.ConfigMaps[ref.Name]; !ok {
				r.add("PIY203", comp, w.obj(), fmt.Sprintf("container %s envFrom: ConfigMap %s not found", c.Name, ref.Name), nil, "")
			}
		}
	}
}

// checkVolumeRefs reports the volumes of w from a missing Secret or
// ConfigMap (PIY203).
func (r *runner) checkVolumeRefs(w workload) {
	comp := w.Component
	for _, v := range w.Template.Spec.Volumes {
		if v.Secret != nil && !isTrue(v.Secret.Optional) {
			if _, ok := r.s.Secrets[v.Secret.SecretName]; !ok {
				r.add("PIY203", comp, w.obj(), fmt.Sprintf("volume %s: Secret %s not found", v.Name, v.Secret.SecretName), nil, r.secretFix(v.Secret.SecretName))
			}
		}
		if v.ConfigMap != nil && !isTrue(v.ConfigMap.Optional) {
			if _, ok := r.s.ConfigMaps[v.ConfigMap.Name]; !ok {
				r.add("PIY203", comp, w.obj(), fmt.Sprintf("volume %s: ConfigMap %s not found", v.Name, v.ConfigMap.Name), nil, "")
			}
		}
	}
}

// checkAppSecretKeys reports the app's Secret missing, or lacking a key the
// app and its LLM provider need (PIY205).
func (r *runner) checkAppSecretKeys(secName string, sec SecretInfo, haveSec bool) {
	provider := strings.ToLower(strings.TrimSpace(r.appConfig()[app.KeyLLMProvider]))
	if provider == "" {
		provider = app.DefaultLLMProvider
	}
	required := append([]string{}, app.RequiredSecretKeys...)
	if k, ok := app.LLMProviderKeys[provider]; ok {
		required = append(required, k)
	}
	if !haveSec {
		r.add("PIY205", "app", Object{Kind: "Secret", Name: secName}, fmt.Sprintf("Secret %s, which the app's pods read, is not in namespace %s", secName, r.s.Namespace), nil,
			fmt.Sprintf("deploy again with the .env the app was deployed with: kubectl piyasa deploy --env %s -n %s --env-file .env", r.s.Env.Name, r.s.Namespace))
		return
	}
	var missing []string
	for _, k := range required {
		if !sec.Keys[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		// only the missing keys: a new init-env file would replace DATABASE_PASSWORD and TOKEN_ENCRYPTION_KEY too
		r.add("PIY205", "app", Object{Kind: "Secret", Name: secName}, fmt.Sprintf("Secret %s lacks %s", secName, strings.Join(missing, ", ")),
			[]string{"LLM_PROVIDER: " + provider},
			fmt.Sprintf("add %s to the .env the app was deployed with (keep its other values), then: kubectl piyasa deploy secret rotate --env-file .env -n %s",
				strings.Join(missing, ", "), r.s.Namespace))
	}
}

// checkEnvFileKeys compares the key names of the given .env with the app's
// Secret (PIY204).
func (r *runner) checkEnvFileKeys(secName string, sec SecretInfo) {
	envFileKeys := r.envFileKeys
	inFile := map[string]bool{}
	for _, k := range envFileKeys {
		inFile[k] = true
	}
	var onlyFile, onlySecret []string
	for _, k := range envFileKeys {
		if !sec.Keys[k] {
			onlyFile = append(onlyFile, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(sec.Keys)) {
		if !inFile[k] {
			onlySecret = append(onlySecret, k)
		}
	}
	if len(onlyFile)+len(onlySecret) > 0 {
		var ev []string
		if len(onlyFile) > 0 {
			ev = append(ev, "only in the .env: "+strings.Join(onlyFile, ", "))
		}
		if len(onlySecret) > 0 {
			ev = append(ev, "only in the Secret: "+strings.Join(onlySecret, ", "))
		}
		r.add("PIY204", "app", Object{Kind: "Secret", Name: secName},
			fmt.Sprintf("the .env and Secret %s differ in %s (names compared, not values)", secName, cli.Plural(len(onlyFile)+len(onlySecret), "key", "keys")), ev, "")
	}
}

// appSecret is the Secret the app's pods read: the first one that the api's
// or the worker's envFrom names and that exists (else the first named), else
// the environment's Secret name.
func (r *runner) appSecret() string {
	var named []string
	for _, comp := range []string{app.API, app.Worker} {
		w, ok := r.component(comp)
		if !ok {
			continue
		}
		for _, c := range w.Template.Spec.Containers {
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && ef.SecretRef.Name != "" {
					named = append(named, ef.SecretRef.Name)
				}
			}
		}
	}
	for _, n := range named {
		if _, ok := r.s.Secrets[n]; ok {
			return n
		}
	}
	if len(named) > 0 {
		return named[0]
	}
	return r.s.Env.Secret()
}

func (r *runner) secretFix(name string) string {
	if name == r.appSecret() {
		return fmt.Sprintf("add the key to the .env and run: kubectl piyasa deploy secret rotate --env-file .env -n %s", r.s.Namespace)
	}
	return fmt.Sprintf("create Secret %s or fix the reference: kubectl get secret %s -n %s", name, name, r.s.Namespace)
}

func isTrue(b *bool) bool { return b != nil && *b }
