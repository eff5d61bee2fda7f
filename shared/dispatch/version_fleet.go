package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/suite"
)

// The fan-out flags of `kubectl piyasa version` (those of shared/fleet/fleetcmd).
const (
	flagFleet    = "fleet"
	flagContexts = "contexts"
	flagTimeout  = "cluster-timeout"
)

// addFleetFlags adds --fleet, --contexts and --cluster-timeout to fs.
func addFleetFlags(fs *pflag.FlagSet) {
	fs.String(flagFleet, "", "")
	fs.StringSlice(flagContexts, nil, "")
	fs.Duration(flagTimeout, fleet.DefaultClusterTimeout, "")
}

// fleetTargets returns the clusters that --fleet or --contexts name (nil
// when neither is given), refusing --context with them.
func fleetTargets(fs *pflag.FlagSet) ([]fleet.Target, error) {
	file, _ := fs.GetString(flagFleet)
	contexts, _ := fs.GetStringSlice(flagContexts)
	timeout, _ := fs.GetDuration(flagTimeout)
	switch {
	case !fs.Changed(flagFleet) && !fs.Changed(flagContexts):
		if fs.Changed(flagTimeout) {
			return nil, exit.Usagef("--%s is for --%s or --%s", flagTimeout, flagFleet, flagContexts)
		}
		return nil, nil
	case fs.Changed(flagFleet) && fs.Changed(flagContexts):
		return nil, exit.Usagef("--%s and --%s exclude each other", flagFleet, flagContexts)
	case fs.Changed("context"):
		return nil, exit.Usagef("--context cannot be used with --%s or --%s: they name the contexts", flagFleet, flagContexts).
			WithHint("leave out --context, or ask one cluster without --%s/--%s", flagFleet, flagContexts)
	case timeout <= 0:
		return nil, exit.Usagef("--%s must be more than 0", flagTimeout)
	case fs.Changed(flagContexts):
		return fleet.ContextTargets(contexts)
	}
	f, err := fleet.Load(file)
	if err != nil {
		return nil, err
	}
	return f.Targets(), nil
}

// versionFleet asks every cluster of the fan-out for its API server's
// version (through an installed subcommand, at once, each within
// --cluster-timeout) and prints the client versions once, then a section per
// cluster and the table of the clusters; -o json|yaml is a List whose items
// hold each cluster's VersionList.
func (d *Dispatcher) versionFleet(fs *pflag.FlagSet, targets []fleet.Target, format string, parts []versionPart) int {
	timeout, _ := fs.GetDuration(flagTimeout)
	path, e := d.serverAsker()
	if e != nil {
		return exit.Print(d.ErrOut, e)
	}
	shared := setSharedFlags(fs)
	structured := format == formatJSON || format == formatYAML
	results := fleet.Run(context.Background(), targets, timeout, func(ctx context.Context, _ int, t fleet.Target) fleet.Result {
		server, e := d.askServerVersionCmd(ctx, path, append(slices.Clone(shared), "--context="+t.Context))
		r := fleet.Result{Namespace: t.Namespace}
		if e != nil {
			r.Code, r.Error, r.Hint = e.Code, e.Msg, e.Hint
			return r
		}
		if structured {
			r.Document, _ = json.Marshal(map[string]any{"apiVersion": APIVersion, "kind": "VersionList", "items": parts, "server": server})
		} else {
			r.Out = fmt.Appendf(nil, "Server: %s (%s)\n", server.GitVersion, server.Host)
		}
		return r
	})
	if structured {
		if err := printDocument(d.Out, format, fleet.ListKind, fleet.NewList(results)); err != nil {
			return d.Fail(err)
		}
	} else {
		fmt.Fprintln(d.Out)
		fleet.PrintSections(d.Out, d.ErrOut, results)
		fmt.Fprintln(d.Out)
		if err := fleet.PrintSummary(d.Out, results); err != nil {
			return d.Fail(err)
		}
	}
	if err := fleet.Error(results); err != nil {
		return d.Fail(err)
	}
	return exit.ExitOK
}

// serverAsker returns the first installed subcommand, which asks the API
// servers (as serverVersion does).
func (d *Dispatcher) serverAsker() (string, *exit.Error) {
	for _, s := range suite.Subcommands {
		if path, ok := d.Find(s.Name); ok {
			return path, nil
		}
	}
	_, e := d.serverVersion(nil)
	return "", e
}

// waitDelay bounds the wait for a killed subcommand's output.
const waitDelay = time.Second
