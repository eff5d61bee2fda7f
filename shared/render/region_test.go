package render

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// envOf returns the plain values and the Secret references of a container's env.
func envOf(c map[string]any) (vals, secrets map[string]string) {
	vals, secrets = map[string]string{}, map[string]string{}
	env, _, _ := unstructured.NestedSlice(c, "env")
	for _, e := range env {
		m := e.(map[string]any)
		name := m["name"].(string)
		if v, ok := m["value"].(string); ok {
			vals[name] = v
		}
		sec, _, _ := unstructured.NestedString(m, "valueFrom", "secretKeyRef", "name")
		key, _, _ := unstructured.NestedString(m, "valueFrom", "secretKeyRef", "key")
		if sec != "" {
			secrets[name] = sec + "/" + key
		}
	}
	return vals, secrets
}

func replicasOf(t *testing.T, objs []*unstructured.Unstructured, kind, name string) int64 {
	t.Helper()
	u := find(objs, kind, name)
	if u == nil {
		t.Fatalf("no %s %s", kind, name)
	}
	n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	return n
}

func postgresArgs(t *testing.T, objs []*unstructured.Unstructured, env app.Environment) []string {
	t.Helper()
	args, _, _ := unstructured.NestedStringSlice(firstContainer(find(objs, "Deployment", env.Prefix+app.Postgres)), "args")
	return args
}

// TestPrimaryRegion: the primary's PostgreSQL serves TLS from Secret
// piyasa-replication, pg_hba lets piyasa_replicator stream over TLS, and the
// Service the standbys reach has the fleet's type; everything else is the
// overlay's.
func TestPrimaryRegion(t *testing.T) {
	for _, name := range app.EnvironmentNames() {
		env := app.Environments[name]
		lone := mustRender(t, Options{Env: env, Namespace: "eu"})
		objs := mustRender(t, Options{Env: env, Namespace: "eu", Region: &Region{Role: app.RegionPrimary, ServiceType: "NodePort"}})
		if len(objs) != len(lone)+2 {
			t.Errorf("%s: %d objects, want the overlay's %d plus a Service and a NetworkPolicy", name, len(objs), len(lone))
		}
		cm := find(objs, "ConfigMap", env.Prefix+app.PGHBAConfigMap)
		conf, _, _ := unstructured.NestedString(cm.Object, "data", "pg_hba.conf")
		if got, want := strings.Split(strings.TrimSpace(conf), "\n"), app.PGHBAPrimaryLines(); !slices.Equal(got, want) {
			t.Errorf("%s: pg_hba.conf\n%q\nwant\n%q", name, got, want)
		}
		args := strings.Join(postgresArgs(t, objs, env), " ")
		for _, want := range []string{"-c ssl=on", "-c ssl_cert_file=" + app.PGTLSDir + "/" + app.KeyTLSCert, "-c ssl_key_file=" + app.PGTLSDir + "/" + app.KeyTLSKey, "-c hba_file="} {
			if !strings.Contains(args, want) {
				t.Errorf("%s: postgres args %q lack %q", name, args, want)
			}
		}
		pg := find(objs, "Deployment", env.Prefix+app.Postgres)
		vols, _, _ := unstructured.NestedSlice(pg.Object, "spec", "template", "spec", "volumes")
		secret := ""
		for _, v := range vols {
			if s, ok, _ := unstructured.NestedString(v.(map[string]any), "secret", "secretName"); ok {
				secret = s
			}
		}
		if secret != app.ReplicationSecret {
			t.Errorf("%s: the certificate's volume is Secret %q, want %s", name, secret, app.ReplicationSecret)
		}
		svc := find(objs, "Service", env.Prefix+app.ReplicationService)
		if typ, _, _ := unstructured.NestedString(svc.Object, "spec", "type"); typ != "NodePort" || svc.GetNamespace() != "eu" {
			t.Errorf("%s: Service %s is %s in %s, want NodePort in eu", name, svc.GetName(), typ, svc.GetNamespace())
		}
		if np := find(objs, "NetworkPolicy", env.Prefix+app.ReplicationPolicy); np == nil || np.GetLabels()["environment"] != name {
			t.Errorf("%s: NetworkPolicy %s missing or without the environment's labels", name, env.Prefix+app.ReplicationPolicy)
		}
		if n := replicasOf(t, objs, "StatefulSet", env.Prefix+app.Worker); n != int64(env.Replicas[app.Worker]) {
			t.Errorf("%s: primary workers %d, want %d", name, n, env.Replicas[app.Worker])
		}
	}
	def := mustRender(t, Options{Env: app.Environments["dev"], Region: &Region{Role: app.RegionPrimary}})
	if typ, _, _ := unstructured.NestedString(find(def, "Service", "dev-"+app.ReplicationService).Object, "spec", "type"); typ != "LoadBalancer" {
		t.Errorf("default replication Service type %q, want LoadBalancer", typ)
	}
}

// TestStandbyRegion: a standby's postgres clones the primary when empty
// (initContainer, same image, env from the fleet and the Secret) and runs
// hot_standby; workers, api and frontend are at 0 without HPAs or PDBs, the
// backup CronJob is suspended, and TOTAL_WORKERS stays the primary's.
func TestStandbyRegion(t *testing.T) {
	for _, name := range app.EnvironmentNames() {
		env := app.Environments[name]
		objs := mustRender(t, Options{Env: env, Region: &Region{Role: app.RegionStandby, PrimaryHost: "pg.eu.example.com", PrimaryPort: 31432}})
		if !slices.Contains(postgresArgs(t, objs, env), "hot_standby=on") {
			t.Errorf("%s: postgres args lack hot_standby=on", name)
		}
		pg := find(objs, "Deployment", env.Prefix+app.Postgres)
		inits, _, _ := unstructured.NestedSlice(pg.Object, "spec", "template", "spec", "initContainers")
		if len(inits) != 1 {
			t.Fatalf("%s: %d initContainers, want 1", name, len(inits))
		}
		clone := inits[0].(map[string]any)
		if clone["name"] != app.CloneContainer || clone["image"] != firstContainer(pg)["image"] {
			t.Errorf("%s: initContainer %v image %v, want %s with the postgres image", name, clone["name"], clone["image"], app.CloneContainer)
		}
		script := strings.Join(func() []string { a, _, _ := unstructured.NestedStringSlice(clone, "args"); return a }(), " ")
		for _, want := range []string{"PG_VERSION", "pg_basebackup", " -R ", "-X stream", "sslmode=require", "user=" + app.ReplicationRole} {
			if !strings.Contains(script, want) {
				t.Errorf("%s: clone script lacks %q:\n%s", name, want, script)
			}
		}
		vals, secrets := envOf(clone)
		if vals[app.EnvPrimaryHost] != "pg.eu.example.com" || vals[app.EnvPrimaryPort] != "31432" || vals["PGDATA"] != app.PGDataDir {
			t.Errorf("%s: clone env %v", name, vals)
		}
		if secrets[app.KeyReplicationPassword] != app.ReplicationSecret+"/"+app.KeyReplicationPassword {
			t.Errorf("%s: REPLICATION_PASSWORD from %q, want Secret %s", name, secrets[app.KeyReplicationPassword], app.ReplicationSecret)
		}
		for _, w := range []struct{ kind, comp string }{{"StatefulSet", app.Worker}, {"Deployment", app.API}, {"Deployment", app.Frontend}} {
			if n := replicasOf(t, objs, w.kind, env.Prefix+w.comp); n != 0 {
				t.Errorf("%s: standby %s replicas %d, want 0", name, w.comp, n)
			}
		}
		for _, u := range objs {
			switch {
			case u.GetKind() == "HorizontalPodAutoscaler":
				t.Errorf("%s: standby has HPA %s", name, u.GetName())
			case u.GetKind() == "PodDisruptionBudget" && !strings.Contains(u.GetName(), app.Postgres) && !strings.Contains(u.GetName(), app.Redis):
				t.Errorf("%s: standby has PDB %s for a component at 0", name, u.GetName())
			case u.GetKind() == "Service" && u.GetName() == env.Prefix+app.ReplicationService:
				t.Errorf("%s: standby has the primary's Service %s", name, u.GetName())
			}
		}
		if s, _, _ := unstructured.NestedBool(find(objs, "CronJob", env.Prefix+app.BackupCronJob).Object, "spec", "suspend"); !s {
			t.Errorf("%s: the standby's backup CronJob is not suspended", name)
		}
		cm := find(objs, "ConfigMap", env.Prefix+app.ConfigMapName)
		if tw, _, _ := unstructured.NestedString(cm.Object, "data", app.KeyTotalWorkers); tw != strconv.Itoa(int(env.TotalWorkers)) {
			t.Errorf("%s: standby TOTAL_WORKERS %s, want the primary's %d", name, tw, env.TotalWorkers)
		}
		np := find(objs, "NetworkPolicy", env.Prefix+app.ReplicationPolicy)
		port, _, _ := unstructured.NestedSlice(np.Object, "spec", "egress")
		if p := port[0].(map[string]any)["ports"].([]any)[0].(map[string]any)["port"]; p != int64(31432) {
			t.Errorf("%s: egress to the primary on port %v, want 31432", name, p)
		}
	}
}

// TestRegionRefusesUserManifests: a region renders the embedded manifests only.
func TestRegionRefusesUserManifests(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Render(Options{Env: app.Environments["dev"], Dir: dir, Region: &Region{Role: app.RegionStandby}})
	if err == nil || !strings.Contains(err.Error(), "embedded manifests only") {
		t.Fatalf("a region with --manifests: %v, want a refusal", err)
	}
}
