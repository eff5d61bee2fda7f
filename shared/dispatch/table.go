package dispatch

import (
	"bytes"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// table prints rows in kubectl's style, as shared/output's TablePrinter does
// (the same tablewriter settings; TestTableMatchesOutput checks it), without
// linking shared/output's document printers.
type table struct {
	t   *tablewriter.Table
	w   io.Writer
	buf bytes.Buffer
}

func newTable(w io.Writer, headers ...string) *table {
	r := renderer.NewBlueprint(tw.Rendition{
		Borders: tw.BorderNone,
		Symbols: tw.NewSymbols(tw.StyleNone),
		Settings: tw.Settings{
			Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off, ShowHeader: tw.Off, ShowFooter: tw.Off},
			Lines:      tw.Lines{ShowHeaderLine: tw.Off, ShowFooterLine: tw.Off, ShowTop: tw.Off, ShowBottom: tw.Off},
		},
	})
	p := &table{w: w}
	p.t = tablewriter.NewTable(&p.buf,
		tablewriter.WithRenderer(r),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: "   ", Overwrite: true}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	p.t.Header(toAny(headers)...)
	return p
}

func (p *table) Append(cells ...string) { _ = p.t.Append(toAny(cells)...) }

// Render writes the table, without the padding tablewriter leaves at line ends.
func (p *table) Render() error {
	if err := p.t.Render(); err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(p.buf.String(), "\n") {
		if line == "" {
			continue
		}
		nl := strings.HasSuffix(line, "\n")
		line = strings.TrimRight(line, " \n")
		if nl {
			line += "\n"
		}
		if _, err := io.WriteString(p.w, line); err != nil {
			return err
		}
	}
	p.buf.Reset()
	return nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
