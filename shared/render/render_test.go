package render

import (
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func mustRender(t *testing.T, o Options) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(o)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestOverlaysAvoidTheTraps checks both overlays against the known deployment traps.
func TestOverlaysAvoidTheTraps(t *testing.T) {
	for _, name := range app.EnvironmentNames() {
		env := app.Environments[name]
		t.Run(name, func(t *testing.T) {
			objs := mustRender(t, Options{Env: env})
			if objs[0].GetKind() != "Namespace" || objs[0].GetName() != env.Namespace {
				t.Fatalf("first object %s/%s, want Namespace %s", objs[0].GetKind(), objs[0].GetName(), env.Namespace)
			}
			for _, o := range objs[1:] {
				if o.GetNamespace() != env.Namespace {
					t.Errorf("%s/%s in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
				}
				if !strings.HasPrefix(o.GetName(), env.Prefix) {
					t.Errorf("%s/%s lacks prefix %s", o.GetKind(), o.GetName(), env.Prefix)
				}
				if o.GetKind() == "Secret" {
					t.Errorf("a Secret is in the manifests")
				}
			}
			cm := find(objs, "ConfigMap", env.ConfigMap())
			if cm == nil {
				t.Fatal("no ConfigMap")
			}
			data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
			for _, k := range app.ConfigKeys {
				if _, ok := data[k]; !ok {
					t.Errorf("ConfigMap lacks %s", k)
				}
			}
			// Trap 1: hosts follow the prefix. Trap 2: no password.
			for _, k := range []string{app.KeyDatabaseURL, app.KeyRedisURL} {
				u, err := url.Parse(data[k])
				if err != nil {
					t.Fatal(err)
				}
				if find(objs, "Service", u.Hostname()) == nil {
					t.Errorf("%s host %q is not a rendered Service", k, u.Hostname())
				}
				if _, has := u.User.Password(); has {
					t.Errorf("%s holds a password", k)
				}
			}
			if find(objs, "Service", data[app.KeyDatabaseHost]) == nil {
				t.Errorf("DATABASE_HOST %q is not a Service", data[app.KeyDatabaseHost])
			}
			for k := range data {
				if strings.Contains(k, "PASSWORD") || strings.Contains(k, "SECRET") || strings.Contains(k, "TOKEN") {
					t.Errorf("ConfigMap key %s looks secret", k)
				}
			}
			// Trap 3: TOTAL_WORKERS = worker replicas, no worker HPA.
			worker := find(objs, "StatefulSet", env.Prefix+"worker")
			reps, _, _ := unstructured.NestedInt64(worker.Object, "spec", "replicas")
			if strconv.FormatInt(reps, 10) != data[app.KeyTotalWorkers] || int32(reps) != env.Replicas[app.Worker] || env.TotalWorkers != int32(reps) {
				t.Errorf("worker replicas %d, TOTAL_WORKERS %s, env %d", reps, data[app.KeyTotalWorkers], env.Replicas[app.Worker])
			}
			for _, o := range objs {
				if o.GetKind() == "HorizontalPodAutoscaler" {
					kind, _, _ := unstructured.NestedString(o.Object, "spec", "scaleTargetRef", "kind")
					target, _, _ := unstructured.NestedString(o.Object, "spec", "scaleTargetRef", "name")
					if kind == "StatefulSet" || find(objs, kind, target) == nil {
						t.Errorf("HPA %s targets %s/%s", o.GetName(), kind, target)
					}
					min, _, _ := unstructured.NestedInt64(o.Object, "spec", "minReplicas")
					comp := strings.TrimSuffix(strings.TrimPrefix(target, env.Prefix), "")
					if int32(min) != env.Replicas[comp] {
						t.Errorf("HPA %s min %d, env replicas %d", o.GetName(), min, env.Replicas[comp])
					}
				}
			}
			// Trap 4: Recreate for PostgreSQL.
			pg := find(objs, "Deployment", env.Prefix+"postgres")
			if s, _, _ := unstructured.NestedString(pg.Object, "spec", "strategy", "type"); s != "Recreate" {
				t.Errorf("postgres strategy %q", s)
			}
			// Trap 5: Secret keys read are keys every .env defines; trap 6 and 7 and 8.
			for _, o := range objs {
				walkContainers(o, func(c map[string]any) {
					img, _ := c["image"].(string)
					if !strings.Contains(img, ":") || strings.HasSuffix(img, ":latest") || c["imagePullPolicy"] != "IfNotPresent" {
						t.Errorf("%s: image %q pull %v", o.GetName(), img, c["imagePullPolicy"])
					}
					if _, ok, _ := unstructured.NestedMap(c, "resources", "limits"); !ok {
						t.Errorf("%s: no limits", o.GetName())
					}
					if v, _, _ := unstructured.NestedBool(c, "securityContext", "allowPrivilegeEscalation"); v {
						t.Errorf("%s: privilege escalation", o.GetName())
					}
					env, _, _ := unstructured.NestedSlice(c, "env")
					for _, e := range env {
						key, ok, _ := unstructured.NestedString(e.(map[string]any), "valueFrom", "secretKeyRef", "key")
						if ok && !contains(app.RequiredSecretKeys, key) {
							t.Errorf("%s reads Secret key %s that a .env need not define", o.GetName(), key)
						}
						if v, _ := e.(map[string]any)["value"].(string); strings.Contains(strings.ToLower(v), "password") && !strings.Contains(v, "$(DATABASE_PASSWORD)") {
							t.Errorf("%s: literal password in env", o.GetName())
						}
					}
				})
			}
			api := find(objs, "Deployment", env.Prefix+"api")
			if p, _, _ := unstructured.NestedString(firstContainer(api), "readinessProbe", "httpGet", "path"); p != "/readyz" {
				t.Errorf("api readiness %q", p)
			}
			if _, found, _ := unstructured.NestedInt64(api.Object, "spec", "replicas"); found {
				t.Errorf("api sets replicas although its HPA owns them")
			}
			ing := find(objs, "Ingress", env.Prefix+app.IngressName)
			if ing.GetAnnotations()["nginx.ingress.kubernetes.io/cors-allow-origin"] == "*" {
				t.Error("CORS *")
			}
			tls, _, _ := unstructured.NestedSlice(ing.Object, "spec", "tls")
			if (len(tls) > 0) != env.TLS {
				t.Errorf("TLS %v", tls)
			}
			if env.TLS {
				if s, _ := tls[0].(map[string]any)["secretName"].(string); s != app.TLSSecretName {
					t.Errorf("TLS secret %q", s)
				}
			}
			if find(objs, "NetworkPolicy", env.Prefix+app.DefaultDenyPolicy) == nil {
				t.Error("no default deny")
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func firstContainer(o *unstructured.Unstructured) map[string]any {
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	return cs[0].(map[string]any)
}

func walkContainers(o *unstructured.Unstructured, fn func(map[string]any)) {
	var path []string
	switch o.GetKind() {
	case "Deployment", "StatefulSet":
		path = []string{"spec", "template", "spec", "containers"}
	case "CronJob":
		path = []string{"spec", "jobTemplate", "spec", "template", "spec", "containers"}
	default:
		return
	}
	cs, _, _ := unstructured.NestedSlice(o.Object, path...)
	for _, c := range cs {
		fn(c.(map[string]any))
	}
}

func TestNamespaceAndImageOverride(t *testing.T) {
	objs := mustRender(t, Options{Env: app.Environments["dev"], Namespace: "e2e-abc", APIImage: "v2.0.0", FrontendImage: "registry.example.com/fe:1.2"})
	if objs[0].GetKind() != "Namespace" || objs[0].GetName() != "e2e-abc" {
		t.Fatalf("namespace object %s", objs[0].GetName())
	}
	for _, o := range objs[1:] {
		if o.GetNamespace() != "e2e-abc" {
			t.Errorf("%s/%s in %q", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	rb := find(objs, "RoleBinding", "dev-piyasa-app")
	subj, _, _ := unstructured.NestedSlice(rb.Object, "subjects")
	if ns := subj[0].(map[string]any)["namespace"]; ns != nil && ns != "e2e-abc" {
		t.Errorf("RoleBinding subject namespace %v", ns)
	}
	api := find(objs, "Deployment", "dev-api")
	worker := find(objs, "StatefulSet", "dev-worker")
	want := app.APIImage + ":v2.0.0"
	if firstContainer(api)["image"] != want || firstContainer(worker)["image"] != want {
		t.Errorf("images %v %v", firstContainer(api)["image"], firstContainer(worker)["image"])
	}
	if img := firstContainer(find(objs, "Deployment", "dev-frontend"))["image"]; img != "registry.example.com/fe:1.2" {
		t.Errorf("frontend image %v", img)
	}
}

func TestParseImage(t *testing.T) {
	good := map[string]string{
		"v2.0.0":                                app.APIImage + ":v2.0.0",
		"ghcr.io/x/y/api:1.0":                   "ghcr.io/x/y/api:1.0",
		"localhost:5000/api:1.0":                "localhost:5000/api:1.0",
		"api@sha256:" + strings.Repeat("a", 64): "api@sha256:" + strings.Repeat("a", 64),
	}
	for in, want := range good {
		img, err := ParseImage(app.APIImage, in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := ImageRef(img); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	for _, in := range []string{"", "latest", "ghcr.io/x/api:latest", "ghcr.io/x/api", "Bad/Name:1", "x:bad tag", "api@sha256:12"} {
		if _, err := ParseImage(app.APIImage, in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestUserDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: [cm.yaml]\nnamePrefix: my-\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: piyasa-config\ndata:\n  A: b\n"), 0o644)
	objs := mustRender(t, Options{Env: app.Environments["dev"], Dir: dir, Namespace: "x"})
	if len(objs) != 1 || objs[0].GetName() != "my-piyasa-config" || objs[0].GetNamespace() != "x" {
		t.Fatalf("%v", objs)
	}
	if _, err := Render(Options{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no kustomization.yaml") {
		t.Fatalf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: [missing.yaml]\n"), 0o644)
	if _, err := Render(Options{Dir: dir}); err == nil || strings.Contains(err.Error(), userRoot+"/") {
		t.Fatalf("broken dir: %v", err)
	}
}

func BenchmarkRenderDev(b *testing.B) {
	for b.Loop() {
		if _, err := Render(Options{Env: app.Environments["dev"], Namespace: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPostgresArchivesWAL: both overlays run PostgreSQL archiving exactly as
// the Go side expects (archive_command = app.ArchiveCommand, archive_timeout =
// app.DefaultArchiveTimeout), into the WAL archive volume mounted at
// app.WALArchiveDir and named by WAL_ARCHIVE_DIR; prod's volume is larger.
func TestPostgresArchivesWAL(t *testing.T) {
	sizes := map[string]int64{}
	for _, name := range app.EnvironmentNames() {
		env := app.Environments[name]
		objs := mustRender(t, Options{Env: env})
		pg := find(objs, "Deployment", env.Prefix+app.Postgres)
		c := firstContainer(pg)
		args, _, _ := unstructured.NestedStringSlice(c, "args")
		settings := map[string]string{}
		for i := 0; i+1 < len(args); i += 2 {
			if args[i] != "-c" {
				t.Fatalf("%s: postgres args %q: want -c NAME=VALUE pairs", name, args)
			}
			k, v, _ := strings.Cut(args[i+1], "=")
			settings[k] = v
		}
		want := map[string]string{
			"wal_level": "replica", "archive_mode": "on", "archive_command": app.ArchiveCommand,
			"archive_timeout": strconv.Itoa(int(app.DefaultArchiveTimeout.Seconds())),
		}
		for k, v := range want {
			if settings[k] != v {
				t.Errorf("%s: postgres %s = %q, want %q", name, k, settings[k], v)
			}
		}
		envs := map[string]string{}
		list, _, _ := unstructured.NestedSlice(c, "env")
		for _, e := range list {
			m := e.(map[string]any)
			v, _ := m["value"].(string)
			envs[m["name"].(string)] = v
		}
		if envs[app.EnvWALArchiveDir] != app.WALArchiveDir || envs["PGDATA"] != app.PGDataDir {
			t.Errorf("%s: %s=%q PGDATA=%q", name, app.EnvWALArchiveDir, envs[app.EnvWALArchiveDir], envs["PGDATA"])
		}
		if claim := mountedClaim(pg, c, app.WALArchiveDir); claim != env.Prefix+app.WALArchivePVC {
			t.Errorf("%s: %s mounts claim %q, want %s", name, app.WALArchiveDir, claim, env.Prefix+app.WALArchivePVC)
		}
		pvc := find(objs, "PersistentVolumeClaim", env.Prefix+app.WALArchivePVC)
		if pvc == nil {
			t.Fatalf("%s: no PVC %s", name, env.Prefix+app.WALArchivePVC)
		}
		size, _, _ := unstructured.NestedString(pvc.Object, "spec", "resources", "requests", "storage")
		q, err := resource.ParseQuantity(size)
		if err != nil {
			t.Fatalf("%s: PVC size %q: %v", name, size, err)
		}
		sizes[name] = q.Value()
	}
	if sizes["prod"] <= sizes["dev"] {
		t.Errorf("WAL archive volume: prod %d bytes, dev %d: prod must be larger", sizes["prod"], sizes["dev"])
	}
}

// mountedClaim is the PVC that container c of workload w mounts at path ("" if none).
func mountedClaim(w *unstructured.Unstructured, c map[string]any, path string) string {
	mounts, _, _ := unstructured.NestedSlice(c, "volumeMounts")
	vol := ""
	for _, m := range mounts {
		if mm := m.(map[string]any); mm["mountPath"] == path {
			vol, _ = mm["name"].(string)
		}
	}
	vols, _, _ := unstructured.NestedSlice(w.Object, "spec", "template", "spec", "volumes")
	for _, v := range vols {
		if vm := v.(map[string]any); vm["name"] == vol && vol != "" {
			claim, _, _ := unstructured.NestedString(vm, "persistentVolumeClaim", "claimName")
			return claim
		}
	}
	return ""
}

// TestPostgresHBA: both overlays give PostgreSQL the pg_hba.conf of
// app.PGHBALines from the ConfigMap, mounted read-only where -c hba_file
// names it: the image's defaults plus replication over TCP for the app user.
func TestPostgresHBA(t *testing.T) {
	for _, name := range app.EnvironmentNames() {
		env := app.Environments[name]
		objs := mustRender(t, Options{Env: env})
		cm := find(objs, "ConfigMap", env.Prefix+app.PGHBAConfigMap)
		if cm == nil {
			t.Fatalf("%s: no ConfigMap %s", name, env.Prefix+app.PGHBAConfigMap)
		}
		conf, _, _ := unstructured.NestedString(cm.Object, "data", "pg_hba.conf")
		if got, want := strings.Split(strings.TrimSpace(conf), "\n"), app.PGHBALines; strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: pg_hba.conf lines\n%q\nwant\n%q", name, got, want)
		}
		pg := find(objs, "Deployment", env.Prefix+app.Postgres)
		c := firstContainer(pg)
		args, _, _ := unstructured.NestedStringSlice(c, "args")
		if !slices.Contains(args, "hba_file="+app.PGHBAFile) {
			t.Errorf("%s: postgres args %q lack hba_file=%s", name, args, app.PGHBAFile)
		}
		vol := ""
		mounts, _, _ := unstructured.NestedSlice(c, "volumeMounts")
		for _, m := range mounts {
			mm := m.(map[string]any)
			if mm["mountPath"] == path.Dir(app.PGHBAFile) && mm["readOnly"] == true {
				vol = mm["name"].(string)
			}
		}
		vols, _, _ := unstructured.NestedSlice(pg.Object, "spec", "template", "spec", "volumes")
		found := false
		for _, v := range vols {
			vm := v.(map[string]any)
			ref, _, _ := unstructured.NestedString(vm, "configMap", "name")
			found = found || (vm["name"] == vol && ref == env.Prefix+app.PGHBAConfigMap)
		}
		if !found {
			t.Errorf("%s: %s is not mounted read-only from ConfigMap %s", name, path.Dir(app.PGHBAFile), env.Prefix+app.PGHBAConfigMap)
		}
	}
}
