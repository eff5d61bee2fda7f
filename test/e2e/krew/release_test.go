package krew

import (
	"archive/zip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// expectedFiles are the files an archive must hold: one binary per main
// package under plugins/ (those that exist), LICENSE and README.md.
func expectedFiles(t *testing.T, platform string) []string {
	t.Helper()
	dirs, err := os.ReadDir(filepath.Join(env.Root, "plugins"))
	if err != nil {
		t.Fatal(err)
	}
	ext := ""
	if strings.HasPrefix(platform, "windows/") {
		ext = ".exe"
	}
	files := []string{"LICENSE", "README.md"}
	for _, d := range dirs {
		mains, _ := filepath.Glob(filepath.Join(env.Root, "plugins", d.Name(), "*.go"))
		isMain := false
		for _, m := range mains {
			b, _ := os.ReadFile(m)
			if strings.Contains(string(b), "\npackage main\n") || strings.HasPrefix(string(b), "package main\n") {
				isMain = true
			}
		}
		if !d.IsDir() || !isMain {
			continue
		}
		switch name := d.Name(); {
		case name == "piyasa":
			files = append(files, "kubectl-piyasa"+ext)
		case strings.HasPrefix(name, "complete-"):
			files = append(files, "kubectl_"+name+ext)
		default:
			files = append(files, "kubectl-piyasa-"+name+ext)
		}
	}
	slices.Sort(files)
	return files
}

// TestArchives checks each archive holds exactly the binaries that exist, LICENSE and README.
func TestArchives(t *testing.T) {
	for _, p := range env.Platforms {
		path := filepath.Join(env.Dist, archive(p))
		var got []string
		if strings.HasSuffix(path, ".zip") {
			zr, err := zip.OpenReader(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range zr.File {
				got = append(got, f.Name)
			}
			zr.Close()
		} else {
			out, err := exec.Command("tar", "tzf", path).Output()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			got = strings.Fields(string(out))
		}
		slices.Sort(got)
		if want := expectedFiles(t, p); !slices.Equal(got, want) {
			t.Errorf("%s holds %v, want %v", archive(p), got, want)
		}
	}
	if len(env.Sums) != len(env.Platforms) {
		t.Errorf("SHA256SUMS lists %d archives, want %d", len(env.Sums), len(env.Platforms))
	}
}

// TestReleaseUsage checks the release script refuses bad input before building anything.
func TestReleaseUsage(t *testing.T) {
	dist := filepath.Join(t.TempDir(), "dist")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--version", "0.1"}, "not a release tag"},
		{[]string{"--version", "v0.1.0", "--platforms", "plan9/amd64"}, "unsupported platform"},
		{[]string{"--version", "v0.1.0", "--bogus"}, "unknown argument"},
		{[]string{"--version", "v0.1.0", "--dist", filepath.Join(env.Root, "krew")}, "holds no earlier release"},
	} {
		r := run(t, nil, "bash", append([]string{filepath.Join(env.Root, "scripts", "release.sh"), "--dist", dist, "--index", ""}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "hint:") {
			t.Errorf("release.sh %v: exit %d, stderr %q; want exit 2 and %q with a hint", c.args, r.code, r.stderr, c.want)
		}
		if _, err := os.Stat(dist); !os.IsNotExist(err) {
			t.Errorf("release.sh %v created %s", c.args, dist)
		}
	}
}
