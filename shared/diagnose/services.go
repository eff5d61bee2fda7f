package diagnose

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
)

// urlSetting finds a connection setting: the ConfigMap's key, else a literal
// env value of that name in the component's containers. It returns the value
// and where it was found.
func (r *runner) urlSetting(key string, comps ...string) (string, string) {
	if v, ok := r.appConfig()[key]; ok && v != "" {
		return v, "ConfigMap " + r.appConfigName()
	}
	for _, name := range comps {
		w, ok := r.component(name)
		if !ok {
			continue
		}
		for _, c := range w.Template.Spec.Containers {
			for _, e := range c.Env {
				if e.Name == key && e.Value != "" {
					return e.Value, fmt.Sprintf("%s %s container %s", w.Kind, w.Name, c.Name)
				}
			}
		}
	}
	return "", ""
}

// hostService returns the Service name a host refers to in this namespace,
// and false when the host names another namespace or an outside address.
func (r *runner) hostService(host string) (string, bool) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	parts := strings.Split(host, ".")
	switch {
	case len(parts) == 1:
		return parts[0], true
	case parts[1] == r.s.Namespace && (len(parts) == 2 || parts[2] == "svc"):
		return parts[0], true
	}
	return "", false
}

func urlHost(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("does not parse as a URL")
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("has no host")
	}
	return u.Hostname(), nil
}

// endpointLag is how long a pod that just became ready may be missing from its Service's endpoints.
const endpointLag = 15 * time.Second

// checkService reports a missing Service and one without ready endpoints.
func (r *runner) checkService(comp, missingCode, noEndpointsCode string) {
	c, _ := app.LookupComponent(comp)
	name := r.s.Env.ServiceName(c)
	svc, ok := r.s.Services[name]
	if r.begin(missingCode, KindServices) && !ok {
		r.add(missingCode, comp, Object{Kind: "Service", Name: name}, fmt.Sprintf("Service %s not found in namespace %s", name, r.s.Namespace), nil, "")
	}
	if ok && r.begin(noEndpointsCode, KindServices, KindEndpointSlices) && r.s.ReadyEndpoints[name] == 0 {
		ev := []string{"selector: " + selectorString(svc.Spec.Selector)}
		n, ready, justReady := 0, 0, false
		for _, p := range r.s.Pods {
			if p.Component == comp && !p.Deleting {
				n++
				if p.Ready {
					ready++
					justReady = justReady || (p.ReadyFor != 0 && p.ReadyFor < endpointLag)
				}
			}
		}
		if justReady {
			return // a pod became ready moments ago: its endpoint may not be published yet
		}
		ev = append(ev, fmt.Sprintf("%s pods: %d, ready: %d", comp, n, ready))
		fix := ""
		if w, ok := r.component(comp); ok {
			fix = fmt.Sprintf("kubectl rollout restart %s/%s -n %s", strings.ToLower(w.Kind), w.Name, r.s.Namespace)
		}
		r.add(noEndpointsCode, comp, Object{Kind: "Service", Name: name}, fmt.Sprintf("Service %s has no ready endpoints", name), ev, fix)
	}
}

// expand replaces Kubernetes $(VAR) references with the ConfigMap's values.
func (r *runner) expand(v string) string {
	if !strings.Contains(v, "$(") {
		return v
	}
	cm := r.appConfig()
	return envRefRE.ReplaceAllStringFunc(v, func(m string) string {
		if x, ok := cm[m[2:len(m)-1]]; ok {
			return x
		}
		return m
	})
}

var envRefRE = regexp.MustCompile(`\$\([A-Za-z_][A-Za-z0-9_]*\)`)

// checkURLHost reports a connection URL, or host setting, whose host is not a
// Service of the namespace (DESIGN trap 1).
func (r *runner) checkURLHost(code, key, comp string, hostKeys ...string) {
	if !r.begin(code, KindConfigMaps, KindServices, KindDeployments, KindStatefulSets) {
		return
	}
	c, _ := app.LookupComponent(comp)
	want := r.s.Env.ServiceName(c)
	for _, k := range append([]string{key}, hostKeys...) {
		raw, where := r.urlSetting(k, app.API, app.Worker)
		if raw == "" {
			continue
		}
		val := r.expand(raw)
		host := strings.TrimSpace(val)
		if k == key {
			h, err := urlHost(val)
			if err != nil {
				if strings.Contains(val, "$(") {
					continue // a reference the ConfigMap does not resolve: PIY202 covers it
				}
				r.add(code, comp, Object{Kind: "ConfigMap", Name: r.appConfigName()}, fmt.Sprintf("%s in %s %v", k, where, err),
					[]string{k + "=" + redact.Line(raw)}, "")
				continue
			}
			host = h
		}
		svc, local := r.hostService(host)
		if !local {
			continue // another namespace or an outside address
		}
		if _, ok := r.s.Services[svc]; !ok {
			r.add(code, comp, Object{Kind: "ConfigMap", Name: r.appConfigName()},
				fmt.Sprintf("%s host %q (in %s) is not a Service of namespace %s; expected %s", k, host, where, r.s.Namespace, want),
				[]string{k + "=" + redact.Line(raw)},
				fmt.Sprintf("kubectl piyasa deploy config set %s=%s -n %s", k, fixedValue(k == key, val, want), r.s.Namespace))
		}
	}
}

func (r *runner) checkDatabase() {
	r.checkService(app.Postgres, "PIY301", "PIY302")
	r.checkURLHost("PIY303", app.KeyDatabaseURL, app.Postgres, "DATABASE_HOST", "DB_HOST", "POSTGRES_HOST")
	if r.begin("PIY304", KindConfigMaps) {
		names := make([]string, 0, len(r.s.ConfigMaps))
		for n := range r.s.ConfigMaps {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			data := r.s.ConfigMaps[n]
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				v := data[k]
				switch {
				case redact.URLPassword(v):
					r.add("PIY304", "app", Object{Kind: "ConfigMap", Name: n}, fmt.Sprintf("ConfigMap %s key %s holds a URL with a password", n, k),
						[]string{k + "=" + redact.Line(v)}, "")
				case v != "" && redact.SensitiveKey(k) && !strings.HasPrefix(v, "$("):
					r.add("PIY304", "app", Object{Kind: "ConfigMap", Name: n}, fmt.Sprintf("ConfigMap %s key %s looks like a credential", n, k),
						[]string{k + "=" + redact.Mask}, "")
				}
			}
		}
	}
	if r.begin("PIY305", KindDeployments, KindPVCs) {
		w, ok := r.component(app.Postgres)
		if ok && w.Deploy != nil && (w.Deploy.Spec.Strategy.Type == "" || w.Deploy.Spec.Strategy.Type == "RollingUpdate") {
			for _, v := range w.Template.Spec.Volumes {
				if v.PersistentVolumeClaim == nil {
					continue
				}
				for _, pvc := range r.s.PVCs {
					if pvc.Name != v.PersistentVolumeClaim.ClaimName {
						continue
					}
					for _, m := range pvc.Spec.AccessModes {
						if m == corev1.ReadWriteOnce || m == corev1.ReadWriteOncePod {
							r.add("PIY305", app.Postgres, w.obj(), fmt.Sprintf("Deployment %s uses strategy RollingUpdate with ReadWriteOnce PVC %s", w.Name, pvc.Name),
								[]string{"strategy: RollingUpdate", "accessModes: " + string(m)},
								fmt.Sprintf(`kubectl patch deployment %s -n %s -p '{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null}}}'`, w.Name, r.s.Namespace))
							break
						}
					}
				}
			}
		}
	}
}

func (r *runner) checkRedis() {
	r.checkService(app.Redis, "PIY351", "PIY352")
	r.checkURLHost("PIY353", app.KeyRedisURL, app.Redis, "REDIS_HOST")
}

func (r *runner) checkWorkers() {
	w, ok := r.component(app.Worker)
	if r.begin("PIY401", KindConfigMaps, KindStatefulSets) && ok {
		if v, has := r.appConfig()[app.KeyTotalWorkers]; has {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || int32(n) != w.Replicas {
				r.add("PIY401", app.Worker, w.obj(), fmt.Sprintf("TOTAL_WORKERS is %q in ConfigMap %s but StatefulSet %s has %d replicas", v, r.appConfigName(), w.Name, w.Replicas),
					[]string{"TOTAL_WORKERS=" + v, fmt.Sprintf("spec.replicas: %d", w.Replicas)},
					fmt.Sprintf("kubectl piyasa scale worker %d -n %s (sets TOTAL_WORKERS and the replicas together)", max(w.Replicas, 1), r.s.Namespace))
			}
		}
	}
	if r.begin("PIY402", KindHPAs, KindStatefulSets) {
		for _, h := range r.s.HPAs {
			ref := h.Spec.ScaleTargetRef
			if ref.Kind != "StatefulSet" {
				continue
			}
			isWorker := ok && ref.Name == w.Name
			for _, st := range r.s.StatefulSets {
				if st.Name == ref.Name && app.ComponentNameForLabels(st.Spec.Template.Labels) == app.Worker {
					isWorker = true
				}
			}
			if isWorker {
				r.add("PIY402", app.Worker, Object{Kind: "HorizontalPodAutoscaler", Name: h.Name},
					fmt.Sprintf("HPA %s scales StatefulSet %s (%d-%d) while TOTAL_WORKERS is fixed at %s", h.Name, ref.Name, replicas(h.Spec.MinReplicas), h.Spec.MaxReplicas, r.appConfig()[app.KeyTotalWorkers]),
					[]string{fmt.Sprintf("scaleTargetRef: StatefulSet/%s", ref.Name)},
					fmt.Sprintf("kubectl delete hpa %s -n %s; then kubectl piyasa scale worker N -n %s", h.Name, r.s.Namespace, r.s.Namespace))
			}
		}
	}
}

// fixedValue is the setting with its host replaced by the Service (and any password dropped).
func fixedValue(isURL bool, val, svc string) string {
	if !isURL {
		return svc
	}
	u, err := url.Parse(strings.TrimSpace(val))
	if err != nil {
		return svc
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if p := u.Port(); p != "" {
		u.Host = svc + ":" + p
	} else {
		u.Host = svc
	}
	return u.String()
}

func selectorString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}
