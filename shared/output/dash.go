package output

import "strings"

// OrDash is s, or "-" when s is empty (or only colons and spaces): a table
// cell or a message part that has nothing to say.
func OrDash(s string) string {
	if strings.Trim(s, ": ") == "" {
		return "-"
	}
	return s
}

// FirstLine is the first line of s, without the spaces around it: what a
// one-line message takes of a multi-line text (a log, an error's output).
func FirstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}
