package table

import (
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"
)

// Terminal describes where a table or a progress line goes: Width is the
// number of columns when it is a terminal (0: not a terminal, print the
// stable layout that scripts parse), Color whether ANSI colour may be used.
type Terminal struct {
	Width int
	Color bool
}

// NoColor turns colour off everywhere (the --no-color flag sets it).
var NoColor bool

// DefaultWidth is the width of a terminal whose size is unknown.
const DefaultWidth = 80

// fder is what *os.File offers to find out whether it is a terminal.
type fder interface{ Fd() uintptr }

// DetectTerminal reports whether w is a terminal, its width (COLUMNS when
// set, else the terminal's, else DefaultWidth) and whether colour is allowed
// (a terminal, NO_COLOR unset and NoColor false).
func DetectTerminal(w io.Writer) Terminal {
	f, ok := w.(fder)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return Terminal{}
	}
	width := DefaultWidth
	if c, err := strconv.Atoi(strings.TrimSpace(os.Getenv("COLUMNS"))); err == nil && c > 0 {
		width = c
	} else if cw, _, err := term.GetSize(int(f.Fd())); err == nil && cw > 0 {
		width = cw
	}
	return Terminal{Width: width, Color: ColorAllowed()}
}

// ColorAllowed reports whether colour is wanted at all: NO_COLOR
// (https://no-color.org) unset and --no-color not given.
func ColorAllowed() bool {
	_, noColor := os.LookupEnv("NO_COLOR")
	return !noColor && !NoColor
}

// ANSI styles.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
)

func (t Terminal) paint(style, s string) string {
	if !t.Color || s == "" {
		return s
	}
	return style + s + ansiReset
}

// Bold is s in bold on a colour terminal (a summary line).
func (t Terminal) Bold(s string) string { return t.paint(ansiBold, s) }

// Red is s in red on a colour terminal (an error, a failed step).
func (t Terminal) Red(s string) string { return t.paint(ansiRed, s) }

// Green is s in green on a colour terminal (a step done).
func (t Terminal) Green(s string) string { return t.paint(ansiGreen, s) }

// Yellow is s in yellow on a colour terminal (a warning).
func (t Terminal) Yellow(s string) string { return t.paint(ansiYellow, s) }

// Dim is s dimmed on a colour terminal (information).
func (t Terminal) Dim(s string) string { return t.paint(ansiDim, s) }

// Severity colours a severity word: error red, warning yellow, info dim;
// anything else is left as it is.
func (t Terminal) Severity(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "error", "critical", "failed":
		return t.Red(s)
	case "warning", "warn":
		return t.Yellow(s)
	case "info":
		return t.Dim(s)
	}
	return s
}

// Wrap breaks s into lines of at most width display columns at word
// boundaries; a word longer than width is cut.
func Wrap(s string, width int) []string {
	if width < 1 {
		width = 1
	}
	var lines []string
	var cur []rune
	for _, word := range strings.Fields(s) {
		w := []rune(word)
		for len(w) > width { // a word longer than a line
			if len(cur) > 0 {
				lines = append(lines, string(cur))
				cur = nil
			}
			lines = append(lines, string(w[:width]))
			w = w[width:]
		}
		switch {
		case len(cur) == 0:
			cur = append(cur, w...)
		case len(cur)+1+len(w) <= width:
			cur = append(append(cur, ' '), w...)
		default:
			lines = append(lines, string(cur))
			cur = append([]rune(nil), w...)
		}
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

// ShortImage is the tag (or digest) of an image reference, for a table cell;
// the full reference belongs in -o wide.
func ShortImage(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		d := ref[i+1:]
		if j := strings.IndexByte(d, ':'); j >= 0 && len(d) > j+13 {
			return d[:j+13] // sha256:0123456789ab
		}
		return d
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[i+1:]
	}
	return "latest"
}

// Line returns s as it is when the output is not a terminal; on a terminal,
// s wrapped to its width with the lines after the first indented by indent
// spaces. No trailing newline.
func (t Terminal) Line(s string, indent int) string {
	if t.Width <= 0 || len(s) <= t.Width {
		return s
	}
	indent = min(indent, t.Width/2)
	first := Wrap(s, t.Width)
	if len(first) <= 1 {
		return s
	}
	head := first[0]
	rest := strings.TrimSpace(strings.TrimPrefix(strings.Join(strings.Fields(s), " "), head))
	lines := []string{head}
	pad := strings.Repeat(" ", indent)
	for _, l := range Wrap(rest, t.Width-indent) {
		lines = append(lines, pad+l)
	}
	return strings.Join(lines, "\n")
}
