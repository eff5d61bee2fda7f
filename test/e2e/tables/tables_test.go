// Package tables_test runs the status commands in a real pseudo-terminal of
// 80 and 120 columns, as an on-call person reads them, and piped, as a script
// reads them: on the terminal no line is wider than the terminal; piped, the
// layout is the stable one-row-per-object table with no colour codes.
package tables_test

import (
	"bytes"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// inTerminal runs `kubectl piyasa args...` with its standard output on a
// pseudo-terminal of cols columns and returns what it printed there.
func inTerminal(t *testing.T, cols uint16, env []string, args ...string) string {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: cols, Rows: 60}); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := harness.Piyasa(t, args...).WithEnv(env...).Start(tty, &stderr)
	tty.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&out, ptmx); close(done) }() // ends with EIO once the command exits
	_ = cmd.Wait()
	<-done
	// The terminal is the command's own: the harness sees only its copy here.
	harness.ScanOutput(t, "$ kubectl piyasa "+strings.Join(args, " ")+": terminal", out.Bytes())
	harness.ScanOutput(t, "$ kubectl piyasa "+strings.Join(args, " ")+": stderr", stderr.Bytes())
	return strings.ReplaceAll(out.String(), "\r\n", "\n")
}

func TestStatusTablesFitTheTerminal(t *testing.T) {
	ns := harness.Namespace(t, "tables")
	env := harness.InitEnv(t, filepath.Join(t.TempDir(), ".env"))
	harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--timeout", "3m").RunOK()
	// Findings with long messages and fixes, and a long scale explanation.
	harness.Kubectl(t, "patch", "configmap", "dev-piyasa-config", "-n", ns, "--type=merge", "-p", `{"data":{"TOTAL_WORKERS":"7"}}`).RunOK()

	commands := [][]string{
		{"diagnose", "--env", "dev", "-n", ns},
		{"scale", "status", "--env", "dev", "-n", ns},
		{"deploy", "status", "--env", "dev", "-n", ns},
	}
	for _, args := range commands {
		name := strings.Join(args[:2], " ")
		piped := harness.Piyasa(t, args...).Run()
		if ansi.MatchString(piped.Stdout) {
			t.Errorf("%s piped prints colour codes", name)
		}
		for _, cols := range []uint16{80, 120} {
			got := inTerminal(t, cols, nil, args...)
			if strings.TrimSpace(got) == "" {
				t.Fatalf("%s printed nothing on a terminal", name)
			}
			for _, line := range strings.Split(got, "\n") {
				if n := utf8.RuneCountInString(ansi.ReplaceAllString(line, "")); n > int(cols) {
					t.Errorf("%s at %d columns: a line of %d:\n%s", name, cols, n, line)
				}
			}
		}
	}

	// Piped, diagnose keeps one line per finding: the MESSAGE and FIX stay in the row.
	piped := harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns).Run()
	for _, line := range strings.Split(piped.Stdout, "\n") {
		if strings.Contains(line, "PIY401") && !strings.Contains(line, "kubectl piyasa scale worker") {
			t.Fatalf("piped diagnose split the PIY401 row:\n%s", piped.Stdout)
		}
	}
	// Colour on a terminal, none with NO_COLOR.
	diag := []string{"diagnose", "--env", "dev", "-n", ns}
	if got := inTerminal(t, 120, nil, diag...); !ansi.MatchString(got) {
		t.Errorf("no colour on a terminal:\n%s", got)
	}
	if got := inTerminal(t, 120, []string{"NO_COLOR=1"}, diag...); ansi.MatchString(got) {
		t.Errorf("colour with NO_COLOR set:\n%q", got)
	}
	if got := inTerminal(t, 120, nil, append(diag, "--no-color")...); ansi.MatchString(got) {
		t.Errorf("colour with --no-color:\n%q", got)
	}
	// COLUMNS wins over the terminal's own width.
	for _, line := range strings.Split(inTerminal(t, 200, []string{"COLUMNS=80"}, diag...), "\n") {
		if n := utf8.RuneCountInString(ansi.ReplaceAllString(line, "")); n > 80 {
			t.Errorf("COLUMNS=80 on a 200-column terminal: a line of %d:\n%s", n, line)
		}
	}
}
