package suite

import (
	"os"
	"path/filepath"
	"runtime"
)

// SelfDir returns the directory of the running executable, symbolic links
// resolved, or "" when it cannot be told.
func SelfDir() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	return filepath.Dir(self)
}

// FindBeside returns the path of the executable name (".exe" added on
// Windows) in dir, the directory of the running executable (see SelfDir),
// when it is there: a file, and executable outside Windows.
func FindBeside(dir, name string) (string, bool) {
	if dir == "" {
		return "", false
	}
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	p := filepath.Join(dir, name)
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || (runtime.GOOS != "windows" && st.Mode()&0o111 == 0) {
		return "", false
	}
	return p, true
}
