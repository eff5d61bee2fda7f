package deploy

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/table"
)

// logLines is how many log lines of a failing container are shown.
const logLines = 20

// Waiter waits for workloads and reports progress and failures.
type Waiter struct {
	CS      kubernetes.Interface
	NS      string
	Timeout time.Duration
	// Progress receives one line per status change of a workload.
	Progress io.Writer
	// Now is the clock.
	Now func() time.Time
	// OnReady is called when a workload is first reported ready (benchmarks).
	OnReady func(kube.WorkloadStatus)
}

// Wait waits for the workloads by watching, failing fast (kube.WaitOptions.FailFast:
// a failing pod of the current revision, refused pods, a Deployment past its
// progress deadline); on a failing pod it prints the pod's events and last
// log lines and returns the *kube.FailureError. It returns as soon as ctx ends.
func (w *Waiter) Wait(ctx context.Context, workloads []kube.Workload) ([]kube.WorkloadStatus, error) {
	start := w.now()
	reported := map[kube.Workload]bool{}
	lastLine := map[kube.Workload]string{}
	term := table.DetectTerminal(w.Progress)
	width := 0
	for _, wl := range workloads {
		width = max(width, len(wl.Component))
	}
	statuses, err := kube.WaitForWorkloads(ctx, w.CS, w.NS, workloads, kube.WaitOptions{
		Timeout:  w.Timeout,
		FailFast: true,
		OnProgress: func(st kube.WorkloadStatus) {
			if st.Done {
				if reported[st.Workload] {
					return
				}
				reported[st.Workload] = true
				if w.OnReady != nil {
					w.OnReady(st)
				}
			}
			if w.Progress != nil {
				// One line per visible change (statuses also change in fields not shown).
				key := progressLine(st, width, 0)
				if lastLine[st.Workload] == key {
					return
				}
				lastLine[st.Workload] = key
				line := progressLine(st, width, w.now().Sub(start))
				if st.Done {
					line = term.Green(line)
				}
				fmt.Fprintln(w.Progress, line)
			}
		},
	})
	if fe, ok := err.(*kube.FailureError); ok && w.Progress != nil && ctx.Err() == nil {
		w.explain(ctx, fe)
	}
	return statuses, err
}

func (w *Waiter) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// progressLine is e.g. "[  3s] api        1/1 ready" or
// "[  1s] worker     0/2 ready  (Waiting for 2 pods to be ready...)".
func progressLine(st kube.WorkloadStatus, width int, elapsed time.Duration) string {
	state := fmt.Sprintf("%d/%d ready", st.Ready, st.Desired)
	switch {
	case !st.Found:
		state = "waiting to be created"
	case st.Done:
		state += ", rolled out"
	case st.Message != "":
		state += "  (" + strings.TrimSuffix(st.Message, "...") + ")"
	}
	return fmt.Sprintf("[%4s] %-*s  %s", elapsed.Round(time.Second), width, st.Component, state)
}

// explain prints the failing pod's events and the last lines of the
// container's previous log (the crashed instance), falling back to the
// current one. A signal cuts it short.
func (w *Waiter) explain(ctx context.Context, fe *kube.FailureError) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	p := fe.Problem
	out := w.Progress
	term := table.DetectTerminal(out)
	if p.Reason == kube.ReasonProgressDeadlineExceeded {
		fmt.Fprintf(out, "\n%s\n", term.Red(fmt.Sprintf("%s made no progress within its progressDeadlineSeconds: %s", fe.Workload.Subject(), p.Message)))
		return
	}
	if p.Pod == "" {
		// Pods the API server refuses (FailedCreate): there is no pod to explain.
		fmt.Fprintf(out, "\n%s\n", term.Red(fmt.Sprintf("%s: the API server refuses its pods: %s", fe.Workload.Subject(), p.Message)))
		return
	}
	fmt.Fprintf(out, "\n%s\n", term.Red(fmt.Sprintf("%s is failing: %s", fe.Workload.Component, p)))
	events, err := kube.ObjectEvents(ctx, w.CS, w.NS, "Pod", p.Pod)
	if ctx.Err() != nil && err != nil {
		return
	}
	fmt.Fprintf(out, "Events of pod %s:\n", p.Pod)
	switch {
	case err != nil:
		fmt.Fprintf(out, "  (cannot list events: %v)\n", output.FirstLine(err.Error()))
	case len(events) == 0:
		fmt.Fprintln(out, "  (none)")
	default:
		for _, e := range events {
			fmt.Fprintf(out, "  %-7s  %-22s  %s\n", e.Type, e.Reason, oneLine(e.Message))
		}
	}
	if p.Container == "" || p.Reason == kube.ReasonUnschedulable {
		return
	}
	lines, err := kube.TailLogs(ctx, w.CS, w.NS, p.Pod, p.Container, logLines, true)
	which := "previous"
	if err != nil || len(lines) == 0 {
		lines, err = kube.TailLogs(ctx, w.CS, w.NS, p.Pod, p.Container, logLines, false)
		which = "current"
	}
	if ctx.Err() != nil && err != nil {
		return
	}
	fmt.Fprintf(out, "Last log lines of %s/%s (%s container):\n", p.Pod, p.Container, which)
	switch {
	case err != nil:
		fmt.Fprintf(out, "  (no logs: %s)\n", output.FirstLine(err.Error()))
	case len(lines) == 0:
		fmt.Fprintln(out, "  (empty)")
	default:
		for _, l := range lines {
			fmt.Fprintf(out, "  %s\n", l)
		}
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
