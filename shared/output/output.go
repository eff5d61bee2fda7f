// Package output prints the suite's results: -o table|wide through
// olekukonko/tablewriter in kubectl's borderless style, and -o json|yaml
// through cli-runtime printers as documents with apiVersion piyasa.io/v1alpha1
// and a kind, so runbooks can rely on them.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// Output formats.
const (
	Table = "table"
	Wide  = "wide"
	JSON  = "json"
	YAML  = "yaml"
)

// Flags is the -o/--output flag of a command.
type Flags struct {
	Output  string
	allowed []string
}

// NewFlags returns -o flags allowing table, wide, json, yaml and any extra formats.
func NewFlags(extra ...string) *Flags {
	return &Flags{Output: Table, allowed: append([]string{Table, Wide, JSON, YAML}, extra...)}
}

// AddFlags adds -o/--output to cmd, with completion of the allowed formats.
func (f *Flags) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.Output, "output", "o", f.Output, "Output format: "+strings.Join(f.allowed, "|"))
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return f.allowed, cobra.ShellCompDirectiveNoFileComp
	})
}

// Validate checks the format.
func (f *Flags) Validate() error {
	if f.Output == "" {
		f.Output = Table
	}
	if !slices.Contains(f.allowed, f.Output) {
		return fmt.Errorf("unknown output format %q: use -o %s", f.Output, strings.Join(f.allowed, "|"))
	}
	return nil
}

// Structured is true for json and yaml.
func (f *Flags) Structured() bool { return f.Output == JSON || f.Output == YAML }

// IsWide is true for -o wide.
func (f *Flags) IsWide() bool { return f.Output == Wide }

// PrintDocument prints v as a document of the given kind in the chosen
// structured format.
func (f *Flags) PrintDocument(w io.Writer, kind string, v any) error {
	return PrintDocument(w, f.Output, kind, v)
}

// PrintDocument prints v (any JSON-marshalable value whose JSON is an object)
// as JSON or YAML, with apiVersion piyasa.io/v1alpha1 and the kind added.
func PrintDocument(w io.Writer, format, kind string, v any) error {
	obj, err := ToUnstructured(kind, v)
	if err != nil {
		return err
	}
	var p printers.ResourcePrinter
	switch format {
	case JSON:
		p = &printers.JSONPrinter{}
	case YAML:
		p = &printers.YAMLPrinter{}
	default:
		return fmt.Errorf("format %q is not a document format", format)
	}
	return p.PrintObj(obj, w)
}

// ToUnstructured converts v into an unstructured object of the given kind.
func ToUnstructured(kind string, v any) (*unstructured.Unstructured, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s document is not an object: %w", kind, err)
	}
	m["apiVersion"] = app.APIVersion
	m["kind"] = kind
	return &unstructured.Unstructured{Object: m}, nil
}

// AddFlagSet adds -o/--output to a plain flag set.
func (f *Flags) AddFlagSet(fs *pflag.FlagSet) {
	fs.StringVarP(&f.Output, "output", "o", f.Output, "Output format: "+strings.Join(f.allowed, "|"))
}
