package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

// DefaultClusterTimeout is the default of --cluster-timeout.
const DefaultClusterTimeout = 20 * time.Second

// Target is one cluster of a fan-out: a region of a fleet file, or a context
// of --contexts (no region, role unknown).
type Target struct {
	// Context is the kubeconfig context.
	Context string `json:"context"`
	// Region is the region's name ("" for --contexts).
	Region string `json:"region,omitempty"`
	// Role is primary or standby ("" when unknown).
	Role string `json:"role,omitempty"`
	// Environment and Namespace select the app there ("": from the flags).
	Environment string `json:"-"`
	Namespace   string `json:"-"`
}

// Targets are the fleet's regions in the file's order.
func (f *Fleet) Targets() []Target {
	out := make([]Target, 0, len(f.Regions))
	for _, r := range f.Regions {
		out = append(out, Target{Context: r.Context, Region: r.Name, Role: r.Role, Environment: r.Environment, Namespace: r.EffectiveNamespace()})
	}
	return out
}

// ContextTargets are the contexts of --contexts, in the order given; empty
// or repeated names are usage errors.
func ContextTargets(contexts []string) ([]Target, error) {
	seen := map[string]bool{}
	out := make([]Target, 0, len(contexts))
	for _, c := range contexts {
		c = strings.TrimSpace(c)
		switch {
		case c == "":
			return nil, exit.Usagef("--contexts: an empty context name").WithHint("name the kubeconfig contexts, comma-separated: --contexts eu,us")
		case seen[c]:
			return nil, exit.Usagef("--contexts: context %q is given twice", c)
		}
		seen[c] = true
		out = append(out, Target{Context: c})
	}
	if len(out) == 0 {
		return nil, exit.Usagef("--contexts: no context given").WithHint("name the kubeconfig contexts, comma-separated: --contexts eu,us")
	}
	return out, nil
}

// Result is what one cluster answered.
type Result struct {
	Target
	// Namespace is the namespace the command worked in ("" when unknown).
	Namespace string
	// Code is the cluster's exit code (see shared/exit).
	Code int
	// Error and Hint are the cluster's error, masked ("" on success or for
	// a silent result such as diagnose's findings).
	Error, Hint string
	// Out and ErrOut are the cluster's buffered standard output and error.
	Out, ErrOut []byte
	// Document is the command's own JSON document (with -o json|yaml).
	Document json.RawMessage
}

// Func asks one cluster, the i-th target t. It must honour ctx; Run does not
// wait for a call that does not.
type Func func(ctx context.Context, i int, t Target) Result

// Run asks every target at once, each with a context that ends after timeout
// or with ctx, and returns the results in the targets' order. A cluster that
// has not answered by its deadline gets an exit-3 result that says so (its
// call is left behind); once ctx ends (Ctrl-C), the clusters that have not
// answered get exit 130.
func Run(ctx context.Context, targets []Target, timeout time.Duration, fn Func) []Result {
	results := make([]Result, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runOne(ctx, i, t, timeout, fn)
		}()
	}
	wg.Wait()
	return results
}

// grace is how long a call may take past its deadline to return what it
// has (its partial output) before it is left behind.
const grace = 200 * time.Millisecond

func runOne(ctx context.Context, i int, t Target, timeout time.Duration, fn Func) Result {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan Result, 1)
	go func() { done <- fn(cctx, i, t) }()
	var r Result
	select {
	case r = <-done:
	case <-cctx.Done():
		select {
		case r = <-done:
		case <-time.After(grace):
			r = Result{}
		}
	}
	r.Target = t
	switch {
	case r.Code == exit.ExitOK && cctx.Err() == nil:
	case ctx.Err() != nil:
		r.Code, r.Error, r.Hint = exit.ExitInterrupted, "interrupted before the cluster answered", ""
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		r.Code = exit.ExitCluster
		r.Error = fmt.Sprintf("no answer from context %s within %s (--cluster-timeout)", t.Context, timeout)
		r.Hint = "check that its API server is up and reachable, or give it more time with --cluster-timeout"
	}
	return r
}

// Worst is the exit code of a fan-out: the worst of all clusters'
// (130 interrupted, then 3 unreachable, 2 usage, 1 failed, 0).
func Worst(results []Result) int {
	worst := exit.ExitOK
	for _, r := range results {
		worst = max(worst, r.Code)
	}
	return worst
}

// Error is the fan-out's error: nil when every cluster succeeded, else an
// error with the worst exit code that names the clusters that did not.
func Error(results []Result) error {
	worst := Worst(results)
	if worst == exit.ExitOK {
		return nil
	}
	var bad []string
	for _, r := range results {
		if r.Code != exit.ExitOK {
			bad = append(bad, fmt.Sprintf("%s (exit %d)", r.Context, r.Code))
		}
	}
	return &exit.Error{Code: worst, Msg: fmt.Sprintf("%d of %d clusters did not succeed: %s", len(bad), len(results), strings.Join(bad, ", "))}
}
