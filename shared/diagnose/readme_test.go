package diagnose

import (
	"os"
	"strings"
	"testing"
)

// The README documents every code with its severity and title: this keeps the
// table there in step with the one in codes.go.
func TestREADMEDocumentsEveryCode(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Codes {
		row := "| " + c.ID + " | " + string(c.Severity) + " | " + string(c.Area) + " | " + c.Title + " |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md lacks the row %q", row)
		}
	}
}
