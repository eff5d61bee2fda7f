package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
	"github.com/piyasa/kubectl-piyasa/shared/suite"
	"github.com/piyasa/kubectl-piyasa/shared/table"
	"github.com/piyasa/kubectl-piyasa/shared/version"
)

// The output formats of `kubectl piyasa version` (those of shared/output).
const (
	formatTable = "table"
	formatWide  = "wide"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

// Formats lists the -o values of `kubectl piyasa version`.
var Formats = []string{formatTable, formatWide, formatJSON, formatYAML}

// APIVersion is the apiVersion of the `version -o json|yaml` document (app.APIVersion).
const APIVersion = "piyasa.io/v1alpha1"

// ServerVersionCmd is the hidden command of every subcommand binary that
// prints the API server's version as a ServerVersionDoc (see shared/cli):
// the dispatcher asks an installed subcommand instead of linking a client.
const ServerVersionCmd = "__server"

// ServerVersionDoc is what `kubectl-piyasa-<sub> __server` prints:
// the server's version, or the error that the subcommand would have printed.
type ServerVersionDoc struct {
	Server *ServerInfo `json:"server,omitempty"`
	Error  *ErrorDoc   `json:"error,omitempty"`
}

// ErrorDoc is an exit.Error in a ServerVersionDoc.
type ErrorDoc struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// ServerInfo is the API server's version in `version -o json`.
type ServerInfo struct {
	Host       string `json:"host"`
	GitVersion string `json:"gitVersion"`
	Platform   string `json:"platform"`
}

const versionUsage = "usage: kubectl piyasa version [--client | --fleet FILE | --contexts a,b] [-o table|wide|json|yaml]"

// VersionHelp is the help of `kubectl piyasa version`.
const VersionHelp = `Print the versions of the dispatcher and every installed subcommand and,
unless --client is given, of the API server that the kubectl flags select
(asked through an installed subcommand).

Usage:
  kubectl piyasa [flags] version [--client] [-o table|wide|json|yaml]
  kubectl piyasa [flags] version --fleet FILE | --contexts a,b [--cluster-timeout 20s]

Flags:
      --client                     print the client versions only
      --fleet string               ask the API server of every region of this fleet file at once
      --contexts strings           ask these kubeconfig contexts at once (comma-separated)
      --cluster-timeout duration   with --fleet or --contexts: how long to wait for each cluster (default 20s)
  -o, --output string              output format: table|wide|json|yaml (default "table")
`

// Version prints the versions of the dispatcher, every installed subcommand
// and, unless --client is given, the API server that the kubectl flags select.
func (d *Dispatcher) Version(args []string) int {
	var format string
	fs := newFlagSet(&format)
	clientOnly := fs.Bool("client", false, "")
	addFleetFlags(fs)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(d.Out, VersionHelp)
			return exit.ExitOK
		}
		return d.Fail(exit.Usagef("%v", err).WithHint(versionUsage))
	}
	if fs.NArg() > 0 {
		return d.Fail(exit.Usagef("version takes no arguments").WithHint(versionUsage))
	}
	if format == "" {
		format = formatTable
	}
	if !slices.Contains(Formats, format) {
		return d.Fail(exit.Usagef("unknown output format %q: use -o %s", format, strings.Join(Formats, "|")))
	}
	targets, err := fleetTargets(fs)
	if err != nil {
		return d.Fail(err)
	}
	if targets != nil && *clientOnly {
		return d.Fail(exit.Usagef("--client asks no cluster: leave out --%s/--%s", flagFleet, flagContexts))
	}
	self := version.Get(suite.BinaryPrefix)
	parts := []versionPart{{Info: self, Installed: true, Path: filepath.Join(d.SelfDir, suite.BinaryPrefix)}}
	for _, s := range suite.Subcommands {
		p := versionPart{Info: version.Info{Binary: suite.Binary(s.Name)}}
		if path, ok := d.Find(s.Name); ok {
			p.Installed, p.Path = true, path
			info, err := subVersion(path)
			if err != nil {
				p.Error = err.Error()
			} else {
				p.Info = info
			}
		}
		parts = append(parts, p)
	}
	if targets != nil {
		if format == formatTable || format == formatWide {
			if code := d.printClientVersions(parts, format == formatWide); code != exit.ExitOK {
				return code
			}
		}
		return d.versionFleet(fs, targets, format, parts)
	}
	var server *ServerInfo
	var serverErr *exit.Error
	if !*clientOnly {
		server, serverErr = d.serverVersion(setSharedFlags(fs))
	}
	if format == formatJSON || format == formatYAML {
		doc := map[string]any{"items": parts}
		if server != nil {
			doc["server"] = server
		}
		if err := printDocument(d.Out, format, "VersionList", doc); err != nil {
			return d.Fail(err)
		}
		return d.serverResult(serverErr)
	}
	if code := d.printClientVersions(parts, format == formatWide); code != exit.ExitOK {
		return code
	}
	if server != nil {
		fmt.Fprintf(d.Out, "\nServer: %s (%s)\n", server.GitVersion, server.Host)
	}
	return d.serverResult(serverErr)
}

// versionPart is one binary in `version`.
type versionPart struct {
	version.Info `json:",inline"`
	Installed    bool   `json:"installed"`
	Path         string `json:"path,omitempty"`
	Error        string `json:"error,omitempty"`
}

// printClientVersions prints the table of the binaries.
func (d *Dispatcher) printClientVersions(parts []versionPart, wide bool) int {
	headers := []string{"BINARY", "VERSION", "COMMIT", "BUILT"}
	if wide {
		headers = append(headers, "PLATFORM", "PATH")
	}
	t := table.New(d.Out, headers...)
	for _, p := range parts {
		v, c, b := p.Version, p.Commit, p.Date
		switch {
		case !p.Installed:
			v, c, b = "not installed", "", ""
		case p.Error != "":
			v, c, b = "error: "+p.Error, "", ""
		}
		row := []string{p.Binary, v, c, b}
		if wide {
			row = append(row, p.Platform, p.Path)
		}
		t.Append(row...)
	}
	if err := t.Render(); err != nil {
		return exit.ExitFailed
	}
	return exit.ExitOK
}

// serverResult prints a server error after the client versions, as kubectl version does.
func (d *Dispatcher) serverResult(e *exit.Error) int {
	if e == nil {
		return exit.ExitOK
	}
	return exit.Print(d.ErrOut, e)
}

// serverVersion asks the first installed subcommand for the version of the
// API server that the kubectl flags select.
func (d *Dispatcher) serverVersion(flags []string) (*ServerInfo, *exit.Error) {
	for _, s := range suite.Subcommands {
		if path, ok := d.Find(s.Name); ok {
			return d.askServerVersion(path, flags)
		}
	}
	return nil, exit.Usagef("cannot ask the API server for its version: no subcommand of the suite is installed").
		WithHint("%s; or run 'kubectl piyasa version --client'", installHint)
}

// askServerVersion runs `<path> __server <flags>` and reads its answer.
func (d *Dispatcher) askServerVersion(path string, flags []string) (*ServerInfo, *exit.Error) {
	return d.askServerVersionCmd(context.Background(), path, flags)
}

// askServerVersionCmd is askServerVersion with the subcommand killed when ctx ends.
func (d *Dispatcher) askServerVersionCmd(ctx context.Context, path string, flags []string) (*ServerInfo, *exit.Error) {
	cmd := exec.CommandContext(ctx, path, append([]string{ServerVersionCmd}, flags...)...)
	cmd.WaitDelay = waitDelay
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = d.In, &out, &errOut
	if cmd.Stdin == nil {
		cmd.Stdin = os.Stdin
	}
	runErr := cmd.Run()
	var doc ServerVersionDoc
	if err := json.Unmarshal(out.Bytes(), &doc); err == nil && (doc.Server != nil || doc.Error != nil) {
		if doc.Error != nil {
			return nil, &exit.Error{Code: doc.Error.Code, Msg: doc.Error.Message, Hint: doc.Error.Hint}
		}
		return doc.Server, nil
	}
	// No answer: an older binary, or one that failed before answering.
	e := exit.Failedf("%s cannot report the server version", filepath.Base(path))
	var ee *exec.ExitError
	if errors.As(runErr, &ee) && ee.ExitCode() > 0 {
		e.Code = ee.ExitCode()
	}
	for _, l := range strings.Split(errOut.String(), "\n") {
		if m, ok := strings.CutPrefix(l, "error: "); ok {
			e.Msg += ": " + m
		} else if h, ok := strings.CutPrefix(l, "hint: "); ok {
			e.Hint = h
		}
	}
	if runErr != nil && !strings.Contains(e.Msg, ": ") {
		e.Msg += ": " + runErr.Error()
	}
	if e.Hint == "" {
		e.Hint = "install every binary of the suite from one release"
	}
	return nil, e
}

// subVersion asks an installed binary for its version document.
func subVersion(path string) (version.Info, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "version", "-o", "json").Output()
	if err != nil {
		return version.Info{}, fmt.Errorf("%s version: %v", filepath.Base(path), err)
	}
	var info version.Info
	if err := json.Unmarshal(out, &info); err != nil {
		return version.Info{}, fmt.Errorf("%s version: unreadable output", filepath.Base(path))
	}
	return info, nil
}

// printDocument prints v (whose JSON is an object) as JSON or YAML with
// apiVersion piyasa.io/v1alpha1 and the kind added, exactly as shared/output
// (cli-runtime's printers) does: JSON indented by four spaces, keys sorted.
func printDocument(w io.Writer, format, kind string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("%s document is not an object: %w", kind, err)
	}
	m["apiVersion"] = APIVersion
	m["kind"] = kind
	var data []byte
	switch format {
	case formatJSON:
		data, err = json.MarshalIndent(m, "", "    ")
		data = append(data, '\n')
	case formatYAML:
		data, err = yaml.Marshal(m)
	default:
		return fmt.Errorf("format %q is not a document format", format)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}
