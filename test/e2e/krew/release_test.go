package krew

import (
	"archive/zip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/suite"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// expectedFiles are the files an archive must hold: one binary per main
// package under plugins/ (those that exist, named by package suite), LICENSE
// and README.md; no completion link.
func expectedFiles(t *testing.T, platform string) []string {
	t.Helper()
	mains, err := suite.Mains(env.Root)
	if err != nil {
		t.Fatal(err)
	}
	ext := ""
	if strings.HasPrefix(platform, "windows/") {
		ext = ".exe"
	}
	files := []string{"LICENSE", "README.md"}
	for _, m := range mains {
		files = append(files, m.Executable+ext)
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
			r := harness.NewSandbox(t).Command(t, "tar", "tzvf", path).RunOK()
			for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
				f := strings.Fields(l)
				if len(f) == 0 {
					continue
				}
				if !strings.HasPrefix(f[0], "-") {
					t.Errorf("%s: %s is not a regular file (Krew archives hold no links)", archive(p), l)
				}
				got = append(got, f[len(f)-1])
			}
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
		if r.Code != 2 || !strings.Contains(r.Stderr, c.want) || !strings.Contains(r.Stderr, "hint:") {
			t.Errorf("release.sh %v: exit %d, stderr %q; want exit 2 and %q with a hint", c.args, r.Code, r.Stderr, c.want)
		}
		if _, err := os.Stat(dist); !os.IsNotExist(err) {
			t.Errorf("release.sh %v created %s", c.args, dist)
		}
	}
}
