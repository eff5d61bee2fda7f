package redact

import "strings"

// SecretValues returns what to mask for the values of a Secret: each value
// and, for a value of several lines (a PEM key, a pasted file), each line.
// Pass them to NewScrubber.
func SecretValues(values ...string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		out = append(out, v)
		if strings.Contains(v, "\n") {
			out = append(out, strings.Split(v, "\n")...)
		}
	}
	return out
}

// SecretData returns SecretValues of a Secret's data (as corev1.Secret.Data holds it).
func SecretData(data map[string][]byte) []string {
	vs := make([]string, 0, len(data))
	for _, v := range data {
		vs = append(vs, string(v))
	}
	return SecretValues(vs...)
}
