package suite

import (
	"os"
	"path/filepath"
	"slices"
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
