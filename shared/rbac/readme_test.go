package rbac

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the rights table of README.md from Commands")

const (
	tableBegin = "<!-- rights table: made from shared/rbac.Commands; go test ./shared/rbac -update-readme -->\n"
	tableEnd   = "<!-- end of the rights table -->\n"
)

// rightsTable is the README's table of every command's rights.
func rightsTable() string {
	var b strings.Builder
	b.WriteString("| command | rights it checks before it changes anything | rights it can do without (what then) | Role |\n|---|---|---|---|\n")
	for _, c := range Commands {
		without := Describe(c.Optional)
		if len(c.Cluster) > 0 {
			if without != "" {
				without += "; "
			}
			without += "cluster-wide " + Describe(c.Cluster)
		}
		if c.Note != "" {
			if without != "" {
				without += " — "
			}
			without += c.Note
		}
		needs := Describe(c.Rights)
		if needs == "" {
			needs = "none"
		}
		b.WriteString("| `" + strings.ReplaceAll(c.Path, "|", `\|`) + "` | " + needs + " | " + without + " | piyasa-" + c.Role + " |\n")
	}
	return b.String()
}

// The README lists every command's rights as Commands has them (the table the
// rights checks and the Roles' tests use).
func TestREADMEListsEveryCommandsRights(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, tableBegin), strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers of the rights table:\n%s%s", tableBegin, tableEnd)
	}
	want := rightsTable()
	got := readme[i+len(tableBegin) : j]
	if got == want {
		return
	}
	if *updateREADME {
		if err := os.WriteFile("../../README.md", []byte(readme[:i+len(tableBegin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's rights table is not Commands' (run: go test ./shared/rbac -update-readme):\n%s", want)
}
