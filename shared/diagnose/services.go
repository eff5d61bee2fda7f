package diagnose

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

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
		msg := fmt.Sprintf("Service %s has no ready endpoints", name)
		fix := ""
		if w, ok := r.component(comp); ok {
			// the cause first: no replicas wanted, or pods that cannot be created
			switch e, blocked := r.failedCreate(w); {
			case w.Replicas == 0:
				msg += fmt.Sprintf(": %s/%s has 0 replicas", strings.ToLower(w.Kind), w.Name)
				fix = r.scaleUpFix(w)
			case blocked:
				msg += fmt.Sprintf(": %s %s cannot create pods (%s)", e.Kind, e.Name, truncate(e.Message, 160))
				fix = createFix(e, r.s.Namespace)
			default:
				fix = fmt.Sprintf("kubectl rollout restart %s/%s -n %s", strings.ToLower(w.Kind), w.Name, r.s.Namespace)
			}
		}
		r.add(noEndpointsCode, comp, Object{Kind: "Service", Name: name}, msg, ev, fix)
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
// Service of the namespace (an unprefixed name in a prefixed environment).
// When the host already is the expected Service and only that Service is
// missing, missingCode (PIY301, PIY351) is the cause and reports it; code says
// so itself only when missingCode does not run.
func (r *runner) checkURLHost(code, missingCode, key, comp string, hostKeys ...string) {
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
		if _, ok := r.s.Services[svc]; ok {
			continue
		}
		if svc == want {
			if !r.selected(missingCode) {
				r.add(code, comp, Object{Kind: "ConfigMap", Name: r.appConfigName()},
					fmt.Sprintf("%s host %q (in %s) is the right Service name, but Service %s is missing from namespace %s", k, host, where, want, r.s.Namespace),
					[]string{k + "=" + redact.Line(raw)}, codeIndex[missingCode].Fix)
			}
			continue
		}
		r.add(code, comp, Object{Kind: "ConfigMap", Name: r.appConfigName()},
			fmt.Sprintf("%s host %q (in %s) is not a Service of namespace %s; expected %s", k, host, where, r.s.Namespace, want),
			[]string{k + "=" + redact.Line(raw)},
			fmt.Sprintf("kubectl piyasa deploy config set %s=%s -n %s", k, fixedValue(k == key, val, want), r.s.Namespace))
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
