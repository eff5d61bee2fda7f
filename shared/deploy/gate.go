package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
	"github.com/piyasa/kubectl-piyasa/shared/suite"
)

// The gate of a wave is the suite's own kubectl-piyasa-diagnose, run as a
// child process in each region of the wave (as --migrate runs
// kubectl-piyasa-migrate): kubectl-piyasa-deploy does not carry the checks.

// diagnoseSub is the subcommand the gate runs.
const diagnoseSub = "diagnose"

// The gate's severities (--gate-on).
const (
	gateError   = "error"
	gateWarning = "warning"
)

// The seams of the gate's child process; the unit tests replace them.
var (
	// findDiagnose returns the path of kubectl-piyasa-diagnose (beside this
	// executable, else on PATH).
	findDiagnose = func() (string, bool) { return findSuiteBinary(diagnoseSub) }
	// runDiagnose runs it as runMigrate runs the migration.
	runDiagnose = runChild
)

// findSuiteBinary finds the suite's binary of sub: beside this executable
// (symbolic links resolved), else on PATH, as the dispatcher finds subcommands.
func findSuiteBinary(sub string) (string, bool) {
	name := suite.Binary(sub)
	if p, ok := suite.FindBeside(suite.SelfDir(), name); ok {
		return p, true
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	return "", false
}

// diagnoseFinding is what the gate reads of a DiagnoseReport's finding.
type diagnoseFinding struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// failsGate tells whether a finding of severity sev fails a gate on gateOn.
func failsGate(sev, gateOn string) bool {
	return sev == gateError || (gateOn == gateWarning && sev == gateWarning)
}

// gate runs diagnose in the region of g (its context, namespace and
// environment, and the kubectl flags given to cmd) and returns its verdict.
// err is set when diagnose could not give one (the cluster unreachable,
// interrupted, no report): a gate without a verdict fails the wave too.
func gate(ctx context.Context, g *cli.Global, kubeContext string, flags []string, gateOn string) (*GateResult, error) {
	path, ok := findDiagnose()
	if !ok {
		return nil, cli.Failedf("the gate runs %s, which is not installed", suite.Binary(diagnoseSub))
	}
	args := append([]string{"--context=" + kubeContext, "--namespace=" + g.Namespace, "--env=" + g.Env.Name,
		"--fail-on=" + gateOn, "--output=json"}, flags...)
	stdout, code, err := runDiagnose(ctx, path, args, g.ErrOut)
	switch {
	case err != nil || code == killed:
		if ctx.Err() != nil {
			return nil, cli.Interruptedf("interrupted while diagnose ran as the gate")
		}
		return nil, cli.Failedf("the gate could not run %s: %v", path, err)
	case code == cli.ExitInterrupted:
		return nil, cli.Interruptedf("interrupted while diagnose ran as the gate")
	case code == cli.ExitCluster:
		return nil, &cli.Error{Code: cli.ExitCluster, Msg: "diagnose (the gate) could not reach the cluster or lacks a right (see its error above)"}
	case code != cli.ExitOK && code != cli.ExitFailed:
		return nil, cli.Failedf("diagnose (the gate) exited with code %d (see its error above)", code)
	}
	var rep struct {
		Kind    string `json:"kind"`
		Summary struct {
			Errors   int `json:"errors"`
			Warnings int `json:"warnings"`
		} `json:"summary"`
		Findings []diagnoseFinding `json:"findings"`
	}
	if err := json.Unmarshal(stdout, &rep); err != nil || rep.Kind != "DiagnoseReport" {
		return nil, cli.Failedf("the report of diagnose (the gate) cannot be read, so the wave does not pass")
	}
	res := &GateResult{Passed: code == cli.ExitOK, Errors: rep.Summary.Errors, Warnings: rep.Summary.Warnings}
	var first string
	for _, f := range rep.Findings {
		if failsGate(f.Severity, gateOn) && !slices.Contains(res.Codes, f.Code) {
			res.Codes = append(res.Codes, f.Code)
			if first == "" {
				first = redact.Line(f.Message)
			}
		}
	}
	if res.Passed {
		return res, nil
	}
	return res, cli.Failedf("diagnose (the gate, --gate-on %s) found %s: %s", gateOn, strings.Join(res.Codes, ", "), first)
}

// gateFlags are the shared flags given to the update (kubectl's, --no-color)
// that diagnose gets too; its context, namespace and environment are the region's.
func gateFlags(u *updateFleet) []string {
	if u.cmd == nil {
		return nil
	}
	return cli.GlobalFlagArgs(u.cmd, "namespace", "env", "context")
}

// gateFailure is the error of the regions of a wave that another region failed.
func gateFailure(region string) error {
	return fmt.Errorf("region %s of the same wave failed", region)
}
