// Package suite names the kubectl-piyasa binaries and their subcommands.
package suite

import (
	"os"
	"path/filepath"
	"strings"
)

// Plugin is the name of the Krew plugin and of the dispatcher binary's suffix.
const Plugin = "piyasa"

// BinaryPrefix prefixes every binary of the suite.
const BinaryPrefix = "kubectl-piyasa"

// Subcommand is one binary of the suite run as `kubectl piyasa <Name>`.
type Subcommand struct {
	Name  string
	Short string
}

// Subcommands lists the suite's subcommands in display order.
var Subcommands = []Subcommand{
	{Name: "deploy", Short: "Deploy, update, roll back and configure the app (Procedures 1 and 2)"},
	{Name: "scale", Short: "Scale components and tune autoscaling, keeping worker sharding consistent"},
	{Name: "migrate", Short: "Run the database migrations (Alembic) as a Job"},
	{Name: "backup", Short: "Back up and restore the PostgreSQL database"},
	{Name: "diagnose", Short: "Check the app's namespace for known faults and explain the fix"},
}

// Alias is a word after `kubectl piyasa` that one of the binaries runs as
// its own subcommand: `kubectl piyasa failover ...` runs
// `kubectl-piyasa-deploy failover ...` (no binary of its own: the release
// archive stays small).
type Alias struct {
	Name  string
	Short string
	// Of is the subcommand whose binary runs it.
	Of string
}

// Aliases lists the suite's aliases in display order.
var Aliases = []Alias{
	{Name: "failover", Short: "Make a standby region the primary (switchover or failover), or rejoin the old one", Of: "deploy"},
}

// LookupAlias returns the alias with the given name.
func LookupAlias(name string) (Alias, bool) {
	for _, a := range Aliases {
		if a.Name == name {
			return a, true
		}
	}
	return Alias{}, false
}

// Binary returns the executable name of a subcommand, e.g. kubectl-piyasa-deploy.
func Binary(sub string) string { return BinaryPrefix + "-" + sub }

// Lookup returns the subcommand with the given name.
func Lookup(name string) (Subcommand, bool) {
	for _, s := range Subcommands {
		if s.Name == name {
			return s, true
		}
	}
	return Subcommand{}, false
}

// DisplayName is how a subcommand is typed by users.
func DisplayName(sub string) string {
	if sub == "" {
		return "kubectl " + Plugin
	}
	return "kubectl " + Plugin + " " + sub
}

// CompletionHelper is the executable kubectl runs to complete `kubectl piyasa ...`.
const CompletionHelper = "kubectl_complete-" + Plugin

// CompletionLink is the name under which kubectl runs the completion helper
// for `kubectl piyasa <sub> ...` when kubectl-piyasa-<sub> is on PATH (a link
// to CompletionHelper; links are made by make build and make install, never
// packed into a release archive).
func CompletionLink(sub string) string { return CompletionHelper + "-" + sub }

// Executable maps a main package's directory under plugins/ to its
// executable name: piyasa -> kubectl-piyasa (the dispatcher),
// complete-piyasa -> kubectl_complete-piyasa, <sub> -> kubectl-piyasa-<sub>.
// This is the one place the names are made: the Makefile, scripts/release.sh
// (through `go run ./shared/suite/cmd/binaries`) and test/harness use it.
func Executable(dir string) string {
	switch {
	case dir == Plugin:
		return BinaryPrefix
	case strings.HasPrefix(dir, "complete-"):
		return "kubectl_" + dir
	default:
		return Binary(dir)
	}
}

// Main is one main package under plugins/.
type Main struct {
	// Dir is the package's directory relative to the repository root (plugins/deploy).
	Dir string
	// Executable is its executable's name (kubectl-piyasa-deploy).
	Executable string
	// Sub is the subcommand it implements, "" for the dispatcher and the completion helper.
	Sub string
}

// Mains lists the main packages under root/plugins (the binaries that exist:
// the list grows as subcommands land), sorted by directory.
func Mains(root string) ([]Main, error) {
	entries, err := os.ReadDir(filepath.Join(root, "plugins"))
	if err != nil {
		return nil, err
	}
	var mains []Main
	for _, e := range entries {
		if !e.IsDir() || !isMainPackage(filepath.Join(root, "plugins", e.Name())) {
			continue
		}
		m := Main{Dir: "plugins/" + e.Name(), Executable: Executable(e.Name())}
		if _, ok := Lookup(e.Name()); ok {
			m.Sub = e.Name()
		}
		mains = append(mains, m)
	}
	return mains, nil
}

func isMainPackage(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(line) == "package main" {
				return true
			}
		}
	}
	return false
}

// BuildTags are the build tags of every release binary, comma-separated for
// go build -tags: stdlibjson makes minio-go (the backup's S3 client) use
// encoding/json instead of a JSON library of its own, about 0.9 MiB less in
// each binary that links it; nethttpomithttp2 leaves out net/http's bundled
// copy of HTTP/2 (about 0.28 MiB less in every binary): client-go speaks
// HTTP/2 to the API server through golang.org/x/net/http2, which it sets up
// itself, and the other clients (S3, OIDC) use HTTP/1.1 as they did.
const BuildTags = "stdlibjson,nethttpomithttp2"

// InstallHint is the hint of the errors about a binary of the suite that is
// not installed (the dispatcher's, and deploy's for kubectl-piyasa-migrate).
const InstallHint = "install the whole suite (kubectl krew install piyasa/piyasa, or make install from a checkout)"
