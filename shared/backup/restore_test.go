package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
)

const devNS = "piyasa-chatbot-dev"

// restoreDump is sampleDump with pg_dump's header line that turns lock waits off.
var restoreDump = strings.Replace(sampleDump, "COPY public.alembic_version", "SET statement_timeout = 0;\nSET lock_timeout = 0;\n\nCOPY public.alembic_version", 1)

// podDB plays the postgres pod for a restore: pg_dump, the load and psql.
type podDB struct {
	mu sync.Mutex
	tg *clitest.T
	// dump is what pg_dump writes (the safety backup); dumpStatus overrides its status line.
	dump       string
	dumpStatus string
	// tables and alembic are the database's content.
	tables  map[string]int64
	alembic string
	// sessions are the other sessions (sessionsSQL's output lines).
	sessions []string
	// loadRC and loadLast make the load fail as psql does.
	loadRC   int
	loadLast string
	// onLoad, when set, plays the load instead (after the txid line).
	onLoad   func(ctx context.Context) error
	txStatus string
	// events is what happened, in order; loadCmd and loadInput the load's command and input.
	events    []string
	loadCmd   []string
	loadInput string
	// atDump and atLoad are the app's state when the dump and the load ran.
	atDump, atLoad string
	annAtLoad      map[string]string
}

func newPodDB(tg *clitest.T) *podDB {
	return &podDB{tg: tg, dump: sampleDump, alembic: "0003", txStatus: "committed",
		tables: map[string]int64{"public.alembic_version": 1, `public."Weird (Name)"`: 5, "public.empty": 0, "public.after_backup": 3}}
}

func (p *podDB) appState() string {
	ctx := context.Background()
	d, err1 := p.tg.Fake.AppsV1().Deployments(devNS).Get(ctx, "dev-api", metav1.GetOptions{})
	s, err2 := p.tg.Fake.AppsV1().StatefulSets(devNS).Get(ctx, "dev-worker", metav1.GetOptions{})
	if err1 != nil || err2 != nil {
		return "missing"
	}
	return fmt.Sprintf("api=%d/%d worker=%d/%d", *d.Spec.Replicas, d.Status.Replicas, *s.Spec.Replicas, s.Status.Replicas)
}

func (p *podDB) Exec(ctx context.Context, _ *corev1.Pod, _ string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch cmd[3] {
	case "piyasa-backup":
		p.events = append(p.events, "dump")
		p.atDump = p.appState()
		io.WriteString(stdout, p.dump)
		st := p.dumpStatus
		if st == "" {
			sum := sha256.Sum256([]byte(p.dump))
			st = fmt.Sprintf("%s rc=0 tee=0 bytes=%d sha256=%s", StatusMarker, len(p.dump), hex.EncodeToString(sum[:]))
		}
		io.WriteString(stderr, st+"\n")
		return nil
	case "piyasa-restore":
		return p.load(ctx, cmd, stdin, stdout, stderr)
	case "piyasa-psql":
		return p.psql(cmd[len(cmd)-1], stdout, stderr)
	case "piyasa-df":
		io.WriteString(stdout, "/dev/vdb 10255636 2359296 7896340 23% /var/lib/postgresql/data\n")
		return nil
	}
	return fmt.Errorf("unexpected command %q", cmd)
}

func (p *podDB) load(ctx context.Context, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	p.events = append(p.events, "load")
	p.atLoad = p.appState()
	if d, err := p.tg.Fake.AppsV1().Deployments(devNS).Get(ctx, "dev-api", metav1.GetOptions{}); err == nil {
		p.annAtLoad = d.Annotations
	}
	p.loadCmd = cmd
	n, _ := strconv.ParseInt(cmd[4], 10, 64)
	var in bytes.Buffer
	if _, err := io.CopyN(&in, stdin, n); err != nil {
		return err
	}
	p.loadInput = in.String()
	for _, l := range strings.Split(p.loadInput, "\n") {
		if strings.HasPrefix(l, "COPY ") {
			io.WriteString(stdout, l+"\n")
		}
	}
	io.WriteString(stderr, "psql:<stdin>:1: NOTICE:  "+txidMarker+" 4242\n")
	if p.onLoad != nil {
		return p.onLoad(ctx)
	}
	if p.loadRC != 0 {
		fmt.Fprintf(stderr, "%s\n%s rc=%d bytes=%d\n", p.loadLast, RestoreMarker, p.loadRC, n)
		return nil
	}
	sc := NewDumpScanner()
	sc.Write(in.Bytes())
	p.tables, p.alembic = sc.Tables, sc.AlembicRevision()
	fmt.Fprintf(stderr, "%s rc=0 bytes=%d\n", RestoreMarker, n)
	return nil
}

func (p *podDB) psql(sql string, stdout, _ io.Writer) error {
	switch {
	case strings.Contains(sql, "pg_terminate_backend"):
		p.events = append(p.events, "terminate")
		p.sessions = nil
	case sql == sessionsSQL:
		p.events = append(p.events, "sessions")
		io.WriteString(stdout, strings.Join(p.sessions, "\n"))
	case sql == extraTablesSQL:
		var names []string
		for n := range p.tables {
			names = append(names, n)
		}
		sort.Strings(names)
		io.WriteString(stdout, strings.Join(names, "\n"))
	case sql == alembicSQL:
		io.WriteString(stdout, p.alembic+"\n")
	case strings.Contains(sql, "txid_status"):
		p.events = append(p.events, "txid_status")
		io.WriteString(stdout, p.txStatus+"\n")
	case strings.Contains(sql, "count(*)"):
		for n, c := range p.tables {
			if strings.Contains(sql, quoteLiteral(n)) {
				fmt.Fprintf(stdout, "%s\t%d\n", n, c)
			}
		}
	}
	return nil
}

// appObjects are the app's workloads (dev names) and the postgres pod.
func appObjects(api, worker int32, ann map[string]string) []runtime.Object {
	sts := appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker", Namespace: devNS, Annotations: ann},
		Spec: appsv1.StatefulSetSpec{Replicas: &worker, UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}}}
	d := appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dev-api", Namespace: devNS, Annotations: ann}, Spec: appsv1.DeploymentSpec{Replicas: &api}}
	settle(&d, &sts)
	return []runtime.Object{postgresPod(devNS), &d, &sts}
}

// settle sets a workload's status to its spec, as the controllers would.
func settle(objs ...runtime.Object) {
	for _, o := range objs {
		switch w := o.(type) {
		case *appsv1.Deployment:
			n := *w.Spec.Replicas
			w.Status = appsv1.DeploymentStatus{Replicas: n, ReadyReplicas: n, UpdatedReplicas: n, AvailableReplicas: n}
		case *appsv1.StatefulSet:
			n := *w.Spec.Replicas
			w.Status = appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: n, ReadyReplicas: n, UpdatedReplicas: n, AvailableReplicas: n}
		}
	}
}

// fakeController answers GetScale and settles the workloads after each patch.
func fakeController(tg *clitest.T) {
	tracker := tg.Fake.Tracker()
	for _, res := range []string{"deployments", "statefulsets"} {
		tg.Fake.PrependReactor("get", res, func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetSubresource() != "scale" {
				return false, nil, nil
			}
			obj, err := tracker.Get(a.GetResource(), a.GetNamespace(), a.(k8stesting.GetAction).GetName())
			if err != nil {
				return true, nil, err
			}
			var n int32
			switch w := obj.(type) {
			case *appsv1.Deployment:
				n = *w.Spec.Replicas
			case *appsv1.StatefulSet:
				n = *w.Spec.Replicas
			}
			return true, &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: n}}, nil
		})
		tg.Fake.PrependReactor("patch", res, func(a k8stesting.Action) (bool, runtime.Object, error) {
			_, obj, err := k8stesting.ObjectReaction(tracker)(a)
			if err != nil {
				return true, nil, err
			}
			settle(obj)
			return true, obj, tracker.Update(a.GetResource(), obj, a.GetNamespace())
		})
	}
}

// writeBackup writes a backup of dump (BackupInfo of dev, alembic abc123) into dir.
func writeBackup(t *testing.T, dir string, change func(*BackupInfo)) string {
	t.Helper()
	name := "piyasa_db-piyasa-chatbot-dev-20261130T020000Z.sql"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(restoreDump), 0o600); err != nil {
		t.Fatal(err)
	}
	sc := NewDumpScanner()
	sc.Write([]byte(restoreDump))
	sum := sha256.Sum256([]byte(restoreDump))
	h := hex.EncodeToString(sum[:])
	info := &BackupInfo{Name: name, Namespace: devNS, Environment: "dev", Database: app.DatabaseName, Format: FormatPgDump,
		AlembicRevision: sc.AlembicRevision(), Compression: string(None), RawBytes: int64(len(restoreDump)), RawSHA256: h,
		StoredBytes: int64(len(restoreDump)), StoredSHA256: h, Tables: sortedTables(sc.Tables), EndTime: clitest.Fixed.Add(-time.Hour)}
	if change != nil {
		change(info)
	}
	data, _ := info.Marshal()
	if err := os.WriteFile(filepath.Join(dir, name+MetadataSuffix), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// restoreWorld is a restore's options on fakes.
type restoreWorld struct {
	tg  *clitest.T
	db  *podDB
	o   *RestoreOptions
	dir string
}

func newRestoreWorld(t *testing.T, objs []runtime.Object, change func(*BackupInfo), opts func(*RestoreOptions)) *restoreWorld {
	t.Helper()
	dir := t.TempDir()
	file := writeBackup(t, dir, change)
	tg := clitest.New(devNS, objs...)
	fakeController(tg)
	db := newPodDB(tg)
	o := NewRestoreOptions(tg.Global)
	o.Executor, o.Ref, o.Yes = db, file, true
	if opts != nil {
		opts(o)
	}
	if err := o.Global.Complete(); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	return &restoreWorld{tg: tg, db: db, o: o, dir: dir}
}

func (w *restoreWorld) run(t *testing.T, ctx context.Context) *cli.Error {
	t.Helper()
	err := w.o.Run(ctx)
	if err == nil {
		return nil
	}
	var e *cli.Error
	if !asError(err, &e) {
		t.Fatalf("error %T %v, want a cli.Error", err, err)
	}
	if strings.Contains(e.Msg+e.Hint, "context canceled") || strings.Contains(e.Msg+e.Hint, "deadline exceeded") {
		t.Errorf("Go jargon in %q / %q", e.Msg, e.Hint)
	}
	return e
}

func (w *restoreWorld) annotations(t *testing.T) map[string]string {
	t.Helper()
	d, err := w.tg.Fake.AppsV1().Deployments(devNS).Get(context.Background(), "dev-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Annotations
}

func (w *restoreWorld) lease(t *testing.T) bool {
	_, err := w.tg.Fake.CoordinationV1().Leases(devNS).Get(context.Background(), "dev-piyasa-migrate", metav1.GetOptions{})
	return err == nil
}

func patches(tg *clitest.T) int {
	n := 0
	for _, a := range tg.Fake.Actions() {
		if a.GetVerb() == "patch" {
			n++
		}
	}
	return n
}

// TestRestoreLiveStopsFirstAndIsExact: the app is stopped (pods gone) before
// the safety backup; the restore record is on the app during the load; the
// load empties the app's schemas and bounds lock waits in the same
// transaction; afterwards the app runs, the record and the lock are gone,
// the safety backup is of kind pre-restore and the Alembic change is said.
func TestRestoreLiveStopsFirstAndIsExact(t *testing.T) {
	one := int32(1)
	pg := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dev-postgres", Namespace: devNS}, Spec: appsv1.DeploymentSpec{Replicas: &one}}
	w := newRestoreWorld(t, append(appObjects(1, 2, nil), pg), nil, nil)
	if e := w.run(t, context.Background()); e != nil {
		t.Fatalf("restore: %v (%s)", e, e.Hint)
	}
	// The time the app was stopped is kept for the next --dry-run.
	if m := w.o.lastMeasured(context.Background(), app.LastDumpRestoreAnnotation); m == nil || m.Seconds < 1 || m.RawBytes <= 0 {
		t.Errorf("measured restore %+v", m)
	}
	db := w.db
	if strings.Join(db.events, ",") != "dump,sessions,load,txid_status" && strings.Join(db.events, ",") != "dump,sessions,load" {
		t.Errorf("events %v", db.events)
	}
	if db.atDump != "api=0/0 worker=0/0" || db.atLoad != "api=0/0 worker=0/0" {
		t.Errorf("app at the safety backup %s, at the load %s: want it stopped", db.atDump, db.atLoad)
	}
	rec, err := app.ParseRestoreRecord(db.annAtLoad[app.RestoreAnnotation])
	if err != nil || rec.Replicas[app.API] != 1 || rec.Replicas[app.Worker] != 2 || !strings.HasSuffix(rec.Backup, ".sql") ||
		!strings.Contains(rec.SafetyBackup, "-pre-restore") || rec.Environment != "dev" || db.annAtLoad[ReplicasAnnotation] != "1" {
		t.Errorf("annotations at the load %v (%v)", db.annAtLoad, err)
	}
	cmd := strings.Join(db.loadCmd, " ")
	if !strings.Contains(cmd, "-c SET lock_timeout = '30000ms' -c "+exactSQL+" -f -") || !strings.Contains(cmd, "--single-transaction") {
		t.Errorf("load command %q", cmd)
	}
	if !strings.Contains(db.loadInput, "\nSET lock_timeout = '30000ms';\n") || strings.Contains(db.loadInput, "lock_timeout = 0") {
		t.Errorf("the dump's lock_timeout was not replaced:\n%s", db.loadInput[:200])
	}
	if _, ok := db.tables["public.after_backup"]; ok {
		t.Error("a table made after the backup survived")
	}
	if w.db.appState() != "api=1/1 worker=2/2" {
		t.Errorf("app after the restore: %s", w.db.appState())
	}
	if ann := w.annotations(t); ann[app.RestoreAnnotation] != "" || ann[ReplicasAnnotation] != "" {
		t.Errorf("annotations left: %v", ann)
	}
	if w.lease(t) {
		t.Error("the database lock was not released")
	}
	safety := filepath.Join(w.dir, strings.TrimSuffix(DefaultName(devNS, clitest.Fixed, DefaultCompression), DefaultCompression.Ext())+"-pre-restore"+DefaultCompression.Ext())
	raw, err := os.ReadFile(safety + MetadataSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if si, err := ParseInfo(raw); err != nil || si.BackupKind != KindPreRestore {
		t.Errorf("safety backup kind: %+v %v", si, err)
	}
	out, errOut := w.tg.Output()
	if !strings.Contains(errOut, "the Alembic revision goes back from 0003 to the backup's abc123: run `kubectl piyasa migrate up -n piyasa-chatbot-dev --env dev`") {
		t.Errorf("stderr lacks the Alembic change:\n%s", errOut)
	}
	for _, want := range []string{"  loading table public.alembic_version (1/3)", "  loading table public.empty (3/3)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "app running (api=1 worker=2); safety backup ") || !strings.Contains(out, "alembic revision 0003 -> abc123") {
		t.Errorf("stdout %q", out)
	}
}

// TestRestoreRefusesMissingWorkloads (D4): --env prod in a namespace with
// dev- names is refused with exit 2 naming what is missing; nothing changed.
func TestRestoreRefusesMissingWorkloads(t *testing.T) {
	w := newRestoreWorld(t, appObjects(1, 2, nil), func(i *BackupInfo) { i.Environment = "prod" }, func(o *RestoreOptions) {
		*o.ConfigFlags.Namespace = devNS
		o.EnvName = "prod"
	})
	e := w.run(t, context.Background())
	if e == nil || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, "namespace piyasa-chatbot-dev has no Deployment prod-api and no StatefulSet prod-worker") {
		t.Fatalf("err %v", e)
	}
	if len(w.db.events) != 0 || patches(w.tg) != 0 || w.lease(t) {
		t.Errorf("something was done: events %v, %d patches, lease %v", w.db.events, patches(w.tg), w.lease(t))
	}
	if _, errOut := w.tg.Output(); strings.Contains(errOut, "stopping the app") {
		t.Errorf("stderr %s", errOut)
	}
}

// TestRestoreRefusesOtherEnvBackup: a backup of prod is refused in dev
// (exit 2, both named) unless --from-other-env, which says so and restores.
func TestRestoreRefusesOtherEnvBackup(t *testing.T) {
	prod := func(i *BackupInfo) { i.Environment, i.Namespace = "prod", "piyasa-chatbot" }
	w := newRestoreWorld(t, appObjects(1, 2, nil), prod, nil)
	e := w.run(t, context.Background())
	if e == nil || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, "environment prod, not dev, namespace piyasa-chatbot, not piyasa-chatbot-dev") ||
		!strings.Contains(e.Hint, "--from-other-env") {
		t.Fatalf("err %v", e)
	}
	if len(w.db.events) != 0 || patches(w.tg) != 0 {
		t.Errorf("something was done: %v", w.db.events)
	}
	w = newRestoreWorld(t, appObjects(1, 2, nil), prod, func(o *RestoreOptions) { o.FromOtherEnv = true })
	if e := w.run(t, context.Background()); e != nil {
		t.Fatalf("with --from-other-env: %v", e)
	}
	if _, errOut := w.tg.Output(); !strings.Contains(errOut, "note: ") || !strings.Contains(errOut, "as --from-other-env asks") {
		t.Errorf("stderr %s", errOut)
	}
}

// TestRestoreRefusedWhileLocked (D5): a migration holding the database lock
// makes the restore refuse at once, naming it; nothing changed.
func TestRestoreRefusedWhileLocked(t *testing.T) {
	w := newRestoreWorld(t, appObjects(1, 2, nil), nil, nil)
	other := oplock.Holder{Identity: "alice@h1 (pid 7)", User: "alice@h1"}
	if _, err := oplock.Acquire(context.Background(), w.tg.Fake, devNS, "dev-piyasa-migrate", other, "migrate up 0004", time.Now); err != nil {
		t.Fatal(err)
	}
	e := w.run(t, context.Background())
	if e == nil || e.Code != cli.ExitFailed || !strings.Contains(e.Msg, "migrate up 0004 by alice@h1 (pid 7) since ") {
		t.Fatalf("err %v", e)
	}
	if len(w.db.events) != 0 || patches(w.tg) != 0 {
		t.Errorf("something was done: %v", w.db.events)
	}
}

// TestRestoreInterruptedLoadSaysWhetherItCommitted (R1): Ctrl-C during the
// load asks the database whether the load's transaction committed, says it,
// and offers the same restore again; the app stays stopped with its record.
func TestRestoreInterruptedLoadSaysWhetherItCommitted(t *testing.T) {
	for status, want := range map[string]string{
		"committed": "interrupted at the end of the load: its transaction committed, piyasa_db holds the backup",
		"aborted":   "interrupted during the load: its transaction did not commit, piyasa_db holds what it held before",
	} {
		t.Run(status, func(t *testing.T) {
			w := newRestoreWorld(t, appObjects(1, 2, nil), nil, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w.db.txStatus = status
			w.db.onLoad = func(context.Context) error { cancel(); return context.Canceled }
			e := w.run(t, ctx)
			if e == nil || e.Code != cli.ExitInterrupted || !strings.HasPrefix(e.Msg, want) || !strings.Contains(e.Msg, "api and worker are left scaled down (were api=1 worker=2)") {
				t.Fatalf("err %v", e)
			}
			if !strings.Contains(e.Hint, "to finish the restore, run it again: kubectl piyasa backup restore "+w.o.Ref+" -n piyasa-chatbot-dev --env dev --yes") ||
				!strings.Contains(e.Hint, "--no-safety-backup (it restarts the app)") || !strings.Contains(e.Hint, "kubectl scale -n piyasa-chatbot-dev statefulset/dev-worker --replicas=2") {
				t.Errorf("hint %q", e.Hint)
			}
			if rec, err := app.ParseRestoreRecord(w.annotations(t)[app.RestoreAnnotation]); err != nil || rec.Replicas[app.Worker] != 2 {
				t.Errorf("record after the interruption: %+v %v", rec, err)
			}
			if w.lease(t) {
				t.Error("the database lock was not released")
			}
		})
	}
}

// TestRestoreRerunFinishes: a restore re-run after an interrupted one (app
// at 0, its record on it) brings the app back to the recorded replicas.
func TestRestoreRerunFinishes(t *testing.T) {
	rec := app.RestoreRecord{Since: clitest.Fixed, Backup: "x.sql", Environment: "dev", Replicas: map[string]int32{app.API: 3, app.Worker: 4}}
	w := newRestoreWorld(t, appObjects(0, 0, map[string]string{app.RestoreAnnotation: rec.Marshal(), ReplicasAnnotation: "3"}), nil, nil)
	if e := w.run(t, context.Background()); e != nil {
		t.Fatalf("restore: %v", e)
	}
	if got := w.db.appState(); got != "api=3/3 worker=4/4" {
		t.Errorf("app %s, want api=3 worker=4", got)
	}
	if ann := w.annotations(t); ann[app.RestoreAnnotation] != "" {
		t.Errorf("record left: %v", ann)
	}
}

// TestRestoreSafetyBackupFailure (R12, D10): a safety backup that fails
// starts the app again, changes nothing and hints --safety-backup-to.
func TestRestoreSafetyBackupFailure(t *testing.T) {
	w := newRestoreWorld(t, appObjects(1, 2, nil), nil, nil)
	w.db.dumpStatus = StatusMarker + " rc=1 tee=0 bytes=1 sha256=x"
	e := w.run(t, context.Background())
	if e == nil || e.Code != cli.ExitFailed || !strings.Contains(e.Msg, "safety backup failed: ") ||
		!strings.Contains(e.Msg, "piyasa_db was not changed and the app runs again (api=1 worker=2)") || !strings.Contains(e.Hint, "--safety-backup-to DIR") {
		t.Fatalf("err %v", e)
	}
	if strings.Contains(strings.Join(w.db.events, ","), "load") || w.db.appState() != "api=1/1 worker=2/2" || w.annotations(t)[app.RestoreAnnotation] != "" {
		t.Errorf("events %v, app %s, annotations %v", w.db.events, w.db.appState(), w.annotations(t))
	}
}

// TestRestoreInterruptedSafetyBackup (D15): Ctrl-C during the safety backup
// says piyasa_db was not changed and the app is scaled back.
func TestRestoreInterruptedSafetyBackup(t *testing.T) {
	w := newRestoreWorld(t, appObjects(1, 2, nil), nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.o.Executor = execFunc(func(c context.Context, cmd []string) error {
		if cmd[3] == "piyasa-backup" {
			cancel()
			return context.Canceled
		}
		return fmt.Errorf("unexpected %v", cmd)
	})
	e := w.run(t, ctx)
	if e == nil || e.Code != cli.ExitInterrupted || !strings.Contains(e.Msg, "interrupted during the safety backup: piyasa_db was not changed") ||
		!strings.Contains(e.Msg, "api and worker are scaled back (api=1 worker=2)") {
		t.Fatalf("err %v", e)
	}
	if w.db.appState() != "api=1/1 worker=2/2" || w.annotations(t)[app.RestoreAnnotation] != "" {
		t.Errorf("app %s, annotations %v", w.db.appState(), w.annotations(t))
	}
}

type execFunc func(ctx context.Context, cmd []string) error

func (f execFunc) Exec(ctx context.Context, _ *corev1.Pod, _ string, cmd []string, _ io.Reader, _, _ io.Writer) error {
	return f(ctx, cmd)
}

// TestRestoreLockTimeoutNamesSessions (D12): a load that gave up waiting for
// a lock names the other sessions and --terminate-sessions; with
// --terminate-sessions they are ended before the load.
func TestRestoreLockTimeoutNamesSessions(t *testing.T) {
	w := newRestoreWorld(t, appObjects(1, 2, nil), nil, nil)
	w.db.sessions = []string{"77\tpsql\tlocal\tidle in transaction\t25"}
	w.db.loadRC, w.db.loadLast = 3, "psql:<stdin>:40: ERROR:  canceling statement due to lock timeout\nCONTEXT:  SQL statement \"DROP SCHEMA public CASCADE\""
	e := w.run(t, context.Background())
	if e == nil || e.Code != cli.ExitFailed || !strings.Contains(e.Msg, "psql waited --lock-timeout 30s for a lock") ||
		!strings.Contains(e.Msg, "pid 77 (application psql from local, idle in transaction for 25s)") || !strings.Contains(e.Msg, "--terminate-sessions ends them") {
		t.Fatalf("err %v", e)
	}
	if _, errOut := w.tg.Output(); !strings.Contains(errOut, "other sessions on piyasa_db: pid 77") {
		t.Errorf("stderr %s", errOut)
	}

	w = newRestoreWorld(t, appObjects(1, 2, nil), nil, func(o *RestoreOptions) { o.TerminateSessions = true })
	w.db.sessions = []string{"77\tpsql\tlocal\tidle in transaction\t25"}
	if e := w.run(t, context.Background()); e != nil {
		t.Fatalf("with --terminate-sessions: %v", e)
	}
	if ev := strings.Join(w.db.events, ","); !strings.HasPrefix(ev, "dump,sessions,terminate,load") {
		t.Errorf("events %s", ev)
	}
}

// TestRestoreTimeoutCoversTheLoad (D12): --timeout ends a load that does
// not finish, exit 1 naming --timeout, not "interrupted".
// The timeout is long enough for the fake app to stop on a loaded machine;
// the load then blocks until it runs out.
func TestRestoreTimeoutCoversTheLoad(t *testing.T) {
	w := newRestoreWorld(t, appObjects(1, 2, nil), nil, func(o *RestoreOptions) { o.Timeout = 3 * time.Second })
	w.db.txStatus = "aborted"
	w.db.onLoad = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	e := w.run(t, context.Background())
	if e == nil || e.Code != cli.ExitFailed || !strings.Contains(e.Msg, "the restore did not finish within --timeout 3s: stopped during the load: its transaction did not commit") {
		t.Fatalf("err %v", e)
	}
}

// TestMissingBackupIsExit2 (D14): restore and verify of a file that does not
// exist say so, exit 2.
func TestMissingBackupIsExit2(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent.sql.zst")
	tg := clitest.New(devNS)
	_ = tg.Global.Complete()
	r := NewRestoreOptions(tg.Global)
	r.Ref, r.Yes = missing, true
	v := NewVerifyOptions(tg.Global)
	v.Ref = missing
	for name, o := range map[string]interface {
		Validate() error
		Run(context.Context) error
	}{"restore": r, "verify": v} {
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		var e *cli.Error
		if err := o.Run(context.Background()); !asError(err, &e) || e.Code != cli.ExitUsage || e.Msg != missing+" does not exist; nothing was changed" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestRestoreToDatabaseInterrupted: Ctrl-C during a --to-database load says
// whether the new database holds the backup (one transaction: all or nothing).
func TestRestoreToDatabaseInterrupted(t *testing.T) {
	w := newRestoreWorld(t, appObjects(1, 2, nil), nil, func(o *RestoreOptions) { o.ToDatabase = "piyasa_copy" })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.db.onLoad = func(context.Context) error { cancel(); return context.Canceled }
	w.db.txStatus = "aborted"
	e := w.run(t, ctx)
	if e == nil || e.Code != cli.ExitInterrupted || !strings.Contains(e.Msg, "its transaction did not commit, database piyasa_copy was created and is empty") ||
		!strings.Contains(e.Hint, "dropdb -U piyasa_user piyasa_copy") || strings.Contains(e.Msg, "part of") {
		t.Fatalf("err %v", e)
	}
	if patches(w.tg) != 0 {
		t.Error("the app was touched")
	}
}

func TestWithLockTimeout(t *testing.T) {
	r, n, err := withLockTimeout(strings.NewReader(restoreDump), int64(len(restoreDump)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	want := strings.Replace(restoreDump, "SET lock_timeout = 0;", "SET lock_timeout = '5000ms';", 1)
	if string(got) != want || n != int64(len(want)) {
		t.Errorf("n %d (want %d):\n%s", n, len(want), got)
	}
	r, n, _ = withLockTimeout(strings.NewReader(sampleDump), int64(len(sampleDump)), 5*time.Second)
	if got, _ := io.ReadAll(r); string(got) != sampleDump || n != int64(len(sampleDump)) {
		t.Error("a dump without the line was changed")
	}
}

// TestLoadProgressSaysWhereItWaits: a table line per COPY, and a line when
// psql stays at one statement (a lock wait) naming it.
func TestLoadProgressSaysWhereItWaits(t *testing.T) {
	old := progressQuiet
	progressQuiet = 50 * time.Millisecond
	defer func() { progressQuiet = old }()
	tg := clitest.New(devNS)
	b := newBase(tg.Global)
	p := newLoadProgress(&b, &BackupInfo{Tables: make([]TableRows, 2)}, time.Second)
	io.WriteString(p, "SET lock_timeout = '1000ms'\nDO $piyasa$\nDECLARE x\nEND $piyasa$\nCOPY public.a (id) FROM stdin;\nALTER TABLE ONLY public.a\n    ADD CONSTRAINT a_pkey PRIMARY KEY (id);\n")
	time.Sleep(150 * time.Millisecond)
	p.stop()
	_, errOut := tg.Output()
	if !strings.Contains(errOut, "  loading table public.a (1/2)\n") || !strings.Contains(errOut, "  still at statement ALTER TABLE ONLY public.a after ") ||
		!strings.Contains(errOut, "--lock-timeout 1s") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

// TestRestoreOtherNamespaceIsSaid: a backup of another namespace of the same
// environment (a DR drill's scratch namespace) is restored, with a note.
func TestRestoreOtherNamespaceIsSaid(t *testing.T) {
	w := newRestoreWorld(t, appObjects(1, 2, nil), func(i *BackupInfo) { i.Namespace = "piyasa-chatbot-dev-old" }, nil)
	if e := w.run(t, context.Background()); e != nil {
		t.Fatalf("restore: %v", e)
	}
	if _, errOut := w.tg.Output(); !strings.Contains(errOut, "note: ") || !strings.Contains(errOut, "namespace piyasa-chatbot-dev-old, not piyasa-chatbot-dev") {
		t.Errorf("stderr %s", errOut)
	}
}

// TestRestoreToDatabaseAndRestoreTest: --to-database and verify
// --restore-test load the backup (lock waits bounded, schemas emptied) and
// check it; the app is not touched.
func TestRestoreToDatabaseAndRestoreTest(t *testing.T) {
	w := newRestoreWorld(t, appObjects(1, 2, nil), nil, func(o *RestoreOptions) { o.ToDatabase = "piyasa_copy" })
	if e := w.run(t, context.Background()); e != nil {
		t.Fatalf("restore --to-database: %v", e)
	}
	if out, _ := w.tg.Output(); out != "piyasa_copy\n" || patches(w.tg) != 0 || !strings.Contains(strings.Join(w.db.loadCmd, " "), "--dbname=piyasa_copy") {
		t.Errorf("stdout %q, %d patches, load %q", out, patches(w.tg), w.db.loadCmd)
	}

	v := NewVerifyOptions(w.tg.Global)
	v.Ref, v.RestoreTest, v.Executor = w.o.Ref, true, w.db
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := v.Run(context.Background()); err != nil {
		t.Fatalf("verify --restore-test: %v", err)
	}
	if out, _ := w.tg.Output(); !strings.Contains(out, ": OK (metadata, stored sha256, decompression, dump sha256, trailer, row counts, restore test)") {
		t.Errorf("stdout %q", out)
	}
}

// TestRestoreConfirmation: a wrong namespace name changes nothing (exit 2);
// the right one restores.
func TestRestoreConfirmation(t *testing.T) {
	w := newRestoreWorld(t, appObjects(1, 2, nil), nil, func(o *RestoreOptions) { o.Yes = false })
	w.tg.In.WriteString("piyasa-chatbot\n")
	if e := w.run(t, context.Background()); e == nil || e.Code != cli.ExitUsage || e.Msg != "not confirmed: nothing was changed" {
		t.Fatalf("err %v", e)
	}
	if len(w.db.events) != 0 || patches(w.tg) != 0 || w.lease(t) {
		t.Errorf("something was done: %v", w.db.events)
	}
	w.tg.In.WriteString(devNS + "\n")
	if e := w.run(t, context.Background()); e != nil {
		t.Fatalf("confirmed: %v", e)
	}
	if _, errOut := w.tg.Output(); !strings.Contains(errOut, "Type the namespace name to confirm: ") {
		t.Errorf("stderr %s", errOut)
	}
}

func TestRestoreValidate(t *testing.T) {
	for _, tc := range []struct {
		set  func(o *RestoreOptions)
		want string
	}{
		{func(o *RestoreOptions) { o.Ref = "x.txt" }, "is not a backup"},
		{func(o *RestoreOptions) { o.ToDatabase = "Bad-Name" }, "invalid --to-database"},
		{func(o *RestoreOptions) { o.ToDatabase = app.DatabaseName }, "give a new database"},
		{func(o *RestoreOptions) { o.ToDatabase, o.NoSafetyBackup = "c", true }, "not with --to-database"},
		{func(o *RestoreOptions) { o.ToDatabase, o.TerminateSessions = "c", true }, "--terminate-sessions and --from-other-env apply"},
		{func(o *RestoreOptions) { o.Timeout = 0 }, "--timeout must be positive"},
		{func(o *RestoreOptions) { o.LockTimeout = -time.Second }, "--lock-timeout must be positive"},
		{func(o *RestoreOptions) { o.SafetyTo, o.NoSafetyBackup = "d", true }, "exclude each other"},
	} {
		tg := clitest.New(devNS)
		o := NewRestoreOptions(tg.Global)
		o.Ref = "b.sql.zst"
		tc.set(o)
		var e *cli.Error
		if err := o.Validate(); !asError(err, &e) || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, tc.want) {
			t.Errorf("%s: %v", tc.want, err)
		}
	}
}

// TestTxIDSurvivesManyLines: the transaction id is caught even when psql
// writes more lines afterwards than the collector keeps.
func TestTxIDSurvivesManyLines(t *testing.T) {
	c := &StderrCollector{}
	tx := &txidWatch{w: c}
	io.WriteString(tx, "psql:<stdin>:1: NOTICE:  "+txidMarker+" 9")
	io.WriteString(tx, "17\n")
	for i := 0; i < 2*keepLines; i++ {
		io.WriteString(tx, "WARNING: x\n")
	}
	if tx.id() != 917 {
		t.Errorf("xid %d, want 917", tx.id())
	}
}

// TestRestoreLoadFailuresSayTheState: each way a load can fail leaves the
// app stopped and says what piyasa_db holds.
func TestRestoreLoadFailuresSayTheState(t *testing.T) {
	old := outcomeWait
	outcomeWait = 300 * time.Millisecond
	defer func() { outcomeWait = old }()
	for name, tc := range map[string]struct {
		set  func(db *podDB)
		want string
	}{
		"psql error": {func(db *podDB) { db.loadRC, db.loadLast = 3, "psql:<stdin>:9: ERROR:  syntax error" },
			"restore failed: psql failed (exit status 3): psql:<stdin>:9: ERROR:  syntax error. psql stopped at that error and rolled its single transaction back"},
		"stream cut, committed": {func(db *podDB) { db.onLoad = func(context.Context) error { return io.ErrUnexpectedEOF } },
			"restore failed: the restore's status line never arrived: the stream was cut (unexpected EOF); but its transaction committed: piyasa_db holds the backup"},
		"stream cut, unknown": {func(db *podDB) {
			db.onLoad = func(context.Context) error { return io.ErrUnexpectedEOF }
			db.txStatus = "in progress"
		}, "Whether its single transaction committed is unknown"},
		"rows differ": {func(db *podDB) {
			db.onLoad = func(context.Context) error {
				db.tables = map[string]int64{"public.alembic_version": 1, `public."Weird (Name)"`: 1, "public.empty": 0}
				db.alembic = "abc123"
				return nil
			}
			db.txStatus = ""
		}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			w := newRestoreWorld(t, appObjects(1, 2, nil), nil, nil)
			tc.set(w.db)
			if name == "rows differ" {
				// The load itself succeeds: the status line is written by a wrapper.
				inner := w.db.onLoad
				w.db.onLoad = nil
				w.o.Executor = execWrap{w.db, func() { _ = inner(context.Background()) }}
				tc.want = `piyasa_db was restored but does not match the backup: table public."Weird (Name)" has 1 rows in database piyasa_db, the metadata says 2`
			}
			e := w.run(t, context.Background())
			if e == nil || e.Code != cli.ExitFailed || !strings.Contains(e.Msg, tc.want) || !strings.Contains(e.Msg, "api and worker are left scaled down (were api=1 worker=2)") {
				t.Fatalf("err %v", e)
			}
			if w.db.appState() != "api=0/0 worker=0/0" || w.lease(t) {
				t.Errorf("app %s, lease %v", w.db.appState(), w.lease(t))
			}
		})
	}
}

// execWrap runs after each load of the podDB.
type execWrap struct {
	db        *podDB
	afterLoad func()
}

func (x execWrap) Exec(ctx context.Context, pod *corev1.Pod, c string, cmd []string, in io.Reader, out, errOut io.Writer) error {
	err := x.db.Exec(ctx, pod, c, cmd, in, out, errOut)
	if cmd[3] == "piyasa-restore" {
		x.db.mu.Lock()
		x.afterLoad()
		x.db.mu.Unlock()
	}
	return err
}

// TestRestoreDryRunChangesNothing: --dry-run of a dump restore checks the
// backup and the workloads, prints the plan (what stops, the safety backup,
// the space, the lock) and changes nothing: no load, no scale, no Lease.
func TestRestoreDryRunChangesNothing(t *testing.T) {
	w := newRestoreWorld(t, appObjects(1, 2, nil), nil, func(o *RestoreOptions) { o.pitr.dryRun = cli.DryRunClient })
	if e := w.run(t, context.Background()); e != nil {
		t.Fatalf("dry run: %v (%s)", e, e.Hint)
	}
	if len(w.db.events) != 0 || patches(w.tg) != 0 || w.lease(t) {
		t.Errorf("the dry run changed something: events %v, %d patches, lease %v", w.db.events, patches(w.tg), w.lease(t))
	}
	out := w.tg.Stdout.String()
	for _, want := range []string{"restore of " + w.o.Ref + " over piyasa_db in namespace " + devNS, "stopped:          api=1 worker=2",
		"safety backup:    a dump of the live database first", "7.5 GiB free on the data volume", "database lock:    free",
		"expected duration: unknown (no restore of a dump measured in this namespace yet)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	// What a restore would refuse, the dry run refuses alike: here, no app.
	w = newRestoreWorld(t, nil, nil, func(o *RestoreOptions) { o.pitr.dryRun = cli.DryRunClient })
	if e := w.run(t, context.Background()); e == nil || !strings.Contains(e.Msg, "nothing was changed") {
		t.Errorf("dry run without the app: %v", e)
	}
}
