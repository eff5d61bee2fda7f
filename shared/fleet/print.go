package fleet

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
	"github.com/piyasa/kubectl-piyasa/shared/table"
)

// ListKind is the kind of the -o json|yaml document of a fan-out.
const ListKind = "List"

// Item is one cluster in the List document of a fan-out.
type Item struct {
	Context   string `json:"context"`
	Region    string `json:"region,omitempty"`
	Role      string `json:"role,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	ExitCode  int    `json:"exitCode"`
	// Document is the command's own document for that cluster.
	Document json.RawMessage `json:"document,omitempty"`
	// Error and Hint say why the cluster did not succeed.
	Error string `json:"error,omitempty"`
	Hint  string `json:"hint,omitempty"`
}

// List is the -o json|yaml document of a fan-out (kind List): one item per
// cluster, in the fleet's order.
type List struct {
	Items []Item `json:"items"`
	// Findings are about the fleet as a whole (diagnose --fleet: the checks
	// across regions); nil when the command has none.
	Findings any `json:"findings,omitempty"`
}

// NewList makes the List document of the results.
func NewList(results []Result) List {
	l := List{Items: make([]Item, 0, len(results))}
	for _, r := range results {
		doc := r.Document
		if len(doc) > 0 && !json.Valid(doc) {
			doc = nil
		}
		l.Items = append(l.Items, Item{Context: r.Context, Region: r.Region, Role: r.Role, Namespace: r.Namespace,
			ExitCode: r.Code, Document: doc, Error: redact.Line(r.Error), Hint: redact.Line(r.Hint)})
	}
	return l
}

// Heading is the line that heads a cluster's section of the text output:
// "=== context eu-prod (region eu, primary, namespace piyasa-chatbot)".
func Heading(r Result) string {
	var about []string
	if r.Region != "" {
		about = append(about, "region "+r.Region)
	}
	if r.Role != "" {
		about = append(about, r.Role)
	}
	if r.Namespace != "" {
		about = append(about, "namespace "+r.Namespace)
	}
	h := "=== context " + r.Context
	if len(about) > 0 {
		h += " (" + strings.Join(about, ", ") + ")"
	}
	return h
}

// PrintSections prints each cluster's buffered output in the fleet's order,
// never interleaved: a heading and its standard output on out, its standard
// error and its error (as "error: ..." and "hint: ...") on errOut.
func PrintSections(out, errOut io.Writer, results []Result) {
	term := table.DetectTerminal(out)
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintln(out, term.Bold(Heading(r)))
		_, _ = out.Write(r.Out)
		_, _ = errOut.Write(r.ErrOut)
		if r.Error != "" {
			exit.Print(errOut, &exit.Error{Code: r.Code, Msg: redact.Line(r.Error), Hint: redact.Line(r.Hint)})
		}
	}
}

// PrintSummary prints the table of the clusters: CONTEXT, REGION (for a
// fleet), ROLE, NAMESPACE, EXIT and RESULT (ok, or the cluster's error).
func PrintSummary(out io.Writer, results []Result) error {
	regions := false
	for _, r := range results {
		regions = regions || r.Region != ""
	}
	headers := []string{"CONTEXT", "ROLE", "NAMESPACE", "EXIT", "RESULT"}
	if regions {
		headers = []string{"CONTEXT", "REGION", "ROLE", "NAMESPACE", "EXIT", "RESULT"}
	}
	t := table.New(out, headers...).Long("RESULT")
	for _, r := range results {
		row := []string{r.Context}
		if regions {
			row = append(row, dash(r.Region))
		}
		t.Append(append(row, dash(r.Role), dash(r.Namespace), strconv.Itoa(r.Code), resultText(r))...)
	}
	return t.Render()
}

// resultText is a cluster's RESULT: ok, its error, or what its exit code means.
func resultText(r Result) string {
	switch {
	case r.Error != "":
		return redact.Line(r.Error)
	case r.Code == exit.ExitOK:
		return "ok"
	case r.Code == exit.ExitFailed:
		return "failed (see its section)"
	default:
		return fmt.Sprintf("exit %d (see its section)", r.Code)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
