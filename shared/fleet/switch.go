package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The functions of this file are functions, not methods of Fleet: a binary
// that links text/template keeps every exported method of a type it uses,
// and only kubectl-piyasa-deploy needs these (the others' size budget).

// FindRegion returns the region of f named name, or whose context is name.
func FindRegion(f *Fleet, name string) (Region, bool) {
	for _, r := range f.Regions {
		if r.Name == name || r.Context == name {
			return r, true
		}
	}
	return Region{}, false
}

// DatabaseAddress is where the other regions reach r's database once r is
// the primary: r's databaseHost and databasePort (read here, not by Parse,
// as Replication reads the settings), else, for the region the file names
// primary, the settings' primaryHost and primaryPort ("" and 0: the
// replication Service's address, read by the caller). A wrong port is an
// exit-2 error with the file and line.
func DatabaseAddress(f *Fleet, r Region, s Replication) (string, int, error) {
	var host string
	var port int
	p := &parser{path: f.Path}
	for i, reg := range f.Regions {
		if reg.Name != r.Name || i >= len(f.regionNodes) {
			continue
		}
		m := p.fields(f.regionNodes[i], "region "+r.Name, regionKeys...)
		host = p.str(m, "databaseHost")
		if v := m["databasePort"]; v != nil {
			if port = p.integer(m, "databasePort"); port < 1 || port > 65535 {
				p.errorf(v.Line, "region %q: databasePort must be a port (1-65535), not %s", r.Name, v.Value)
			}
		}
	}
	if p.err != nil {
		return "", 0, p.err
	}
	if r.Name == f.Primary().Name {
		if host == "" {
			host = s.Host
		}
		if port == 0 {
			port = s.Port
		}
	}
	return host, port, nil
}

// roleValue is the pattern of a "role: ..." line (quoted or not, a comment
// kept), compiled where it is used (no package initialization for it).
const roleValue = `^(\s*(?:-\s+)?role:\s*)(["']?)(primary|standby)(["']?)(.*)$`

// SwitchPrimary rewrites the fleet file at f.Path so that the region named
// primary is the primary and the one that was is a standby: only the two
// role lines change (comments, order and layout stay), written to a
// temporary file renamed over the original with its mode. f is updated too.
func SwitchPrimary(f *Fleet, primary string) error {
	old := f.Primary()
	next, ok := FindRegion(f, primary)
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
	role := regexp.MustCompile(roleValue)
	for _, c := range []struct {
		line int
		role string
	}{{roleLine(f, old), RoleStandby}, {roleLine(f, next), RolePrimary}} {
		if c.line < 1 || c.line > len(lines) || !role.MatchString(lines[c.line-1]) {
			return fmt.Errorf("%s:%d: no role on this line: the file changed since it was read", f.Path, c.line)
		}
		lines[c.line-1] = role.ReplaceAllString(lines[c.line-1], "${1}${2}"+c.role+"${4}${5}")
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

// roleLine is the line of r's role in the file (0 when unknown).
func roleLine(f *Fleet, r Region) int {
	for i, reg := range f.Regions {
		if reg.Name == r.Name && i < len(f.regionNodes) {
			if m := (&parser{path: f.Path}).fields(f.regionNodes[i], "region", regionKeys...); m["role"] != nil {
				return m["role"].Line
			}
		}
	}
	return 0
}
