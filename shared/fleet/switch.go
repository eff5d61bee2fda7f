package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Region returns the region named name, or whose context is name.
func (f *Fleet) Region(name string) (Region, bool) {
	for _, r := range f.Regions {
		if r.Name == name || r.Context == name {
			return r, true
		}
	}
	return Region{}, false
}

// DatabaseAddress is where the other regions reach r's database once r is
// the primary: r's databaseHost and databasePort, else, for the region the
// file names primary, the settings' primaryHost and primaryPort ("" and 0:
// the replication Service's address, read by the caller).
func (f *Fleet) DatabaseAddress(r Region, s Replication) (string, int) {
	host, port := r.DatabaseHost, r.DatabasePort
	if r.Name == f.Primary().Name {
		if host == "" {
			host = s.Host
		}
		if port == 0 {
			port = s.Port
		}
	}
	return host, port
}

// roleValue matches the value of a "role: ..." line (quoted or not, a
// comment kept).
var roleValue = regexp.MustCompile(`^(\s*(?:-\s+)?role:\s*)(["']?)(primary|standby)(["']?)(.*)$`)

// SwitchPrimary rewrites the fleet file at f.Path so that the region named
// primary is the primary and the one that was is a standby: only the two
// role lines change (comments, order and layout stay), written to a
// temporary file renamed over the original with its mode. f is updated too.
func (f *Fleet) SwitchPrimary(primary string) error {
	old := f.Primary()
	next, ok := f.Region(primary)
	if !ok || next.Name == old.Name {
		return nil
	}
	info, err := os.Stat(f.Path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for _, c := range []struct {
		line int
		role string
	}{{old.RoleLine, RoleStandby}, {next.RoleLine, RolePrimary}} {
		if c.line < 1 || c.line > len(lines) || !roleValue.MatchString(lines[c.line-1]) {
			return fmt.Errorf("%s:%d: no role on this line: the file changed since it was read", f.Path, c.line)
		}
		lines[c.line-1] = roleValue.ReplaceAllString(lines[c.line-1], "${1}${2}"+c.role+"${4}${5}")
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), "."+filepath.Base(f.Path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.WriteString(strings.Join(lines, "\n")); err == nil {
		err = tmp.Chmod(info.Mode().Perm())
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return err
	}
	for i := range f.Regions {
		switch f.Regions[i].Name {
		case old.Name:
			f.Regions[i].Role = RoleStandby
		case next.Name:
			f.Regions[i].Role = RolePrimary
		}
	}
	return nil
}
