package standby_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2efleet"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// appObjects lists the Deployments, StatefulSets and Secrets of ns.
func appObjects(t *testing.T, cs kubernetes.Interface, ns string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	ds, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds.Items {
		out = append(out, "deployment/"+d.Name)
	}
	ss, err := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss.Items {
		out = append(out, "statefulset/"+s.Name)
	}
	secrets, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		out = append(out, "secret/"+s.Name)
	}
	return out
}

func replicasOf(t *testing.T, cs kubernetes.Interface, ns, kind, name string) int32 {
	t.Helper()
	var r *int32
	var err error
	if kind == app.KindDeployment {
		var d *appsv1.Deployment
		if d, err = cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{}); err == nil {
			r = d.Spec.Replicas
		}
	} else {
		var s *appsv1.StatefulSet
		if s, err = cs.AppsV1().StatefulSets(ns).Get(context.Background(), name, metav1.GetOptions{}); err == nil {
			r = s.Spec.Replicas
		}
	}
	if err != nil || r == nil {
		t.Fatalf("%s %s: %v", kind, name, err)
	}
	return *r
}

// TestDeployFleet: `kubectl piyasa deploy --fleet` on the two clusters: a
// client dry run changes nothing; the deploy makes the primary's replication
// Service, TLS and pg_hba, the role piyasa_replicator in the real PostgreSQL
// with the Secret's password (a replication connection with it works), and
// the standby with clone-primary pointed at the primary, workers, api and
// frontend at 0; both Secrets piyasa-replication hold the same keys and
// values, and a redeploy keeps them.
func TestDeployFleet(t *testing.T) {
	primary, standby := harness.ClusterOf(t, "primary"), harness.ClusterOf(t, "standby")
	ns := primary.Namespace(t, "fleet")
	standby.CreateNamespace(t, ns)
	pcs, scs := primary.Client(t), standby.Client(t)
	env := harness.InitEnv(t, filepath.Join(t.TempDir(), ".env"))
	pg := harness.StartPostgres(t, app.DatabaseUser, harness.CanaryValue("pw"), app.DatabaseName, harness.WithReplication())
	// Execs into the primary cluster's postgres pod (psql of deploy --fleet) reach pg.
	pg.ClusterExecIn(t, primary, ns, "", nil)
	fleetFile := e2efleet.DeployFleet(t, ns, pg)

	r := harness.Piyasa(t, "deploy", "--fleet", fleetFile, "--env-file", env, "--dry-run=client").RunOK()
	for _, want := range []string{"=== context primary (region eu, primary", "=== context standby (region us, standby",
		"clone-primary clones the primary region eu at " + fmt.Sprintf("%s:%d", pg.Host, pg.Port)} {
		if !strings.Contains(r.Stdout, want) {
			t.Fatalf("the dry run's plan lacks %q:\n%s", want, r.Stdout)
		}
	}
	for name, cs := range map[string]kubernetes.Interface{"primary": pcs, "standby": scs} {
		if objs := appObjects(t, cs, ns); len(objs) != 0 {
			t.Fatalf("%s: the client dry run made %v", name, objs)
		}
	}

	r = harness.Piyasa(t, "deploy", "--fleet", fleetFile, "--env-file", env, "--timeout", "3m").WithTimeout(6 * time.Minute).RunOK()
	if p, s := strings.Index(r.Stdout, "=== context primary"), strings.Index(r.Stdout, "=== context standby"); p < 0 || s < p {
		t.Fatalf("the primary is not deployed first:\n%s", r.Stdout)
	}
	ctx := context.Background()

	t.Run("the primary", func(t *testing.T) {
		svc, err := pcs.CoreV1().Services(ns).Get(ctx, "dev-"+app.ReplicationService, metav1.GetOptions{})
		if err != nil || svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			t.Fatalf("the replication Service: %v %+v", err, svc.Spec)
		}
		hba, err := pcs.CoreV1().ConfigMaps(ns).Get(ctx, "dev-"+app.PGHBAConfigMap, metav1.GetOptions{})
		if err != nil || !strings.Contains(hba.Data["pg_hba.conf"], app.PGHBAReplicationLine+"\n") {
			t.Fatalf("pg_hba.conf: %v %q", err, hba.Data)
		}
		pgDep, err := pcs.AppsV1().Deployments(ns).Get(ctx, "dev-"+app.Postgres, metav1.GetOptions{})
		if err != nil || !slices.Contains(pgDep.Spec.Template.Spec.Containers[0].Args, "ssl=on") || len(pgDep.Spec.Template.Spec.InitContainers) != 0 {
			t.Fatalf("the primary's postgres: %v %+v", err, pgDep.Spec.Template.Spec.Containers[0].Args)
		}
		if n := replicasOf(t, pcs, ns, app.KindStatefulSet, "dev-worker"); n != app.Environments["dev"].Replicas[app.Worker] {
			t.Errorf("the primary's workers: %d", n)
		}
		if got := pg.MustPsql(t, app.DatabaseName, "SELECT rolreplication AND rolcanlogin FROM pg_roles WHERE rolname = '"+app.ReplicationRole+"'"); got != "t" {
			t.Errorf("role %s replication and login: %q", app.ReplicationRole, got)
		}
	})

	var data map[string][]byte
	t.Run("the same Secret in both regions", func(t *testing.T) {
		ps, err := pcs.CoreV1().Secrets(ns).Get(ctx, app.ReplicationSecret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ss, err := scs.CoreV1().Secrets(ns).Get(ctx, app.ReplicationSecret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{app.KeyReplicationPassword, app.KeyTLSCert, app.KeyTLSKey} {
			if len(ps.Data[k]) == 0 || !bytes.Equal(ps.Data[k], ss.Data[k]) {
				t.Errorf("key %s: missing or different in the two regions", k)
			}
		}
		data = ps.Data
		if pw := string(data[app.KeyReplicationPassword]); pw == "" || strings.Contains(r.Stdout+r.Stderr, pw) {
			t.Fatal("the replication password is empty or was printed")
		}
	})

	t.Run("the role's password is the Secret's", func(t *testing.T) {
		// A replication connection as piyasa_replicator, as a standby makes it.
		cmd := exec.Command(filepath.Join(pg.BinDir, "psql"), "-X", "-At",
			fmt.Sprintf("host=%s port=%d user=%s dbname=replication replication=true", pg.Host, pg.Port, app.ReplicationRole), "-c", "IDENTIFY_SYSTEM")
		cmd.Env = append(os.Environ(), "PGPASSWORD="+string(data[app.KeyReplicationPassword]), "PGSSLMODE=disable")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "|") {
			t.Fatalf("replication connection with the Secret's password: %v\n%s", err, out)
		}
	})

	t.Run("the standby", func(t *testing.T) {
		d, err := scs.AppsV1().Deployments(ns).Get(ctx, "dev-"+app.Postgres, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		spec := d.Spec.Template.Spec
		if len(spec.InitContainers) != 1 || spec.InitContainers[0].Name != app.CloneContainer || spec.InitContainers[0].Image != spec.Containers[0].Image {
			t.Fatalf("initContainers %+v", spec.InitContainers)
		}
		vals, secrets := map[string]string{}, map[string]string{}
		for _, e := range spec.InitContainers[0].Env {
			vals[e.Name] = e.Value
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				secrets[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
			}
		}
		if vals[app.EnvPrimaryHost] != pg.Host || vals[app.EnvPrimaryPort] != fmt.Sprint(pg.Port) ||
			secrets[app.KeyReplicationPassword] != app.ReplicationSecret+"/"+app.KeyReplicationPassword {
			t.Errorf("clone-primary env %v, secrets %v", vals, secrets)
		}
		if script := strings.Join(spec.InitContainers[0].Args, " "); !strings.Contains(script, "pg_basebackup") || !strings.Contains(script, "sslmode=require") {
			t.Errorf("clone-primary script:\n%s", script)
		}
		if !slices.Contains(spec.Containers[0].Args, "hot_standby=on") {
			t.Errorf("the standby's postgres args %q", spec.Containers[0].Args)
		}
		for _, w := range []struct{ kind, name string }{{app.KindStatefulSet, "dev-worker"}, {app.KindDeployment, "dev-api"}, {app.KindDeployment, "dev-frontend"}} {
			if n := replicasOf(t, scs, ns, w.kind, w.name); n != 0 {
				t.Errorf("the standby's %s: %d replicas, want 0", w.name, n)
			}
		}
		hpas, err := scs.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(hpas.Items) != 0 {
			t.Errorf("the standby's HPAs: %v %d", err, len(hpas.Items))
		}
		if _, err := scs.CoreV1().Services(ns).Get(ctx, "dev-"+app.ReplicationService, metav1.GetOptions{}); err == nil {
			t.Error("the standby has the primary's replication Service")
		}
	})

	t.Run("clone-primary's script clones the primary over TLS", func(t *testing.T) {
		// kwok runs no container: run the standby's initContainer script here,
		// against the harness's primary with TLS on (the Secret's certificate).
		d, err := scs.AppsV1().Deployments(ns).Get(ctx, "dev-"+app.Postgres, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		enableTLS(t, pg, data)
		clone := d.Spec.Template.Spec.InitContainers[0]
		pgdata := filepath.Join(t.TempDir(), "pgdata")
		script := func() string {
			cmd := exec.Command(clone.Command[0], append(clone.Command[1:], clone.Args...)...)
			cmd.Env = append(os.Environ(), "PATH="+pg.BinDir+":"+os.Getenv("PATH"), "PGDATA="+pgdata, app.EnvPrimaryHost+"="+pg.Host,
				app.EnvPrimaryPort+"="+fmt.Sprint(pg.Port), app.KeyReplicationPassword+"="+string(data[app.KeyReplicationPassword]))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("clone-primary: %v\n%s", err, out)
			}
			return string(out)
		}
		if out := script(); !strings.Contains(out, "cloning the primary at "+pg.Host) {
			t.Fatalf("clone-primary said:\n%s", out)
		}
		auto, err := os.ReadFile(filepath.Join(pgdata, "postgresql.auto.conf"))
		if err != nil || !strings.Contains(string(auto), "sslmode=require") || !strings.Contains(string(auto), "user="+app.ReplicationRole) {
			t.Fatalf("the clone's primary_conninfo: %v\n%s", err, auto)
		}
		for _, f := range []string{"standby.signal", "PG_VERSION"} {
			if _, err := os.Stat(filepath.Join(pgdata, f)); err != nil {
				t.Errorf("the clone has no %s: %v", f, err)
			}
		}
		// A second start keeps the database it has.
		if out := script(); !strings.Contains(out, "holds a database") {
			t.Errorf("clone-primary on a cloned directory said:\n%s", out)
		}
	})

	t.Run("a redeploy keeps the Secret", func(t *testing.T) {
		r := harness.Piyasa(t, "deploy", "--fleet", fleetFile, "--env-file", env, "--timeout", "3m").WithTimeout(6 * time.Minute).RunOK()
		if !strings.Contains(r.Stdout, "secret/"+app.ReplicationSecret+" unchanged") {
			t.Errorf("redeploy:\n%s", r.Stdout)
		}
		ss, err := scs.CoreV1().Secrets(ns).Get(ctx, app.ReplicationSecret, metav1.GetOptions{})
		if err != nil || !bytes.Equal(ss.Data[app.KeyReplicationPassword], data[app.KeyReplicationPassword]) {
			t.Errorf("the standby's password changed: %v", err)
		}
	})
}

// enableTLS turns ssl on in the harness's server with the certificate and
// key of Secret piyasa-replication (a reload, as PostgreSQL allows).
func enableTLS(t *testing.T, pg *harness.Postgres, data map[string][]byte) {
	t.Helper()
	st, err := os.Stat(pg.Data)
	if err != nil {
		t.Fatal(err)
	}
	owner := st.Sys().(*syscall.Stat_t)
	for _, k := range []string{app.KeyTLSCert, app.KeyTLSKey} {
		path := filepath.Join(pg.Data, "replication-"+k)
		if err := os.WriteFile(path, data[k], 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, int(owner.Uid), int(owner.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	pg.MustPsql(t, "postgres", "ALTER SYSTEM SET ssl_cert_file = 'replication-"+app.KeyTLSCert+"'")
	pg.MustPsql(t, "postgres", "ALTER SYSTEM SET ssl_key_file = 'replication-"+app.KeyTLSKey+"'")
	pg.MustPsql(t, "postgres", "ALTER SYSTEM SET ssl = on")
	pg.MustPsql(t, "postgres", "SELECT pg_reload_conf()")
	// The postmaster reads the configuration when it gets the reload's signal.
	for i := 0; pg.MustPsql(t, "postgres", "SHOW ssl") != "on"; i++ {
		if i == 100 {
			t.Fatalf("ssl is still off after the reload; the server's log:\n%s", pg.ServerLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
