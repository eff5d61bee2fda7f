package suite

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestExecutable(t *testing.T) {
	for dir, want := range map[string]string{
		"piyasa":          "kubectl-piyasa",
		"complete-piyasa": "kubectl_complete-piyasa",
		"deploy":          "kubectl-piyasa-deploy",
		"backup":          "kubectl-piyasa-backup",
	} {
		if got := Executable(dir); got != want {
			t.Errorf("Executable(%q) = %q, want %q", dir, got, want)
		}
	}
	if got := CompletionLink("scale"); got != "kubectl_complete-piyasa-scale" {
		t.Errorf("CompletionLink(scale) = %q", got)
	}
}

func TestMains(t *testing.T) {
	root := t.TempDir()
	write := func(path, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, path), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("plugins/piyasa/main.go", "// Command x.\npackage main\n")
	write("plugins/deploy/main.go", "package main\n\nfunc main() {}\n")
	write("plugins/complete-piyasa/main.go", "package main\n")
	write("plugins/migrate/doc.go", "// Package migrate is not built yet.\npackage migrate\n")
	write("plugins/backup/README", "later\n")
	got, err := Mains(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []Main{
		{"plugins/complete-piyasa", "kubectl_complete-piyasa", ""},
		{"plugins/deploy", "kubectl-piyasa-deploy", "deploy"},
		{"plugins/piyasa", "kubectl-piyasa", ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Mains = %v, want %v", got, want)
	}
}

// The release tags keep the binaries within scripts/bench-size.sh's budget;
// go build -tags takes them comma-separated.
func TestBuildTags(t *testing.T) {
	tags := strings.Split(BuildTags, ",")
	for _, want := range []string{"stdlibjson", "nethttpomithttp2"} {
		if !slices.Contains(tags, want) {
			t.Errorf("BuildTags %q lacks %s", BuildTags, want)
		}
	}
	for _, tag := range tags {
		if tag == "" || strings.ContainsAny(tag, " \t") {
			t.Errorf("BuildTags %q: %q is not a tag", BuildTags, tag)
		}
	}
}

// Under the release tags (net/http without its bundled HTTP/2), client-go
// still speaks HTTP/2 to an API server (testdata/h2check).
func TestClientGoSpeaksHTTP2UnderBuildTags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command(goBin, "run", "-tags", BuildTags, "./testdata/h2check").CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./testdata/h2check: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "HTTP/2.0" {
		t.Errorf("client-go spoke %q, want HTTP/2.0", got)
	}
}
