package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The newest server is chosen by major version as a number (15 > 9), and
// only a bin directory holding initdb counts (a client-only package has none).
func TestNewestPostgresBinDir(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"9/bin", "10/bin", "15/bin", "16/bin", "notes/bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"9/bin", "10/bin", "15/bin", "notes/bin"} { // 16: client only
		if err := os.WriteFile(filepath.Join(root, d, "initdb"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := newestPostgresBinDir(root), filepath.Join(root, "15", "bin"); got != want {
		t.Errorf("newest server: %s, want %s", got, want)
	}
	if got := newestPostgresBinDir(t.TempDir()); got != "" {
		t.Errorf("no server installed: %q, want \"\"", got)
	}
}

// Both PostgreSQL fixtures find the same server (MigratePG is Postgres).
func TestMigratePGBinDirIsPostgresBinDir(t *testing.T) {
	bin, err := MigratePGBinDir()
	if want := PostgresBinDir(); want == "" {
		if err == nil || !strings.Contains(err.Error(), "apt-get install postgresql") {
			t.Errorf("no server: MigratePGBinDir = %q, %v; want an error saying how to install it", bin, err)
		}
	} else if bin != want || err != nil {
		t.Errorf("MigratePGBinDir = %q, %v; want %q", bin, err, want)
	}
}

func TestClusterExecYAML(t *testing.T) {
	y := ClusterExecYAML("pg-ns1", []string{"ns1"}, "/tmp/w", "PATH=/a:/b", "EMPTY=", "X=1=2")
	var doc struct {
		APIVersion string `json:"apiVersion"`
		Kind       string
		Metadata   struct{ Name string }
		Spec       struct {
			Selector struct {
				MatchNamespaces []string `json:"matchNamespaces"`
			}
			Execs []struct {
				Local struct {
					WorkDir string `json:"workDir"`
					Envs    []struct{ Name, Value string }
				}
			}
		}
	}
	if err := yaml.UnmarshalStrict([]byte(y), &doc); err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if doc.APIVersion != "kwok.x-k8s.io/v1alpha1" || doc.Kind != "ClusterExec" || doc.Metadata.Name != "pg-ns1" || strings.Join(doc.Spec.Selector.MatchNamespaces, ",") != "ns1" || len(doc.Spec.Execs) != 1 {
		t.Fatalf("object: %+v", doc)
	}
	l := doc.Spec.Execs[0].Local
	var envs []string
	for _, e := range l.Envs {
		envs = append(envs, e.Name+"="+e.Value)
	}
	if l.WorkDir != "/tmp/w" || strings.Join(envs, " ") != "PATH=/a:/b EMPTY= X=1=2" {
		t.Errorf("local exec: workDir %q, envs %q", l.WorkDir, envs)
	}
}

func TestDatabaseAppYAML(t *testing.T) {
	for _, worker := range []bool{false, true} {
		var kinds []string
		for _, d := range strings.Split(DatabaseAppYAML(`pw"with'quotes`, worker), "\n---\n") {
			var o struct {
				Kind       string
				Metadata   struct{ Name string }
				StringData map[string]string `json:"stringData"`
			}
			if err := yaml.Unmarshal([]byte(d), &o); err != nil {
				t.Fatalf("worker=%v: %v\n%s", worker, err, d)
			}
			kinds = append(kinds, o.Kind+"/"+o.Metadata.Name)
			if o.Kind == "Secret" && o.StringData["DATABASE_PASSWORD"] != `pw"with'quotes` {
				t.Errorf("password: %q", o.StringData["DATABASE_PASSWORD"])
			}
		}
		want := "Secret/dev-piyasa-secrets Deployment/dev-postgres Deployment/dev-api"
		if worker {
			want += " StatefulSet/dev-worker"
		}
		if got := strings.Join(kinds, " "); got != want {
			t.Errorf("worker=%v: %s, want %s", worker, got, want)
		}
	}
}

// A package's binary is a link to the shared cache's file: a later build,
// which replaces the cache's file (go build removes it first), leaves it as it was.
func TestLinkOrCopyKeepsTheBuiltFile(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "cache-backup"), filepath.Join(dir, "kubectl-piyasa-backup")
	if err := os.WriteFile(src, []byte("build 1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte("an earlier file"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := linkOrCopy(src, dst); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(src); err != nil { // as go build does before writing
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte("build 2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "build 1" {
		t.Errorf("the package's binary: %q, %v; want build 1", b, err)
	}
	if st, err := os.Stat(dst); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("the package's binary is not executable: %v", err)
	}
}
