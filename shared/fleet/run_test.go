package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

var three = []Target{{Context: "a", Region: "ra", Role: RolePrimary}, {Context: "b", Region: "rb", Role: RoleStandby}, {Context: "c"}}

// The results come in the targets' order whatever order the clusters answer
// in, and the exit code is the worst of all.
func TestRunOrderAndWorst(t *testing.T) {
	// c answers first, a last: each waits for the one after it.
	answered := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{}), "c": make(chan struct{})}
	next := map[string]string{"a": "b", "b": "c"}
	codes := map[string]int{"a": 0, "b": 1, "c": 3}
	results := Run(context.Background(), three, time.Hour, func(ctx context.Context, i int, tg Target) Result {
		if n, ok := next[tg.Context]; ok {
			<-answered[n]
		}
		defer close(answered[tg.Context])
		r := Result{Code: codes[tg.Context], Out: []byte("out of " + tg.Context + "\n")}
		if r.Code != 0 {
			r.Error = "failed in " + tg.Context
		}
		return r
	})
	for i, r := range results {
		if r.Target != three[i] || string(r.Out) != "out of "+three[i].Context+"\n" {
			t.Errorf("result %d = %+v, want target %+v", i, r, three[i])
		}
	}
	if w := Worst(results); w != exit.ExitCluster {
		t.Errorf("worst = %d, want 3", w)
	}
	err := Error(results)
	if e, ok := err.(*exit.Error); !ok || e.Code != 3 || e.Msg != "2 of 3 clusters did not succeed: b (exit 1), c (exit 3)" {
		t.Errorf("error = %v", err)
	}
	if Error(results[:1]) != nil {
		t.Error("one cluster that succeeded gives an error")
	}
	if w := Worst([]Result{{Code: 1}, {Code: exit.ExitInterrupted}, {Code: 3}}); w != exit.ExitInterrupted {
		t.Errorf("worst with an interrupted cluster = %d", w)
	}
}

// A cluster that never answers, even ignoring its context, is cut at its
// timeout: its result says so (exit 3) and the others are kept.
func TestRunCutsAHangingCluster(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	results := Run(context.Background(), three[:2], 50*time.Millisecond, func(ctx context.Context, i int, tg Target) Result {
		if tg.Context == "b" {
			<-hang // ignores ctx
		}
		return Result{Out: []byte("ok")}
	})
	if results[0].Code != 0 || string(results[0].Out) != "ok" {
		t.Errorf("the answering cluster: %+v", results[0])
	}
	if r := results[1]; r.Code != exit.ExitCluster || !strings.Contains(r.Error, "no answer from context b within 50ms (--cluster-timeout)") {
		t.Errorf("the hanging cluster: %+v", r)
	}
}

// A cluster whose call returns at its deadline (as client-go does) gets the
// timeout's message, not the call's error; Ctrl-C makes it 130.
func TestRunDeadlineAndInterrupt(t *testing.T) {
	wait := func(ctx context.Context, i int, tg Target) Result {
		<-ctx.Done()
		return Result{Code: 1, Error: ctx.Err().Error()}
	}
	r := Run(context.Background(), three[:1], 10*time.Millisecond, wait)[0]
	if r.Code != exit.ExitCluster || !strings.Contains(r.Error, "no answer from context a") {
		t.Errorf("timed out: %+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = Run(ctx, three[:1], time.Hour, wait)[0]
	if r.Code != exit.ExitInterrupted {
		t.Errorf("interrupted: %+v", r)
	}
}

func TestListAndPrint(t *testing.T) {
	results := []Result{
		{Target: three[0], Namespace: "piyasa-chatbot", Document: json.RawMessage(`{"kind":"DeployStatus","ready":true}`), Out: []byte("TABLE OF A\n")},
		{Target: three[2], Namespace: "ns", Code: 3, Error: "cannot reach https://u:hunter22@127.0.0.1:1", Hint: "check it", ErrOut: []byte("warning of c\n")},
	}
	raw, err := json.Marshal(NewList(results))
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(raw, &l); err != nil || len(l.Items) != 2 {
		t.Fatalf("list %s: %v", raw, err)
	}
	if l.Items[0]["context"] != "a" || l.Items[0]["role"] != "primary" || l.Items[0]["document"].(map[string]any)["ready"] != true || l.Items[0]["error"] != nil {
		t.Errorf("item 0 = %v", l.Items[0])
	}
	if l.Items[1]["exitCode"] != 3.0 || strings.Contains(l.Items[1]["error"].(string), "hunter22") || l.Items[1]["document"] != nil {
		t.Errorf("item 1 = %v", l.Items[1])
	}
	var out, errOut bytes.Buffer
	PrintSections(&out, &errOut, results)
	if err := PrintSummary(&out, results); err != nil {
		t.Fatal(err)
	}
	wantOut := "=== context a (region ra, primary, namespace piyasa-chatbot)\nTABLE OF A\n\n=== context c (namespace ns)\n"
	if !strings.HasPrefix(out.String(), wantOut) {
		t.Errorf("out:\n%s\nwant it to start with:\n%s", out.String(), wantOut)
	}
	for _, want := range []string{"CONTEXT   REGION   ROLE      NAMESPACE        EXIT   RESULT", "a         ra       primary   piyasa-chatbot   0      ok", "c         -        -         ns               3      cannot reach"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if e := errOut.String(); !strings.HasPrefix(e, "warning of c\nerror: cannot reach https://u:") || !strings.HasSuffix(e, "@127.0.0.1:1\nhint: check it\n") {
		t.Errorf("errOut:\n%s", e)
	}
	if strings.Contains(out.String()+errOut.String(), "hunter22") {
		t.Error("a password in the URL was printed")
	}
}
