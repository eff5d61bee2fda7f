// Package version holds the build's version, stamped at link time:
//
//	go build -ldflags "-X github.com/piyasa/kubectl-piyasa/shared/version.Version=v0.1.0 \
//	  -X github.com/piyasa/kubectl-piyasa/shared/version.Commit=abc1234 \
//	  -X github.com/piyasa/kubectl-piyasa/shared/version.Date=2026-11-26T00:00:00Z"
package version

import (
	"fmt"
	"runtime"
)

// Stamped by -ldflags; the defaults mark a development build.
var (
	Version = "v0.0.0-dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// Info is the version document of one binary.
type Info struct {
	Binary    string `json:"binary"`
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the version info of the running binary.
func Get(binary string) Info {
	return Info{Binary: binary, Version: Version, Commit: Commit, Date: Date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

// String is the one-line form printed by --version.
func (i Info) String() string {
	return fmt.Sprintf("%s %s (commit %s, built %s, %s, %s)", i.Binary, i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
}
