package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/recovery"
)

// fakeProber answers every exec with out and every proxy GET with proxyErr.
type fakeProber struct {
	exec     map[string]string
	proxyErr error
	dnsErr   error
}

func (f *fakeProber) Exec(_ context.Context, _, _ string, cmd []string) (string, error) {
	for k, v := range f.exec {
		if strings.Contains(strings.Join(cmd, " "), k) {
			return v, nil
		}
	}
	return "", errors.New("no exec found")
}

func (f *fakeProber) ProxyGet(context.Context, string, string, string) (string, error) {
	return "", f.proxyErr
}

func (f *fakeProber) LookupHost(context.Context, string) ([]string, error) {
	if f.dnsErr != nil {
		return nil, f.dnsErr
	}
	return []string{"127.0.0.1"}, nil
}

func healthyProber() *fakeProber {
	return &fakeProber{exec: map[string]string{"pg_isready": "accepting connections", "redis-cli": "PONG",
		"pg_stat_archiver":    "on|0||f|000000010000000000000003",
		"pg_stat_replication": "node\tprimary\t0/3000000\t\t\t\t1786000000000\t\t\n",
		recovery.ListEnd:      walListing(2, 3)}}
}

// walListing is the archive's listing (recovery.ListCommand's output) with
// the segments numbered nos on timeline 1.
func walListing(nos ...int) string {
	var b strings.Builder
	for _, n := range nos {
		fmt.Fprintf(&b, "16777216 1786000000 0000000100000000%08X\n", n)
	}
	return b.String() + recovery.ListEnd + "\n"
}

// label is the listing line of the backup history file of a base backup
// that started in segment n.
func label(n int) string {
	return fmt.Sprintf("300 1786000000 0000000100000000%08X.00000028.backup\n", n)
}

func probe(t *testing.T, p Prober) map[string][]Finding {
	t.Helper()
	rep := Analyze(context.Background(), healthySnapshot(), Config{Probe: true, Only: CodeSet(areaCodes(AreaProbes))}, nil, p)
	got := map[string][]Finding{}
	for _, f := range rep.Findings {
		got[f.Code] = append(got[f.Code], f)
	}
	return got
}

func TestCheckProbes(t *testing.T) {
	if got := probe(t, healthyProber()); len(got) != 0 {
		t.Errorf("healthy probes: %+v", got)
	}
	p := healthyProber()
	p.exec["redis-cli"] = "Could not connect to Redis"
	if got := probe(t, p); len(got["PIY972"]) != 1 {
		t.Errorf("want PIY972: %+v", got)
	}
	// the pod answered 503 with its own body: /readyz fails
	p = healthyProber()
	p.proxyErr = apierrors.NewGenericServerResponse(http.StatusServiceUnavailable, "GET", schema.GroupResource{Resource: "pods"}, "dev-api-a", "database unreachable", 0, true)
	if got := probe(t, p); len(got["PIY973"]) != 1 || len(got["PIY979"]) != 0 {
		t.Errorf("pod answered 503: want PIY973 only: %+v", got)
	}
	// issue 16 #19: the API server (or a proxy on the way) refused the pod proxy: the probe could not run
	for name, err := range map[string]error{
		"api server Status": apierrors.NewServiceUnavailable("error trying to reach service: dial tcp 10.0.0.1:8000: connect: connection refused"),
		"proxy text":        apierrors.NewGenericServerResponse(http.StatusForbidden, "GET", schema.GroupResource{Resource: "pods"}, "dev-api-a", "resolve_deny: denied destination", 0, true),
		"no answer":         errors.New("dial tcp 127.0.0.1:6443: i/o timeout"),
		// D9: a viewer's pod proxy, refused by the API server (the body client-go could not read as a Status)
		"403 of the API server": apierrors.NewGenericServerResponse(http.StatusForbidden, "get", schema.GroupResource{Resource: "pods"}, "http:dev-api-a:8000", "", 0, true),
		"401 of the API server": apierrors.NewGenericServerResponse(http.StatusUnauthorized, "get", schema.GroupResource{Resource: "pods"}, "http:dev-api-a:8000", "", 0, true),
	} {
		p = healthyProber()
		p.proxyErr = err
		got := probe(t, p)
		if len(got["PIY973"]) != 0 || len(got["PIY979"]) != 1 || !strings.Contains(got["PIY979"][0].Message, "/readyz") {
			t.Errorf("%s: want PIY979 naming /readyz, no PIY973: %+v", name, got)
		}
	}
}

// R15: PIY979's fix is the probe's own command, runnable as printed.
func TestProbeCouldNotRunFixIsACommand(t *testing.T) {
	p := healthyProber()
	delete(p.exec, "pg_isready")
	p.proxyErr = apierrors.NewForbidden(schema.GroupResource{Resource: "pods/proxy"}, "dev-api-a", errors.New("RBAC"))
	got := probe(t, p)
	if len(got["PIY979"]) != 2 {
		t.Fatalf("want PIY979 for pg_isready and /readyz: %+v", got)
	}
	for _, f := range got["PIY979"] {
		if strings.Contains(f.Fix, " POD ") || strings.Contains(f.Fix, "CMD") {
			t.Errorf("fix with placeholders: %q", f.Fix)
		}
		if strings.Contains(f.Message, "pg_isready") && !strings.Contains(f.Fix, "kubectl exec -n "+testNS+" ") {
			t.Errorf("pg_isready fix: %q", f.Fix)
		}
		if strings.Contains(f.Message, "/readyz") && !strings.Contains(f.Fix, "pods/proxy") {
			t.Errorf("/readyz refused: the fix should name the right: %q", f.Fix)
		}
	}
}

// The probes not covered above: PostgreSQL answering but not accepting,
// the disk use of the data volumes, the DNS of the Ingress hosts.
func TestCheckProbesDatabaseDiskDNS(t *testing.T) {
	df := func(use int) string {
		return fmt.Sprintf("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 100 %d %d %d%% /data\n", use, 100-use, use)
	}
	for name, c := range map[string]struct {
		exec   map[string]string
		dnsErr error
		want   string
	}{
		"pg rejecting": {exec: map[string]string{"pg_isready": "no response"}, want: "PIY971"},
		"disk 85%":     {exec: map[string]string{"df -P": df(85)}, want: "PIY974"},
		"disk 95%":     {exec: map[string]string{"df -P": df(95)}, want: "PIY975"},
		"disk garbage": {exec: map[string]string{"df -P": "what"}, want: "PIY979"},
		"dns":          {dnsErr: errors.New("no such host"), want: "PIY976"},
	} {
		p := healthyProber()
		p.exec["df -P"] = df(50)
		for k, v := range c.exec {
			p.exec[k] = v
		}
		p.dnsErr = c.dnsErr
		s := healthySnapshot()
		for i := range s.Pods {
			if s.Pods[i].Component == app.Postgres {
				s.Pods[i].Mounts = map[string]string{"dev-postgres-pvc": app.Postgres + ":/data"}
			}
		}
		rep := Analyze(context.Background(), s, Config{Probe: true, Only: CodeSet(areaCodes(AreaProbes))}, nil, p)
		var codes []string
		for _, f := range rep.Findings {
			codes = append(codes, f.Code)
		}
		if len(codes) != 1 || codes[0] != c.want {
			t.Errorf("%s: want only %s, got %v", name, c.want, rep.Findings)
		}
	}
}

// TestCheckProbesWALChain: a gap in the pod's WAL archive is PIY980 (read
// by shared/recovery), the newest base backup's start segment gone PIY982,
// an unreadable listing PIY979.
func TestCheckProbesWALChain(t *testing.T) {
	for name, c := range map[string]struct {
		listing string
		want    string
	}{
		"whole":     {walListing(2, 3, 4), ""},
		"empty":     {walListing(), ""},
		"one gap":   {walListing(2, 3, 6), "PIY980"},
		"two gaps":  {walListing(2, 4, 6), "PIY980"},
		"cut short": {"16777216 1786000000 000000010000000000000002\n", "PIY979"},
		// The newest base backup's history file names its start segment: the
		// archive still holding it is fine, one pruned past it is PIY982.
		"base backup's WAL kept":   {label(3) + label(1) + walListing(3, 4), ""},
		"base backup's WAL pruned": {label(3) + walListing(5, 6, 7), "PIY982"},
		"not in the pod":           {"sh: cd: can't cd to /wal\n", "PIY979"},
	} {
		p := healthyProber()
		delete(p.exec, recovery.ListEnd)
		p.exec["stat -c"] = c.listing
		got := probe(t, p)
		n := 0
		for _, fs := range got {
			n += len(fs)
		}
		if c.want == "" && n != 0 || c.want != "" && (len(got[c.want]) != 1 || n != 1) {
			t.Errorf("%s: want %q, got %+v", name, c.want, got)
		}
		if f := got["PIY982"]; len(f) == 1 && (!strings.Contains(f[0].Message, "000000010000000000000003") || !strings.Contains(f[0].Message, "000000010000000000000005")) {
			t.Errorf("%s: PIY982 names neither the start segment nor the oldest present: %+v", name, f[0])
		}
		if f := got["PIY980"]; len(f) == 1 && (!strings.Contains(f[0].Message, "missing") && !strings.Contains(f[0].Message, "gap") || len(f[0].Evidence) == 0) {
			t.Errorf("%s: %+v", name, f[0])
		}
	}
}

// The WAL archive probes: its volume over 85% is PIY977 (not PIY974/975),
// and archiving whose last failure is newer than its last success is PIY978.
func TestCheckProbesWALArchive(t *testing.T) {
	df := func(use int, path string) string {
		return fmt.Sprintf("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb 100 %d %d %d%% %s\n", use, 100-use, use, path)
	}
	for name, c := range map[string]struct {
		walUse   int
		archiver string
		want     []string
	}{
		"healthy":              {walUse: 50, want: nil},
		"archive at 84%":       {walUse: 84, want: nil},
		"archive at 86%":       {walUse: 86, want: []string{"PIY977"}},
		"archive at 97%":       {walUse: 97, want: []string{"PIY977"}},
		"archiving failing":    {walUse: 50, archiver: "on|3|000000010000000000000005|t|000000010000000000000004", want: []string{"PIY978"}},
		"failure then success": {walUse: 50, archiver: "on|3|000000010000000000000005|f|000000010000000000000006", want: nil},
		"archiving off":        {walUse: 50, archiver: "off|0||f|", want: nil},
		"unreadable":           {walUse: 50, archiver: "psql: error: connection refused", want: []string{"PIY979"}},
	} {
		p := healthyProber()
		p.exec["df -P /data"] = df(10, "/data")
		p.exec["df -P /wal"] = df(c.walUse, "/wal")
		if c.archiver != "" {
			p.exec["pg_stat_archiver"] = c.archiver
		}
		s := healthySnapshot()
		for i := range s.Pods {
			if s.Pods[i].Component == app.Postgres {
				s.Pods[i].Mounts = map[string]string{"dev-postgres-pvc": app.Postgres + ":/data", "dev-" + app.WALArchivePVC: app.Postgres + ":/wal"}
			}
		}
		rep := Analyze(context.Background(), s, Config{Probe: true, Only: CodeSet(areaCodes(AreaProbes))}, nil, p)
		var codes []string
		for _, f := range rep.Findings {
			codes = append(codes, f.Code)
		}
		if strings.Join(codes, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: want %v, got %+v", name, c.want, rep.Findings)
		}
		for _, f := range rep.Findings {
			if f.Code == "PIY977" && (f.Object.Name != "dev-"+app.WALArchivePVC || !strings.Contains(f.Fix, "backup wal sync")) {
				t.Errorf("%s: %+v", name, f)
			}
		}
	}
}
