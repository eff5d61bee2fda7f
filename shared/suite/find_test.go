package suite

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestFindBeside(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("executable bits")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kubectl-piyasa-deploy"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubectl-piyasa-scale"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "kubectl-piyasa-diagnose"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, ok := FindBeside(dir, Binary("deploy")); !ok || p != filepath.Join(dir, "kubectl-piyasa-deploy") {
		t.Errorf("deploy: %q %v", p, ok)
	}
	for _, sub := range []string{"scale", "diagnose", "backup"} {
		if p, ok := FindBeside(dir, Binary(sub)); ok {
			t.Errorf("%s found at %s", sub, p)
		}
	}
	if _, ok := FindBeside("", Binary("deploy")); ok {
		t.Error("found in no directory")
	}
	if SelfDir() == "" {
		t.Error("SelfDir unknown")
	}
}
