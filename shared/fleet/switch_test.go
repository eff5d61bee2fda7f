package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SwitchPrimary changes the two role lines only, keeps comments and mode,
// and a second switch puts the file back as it was.
func TestSwitchPrimary(t *testing.T) {
	orig, err := os.ReadFile("testdata/piyasa-fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, orig, 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := SwitchPrimary(f, "us-prod"); err != nil {
		t.Fatal(err)
	}
	if f.Primary().Name != "us" {
		t.Errorf("in memory the primary is %s", f.Primary().Name)
	}
	got, _ := os.ReadFile(path)
	want := strings.Replace(strings.Replace(string(orig), "role: primary               # exactly", "role: standby               # exactly", 1), "    role: standby\n    wave: 2", "    role: primary\n    wave: 2", 1)
	if string(got) != want {
		t.Errorf("rewritten:\n%s\nwant:\n%s", got, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	g, err := Load(path)
	if err != nil || g.Primary().Name != "us" {
		t.Fatalf("reloaded: %v, primary %+v", err, g.Primary())
	}
	if err := SwitchPrimary(g, "eu"); err != nil {
		t.Fatal(err)
	}
	if back, _ := os.ReadFile(path); string(back) != string(orig) {
		t.Errorf("switched back:\n%s", back)
	}
	// A file changed since it was read is refused, not rewritten blindly.
	if err := os.WriteFile(path, []byte("# nothing here\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := SwitchPrimary(g, "us"); err == nil || !strings.Contains(err.Error(), "changed since it was read") {
		t.Errorf("changed file: %v", err)
	}
}

func TestDatabaseAddress(t *testing.T) {
	doc := `apiVersion: piyasa.io/v1alpha1
kind: Fleet
settings:
  primaryHost: 10.0.0.1
  primaryPort: 30432
regions:
  - {name: eu, context: a, environment: dev, role: primary, wave: 1}
  - {name: us, context: b, environment: dev, role: standby, wave: 2, databaseHost: db.us.example, databasePort: 5433}
`
	f, err := Parse("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := f.Replication()
	eu, _ := FindRegion(f, "eu")
	us, _ := FindRegion(f, "b")
	if h, p, err := DatabaseAddress(f, eu, s); h != "10.0.0.1" || p != 30432 || err != nil {
		t.Errorf("eu: %s:%d %v", h, p, err)
	}
	if h, p, err := DatabaseAddress(f, us, s); h != "db.us.example" || p != 5433 || err != nil {
		t.Errorf("us: %s:%d %v", h, p, err)
	}
	bad, err := Parse("f.yaml", []byte(strings.Replace(doc, "databasePort: 5433", "databasePort: 70000", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := DatabaseAddress(bad, us, s); err == nil || !strings.Contains(err.Error(), "f.yaml:8:") {
		t.Errorf("bad port: %v", err)
	}
}
