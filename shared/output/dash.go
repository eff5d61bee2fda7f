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
