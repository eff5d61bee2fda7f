// Package table is the one table printer of every binary: kubectl's
// borderless style, fitted to the terminal it
// prints on (long text under its row, severities in colour) and unchanged
// when piped. It links nothing of Kubernetes, so the dispatcher uses it too.
package table

import (
	"io"
	"strings"

	"github.com/mattn/go-runewidth"
)

// Printer prints rows in kubectl's style: upper-case headers, no borders,
// columns left-aligned and separated by three spaces. It is the one table
// printer of every binary.
//
// When the output is not a terminal the layout is always that one, so that
// what parses it keeps working. On a terminal the table fits its width: when
// a row would be wider, the columns marked Long (free text: a message, a fix)
// leave the row and go on indented lines under it, wrapped at word
// boundaries; columns marked Severity are coloured.
type Printer struct {
	w        io.Writer
	term     Terminal
	headers  []string
	rows     [][]string
	long     map[int]bool
	severity map[int]bool
}

// New returns a table writing to w with the given headers; whether w is
// a terminal, and how wide, is found out once here.
func New(w io.Writer, headers ...string) *Printer {
	return &Printer{w: w, term: DetectTerminal(w), headers: headers, long: map[int]bool{}, severity: map[int]bool{}}
}

// SetTerminal overrides what New found out about the output (tests).
func (p *Printer) SetTerminal(t Terminal) *Printer { p.term = t; return p }

// Terminal returns what the table knows about its output.
func (p *Printer) Terminal() Terminal { return p.term }

// Long marks the named columns as free text that may go under the row.
func (p *Printer) Long(headers ...string) *Printer {
	p.mark(p.long, headers)
	return p
}

// Severity marks the named columns as severities, coloured on a terminal.
func (p *Printer) Severity(headers ...string) *Printer {
	p.mark(p.severity, headers)
	return p
}

func (p *Printer) mark(m map[int]bool, headers []string) {
	for _, h := range headers {
		for i, ph := range p.headers {
			if strings.EqualFold(ph, h) {
				m[i] = true
			}
		}
	}
}

// Append adds one row.
func (p *Printer) Append(cells ...string) {
	row := make([]string, len(p.headers))
	copy(row, cells)
	p.rows = append(p.rows, row)
}

// Render writes the table and forgets its rows.
func (p *Printer) Render() error {
	defer func() { p.rows = nil }()
	lines, offsets := layout(p.headers, p.rows, nil)
	if p.term.Width > 0 && len(p.long) > 0 && maxWidth(lines) > p.term.Width {
		return p.renderNarrow()
	}
	return p.write(lines, offsets, nil)
}

// renderNarrow prints the short columns as rows and each long cell on
// indented, wrapped lines under its row: the first long column as it is, the
// others labelled ("fix: ...").
func (p *Printer) renderNarrow() error {
	var keep []int
	for i := range p.headers {
		if !p.long[i] {
			keep = append(keep, i)
		}
	}
	pick := func(row []string) []string {
		out := make([]string, len(keep))
		for j, i := range keep {
			out[j] = row[i]
		}
		return out
	}
	rows := make([][]string, len(p.rows))
	for r, row := range p.rows {
		rows[r] = pick(row)
	}
	lines, offsets := layout(pick(p.headers), rows, keep)
	indent := 0
	if len(offsets) > 1 {
		indent = offsets[1]
	}
	if indent > p.term.Width/2 {
		indent = 2
	}
	under := make([][]string, len(p.rows))
	for r, row := range p.rows {
		first := true
		for i, h := range p.headers {
			if !p.long[i] || strings.TrimSpace(row[i]) == "" {
				continue
			}
			text := row[i]
			if !first {
				text = strings.ToLower(h) + ": " + text
			}
			first = false
			for _, l := range Wrap(text, p.term.Width-indent) {
				under[r] = append(under[r], strings.Repeat(" ", indent)+l)
			}
		}
	}
	return p.write(lines, offsets, under)
}

// write prints the header and row lines (colouring severity cells), each row
// followed by its lines under it.
func (p *Printer) write(lines []string, offsets []int, under [][]string) error {
	var b strings.Builder
	for n, line := range lines {
		if n > 0 && p.term.Color {
			line = p.colour(line, offsets, n-1, under != nil)
		}
		b.WriteString(line)
		b.WriteByte('\n')
		if n > 0 && under != nil {
			for _, u := range under[n-1] {
				b.WriteString(u)
				b.WriteByte('\n')
			}
		}
	}
	_, err := io.WriteString(p.w, b.String())
	return err
}

// colour paints the severity cells of row r's line; offsets are the start
// columns of the printed columns.
func (p *Printer) colour(line string, offsets []int, r int, narrow bool) string {
	col := 0
	for i := range p.headers {
		if narrow && p.long[i] {
			continue
		}
		if p.severity[i] && col < len(offsets) {
			v := p.rows[r][i]
			start := offsets[col]
			if v != "" && start+len(v) <= len(line) && line[start:start+len(v)] == v {
				line = line[:start] + p.term.Severity(v) + line[start+len(v):]
			}
		}
		col++
	}
	return line
}

func maxWidth(lines []string) int {
	m := 0
	for _, l := range lines {
		m = max(m, runewidth.StringWidth(l))
	}
	return m
}

// layout renders headers and rows in kubectl's style (what tablewriter's
// borderless, unwrapped, left-aligned layout printed: each cell padded to its
// column's display width and followed by three spaces; a cell holding line
// breaks takes as many lines, the other cells of its row blank on the extra
// ones) and returns the lines (header first, without trailing padding) and
// the start column of each column. It is written out here rather than
// linking a table library: that cost every binary ~0.4 MB.
func layout(headers []string, rows [][]string, _ []int) ([]string, []int) {
	all := append([][]string{headers}, rows...)
	widths := make([]int, len(headers))
	for _, row := range all {
		for i, cell := range row {
			for _, l := range strings.Split(cell, "\n") {
				widths[i] = max(widths[i], runewidth.StringWidth(l))
			}
		}
	}
	var lines []string
	for _, row := range all {
		cells := make([][]string, len(headers))
		height := 1
		for i := range headers {
			if i < len(row) {
				cells[i] = strings.Split(row[i], "\n")
			}
			height = max(height, len(cells[i]))
		}
		for k := 0; k < height; k++ {
			var b strings.Builder
			for i := range headers {
				cell := ""
				if k < len(cells[i]) {
					cell = cells[i][k]
				}
				b.WriteString(cell)
				b.WriteString(strings.Repeat(" ", widths[i]-runewidth.StringWidth(cell)+3))
			}
			lines = append(lines, strings.TrimRight(b.String(), " "))
		}
	}
	// Columns start where the header names start (headers are left-aligned).
	offsets := make([]int, 0, len(headers))
	if len(lines) > 0 {
		pos := 0
		for _, h := range headers {
			i := strings.Index(lines[0][pos:], h)
			if i < 0 {
				break
			}
			offsets = append(offsets, pos+i)
			pos += i + len(h)
		}
	}
	return lines, offsets
}
