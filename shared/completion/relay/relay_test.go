package relay

import (
	"slices"
	"testing"
)

func TestArgs(t *testing.T) {
	cases := []struct {
		argv0 string
		args  []string
		want  []string
	}{
		{"/usr/local/bin/kubectl_complete-piyasa", []string{"depl"}, []string{"__complete", "depl"}},
		{"C:/bin/kubectl_complete-piyasa.exe", []string{"-n", ""}, []string{"__complete", "-n", ""}},
		{"kubectl_complete-piyasa-deploy", []string{"st"}, []string{"__complete", "deploy", "st"}},
		{"kubectl_complete-piyasa", nil, []string{"__complete"}},
	}
	for _, c := range cases {
		if got := Args(c.argv0, c.args); !slices.Equal(got, c.want) {
			t.Errorf("Args(%q, %q) = %q, want %q", c.argv0, c.args, got, c.want)
		}
	}
}
