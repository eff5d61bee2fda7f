package table

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// findings is a diagnose-like table: short columns and two long ones.
func findingsTable(w *bytes.Buffer, t Terminal) *Printer {
	p := New(w, "COMPONENT", "SEVERITY", "CODE", "OBJECT", "MESSAGE", "FIX").SetTerminal(t).Long("MESSAGE", "FIX").Severity("SEVERITY")
	p.Append("worker", "ERROR", "PIY401", "statefulset/dev-worker",
		`TOTAL_WORKERS is "7" in ConfigMap dev-piyasa-config but StatefulSet dev-worker has 3 replicas`,
		"kubectl piyasa scale worker 3 -n piyasa-chatbot-dev")
	p.Append("api", "WARNING", "PIY113", "deployment/dev-api", "deployment dev-api has 1/2 available replicas", "kubectl piyasa deploy status -n piyasa-chatbot-dev")
	p.Append("redis", "INFO", "PIY950", "pod/dev-redis-0", "an event from a while ago about a pod that is Ready now", "")
	return p
}

func TestTableFitsTerminal(t *testing.T) {
	for _, c := range []struct {
		name  string
		term  Terminal
		fits  bool
		color bool
	}{
		{"pipe", Terminal{}, false, false},
		{"w80", Terminal{Width: 80}, true, false},
		{"w120", Terminal{Width: 120}, true, false},
		{"w200", Terminal{Width: 200}, true, false},
		{"w80-color", Terminal{Width: 80, Color: true}, true, true},
		{"w200-color", Terminal{Width: 200, Color: true}, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := findingsTable(&b, c.term).Render(); err != nil {
				t.Fatal(err)
			}
			got := b.String()
			golden(t, filepath.Join("testdata", "table-"+c.name+".golden"), got)
			hasEsc := strings.Contains(got, "\x1b[")
			if hasEsc != c.color {
				t.Fatalf("colour codes present=%v, want %v", hasEsc, c.color)
			}
			if c.fits {
				for _, l := range strings.Split(strings.TrimRight(got, "\n"), "\n") {
					if n := utf8.RuneCountInString(stripANSI(l)); n > c.term.Width {
						t.Fatalf("line of %d > %d columns: %q", n, c.term.Width, l)
					}
				}
			}
		})
	}
}

func TestTablePipeLayoutUnchanged(t *testing.T) {
	var b bytes.Buffer
	p := findingsTable(&b, Terminal{})
	if err := p.Render(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("a piped table keeps one line per row, got %d lines:\n%s", len(lines), b.String())
	}
	if !strings.HasPrefix(lines[0], "COMPONENT   SEVERITY   CODE") || !strings.HasSuffix(lines[1], "   kubectl piyasa scale worker 3 -n piyasa-chatbot-dev") {
		t.Fatalf("layout:\n%s", b.String())
	}
}

func TestTableNarrowPutsLongTextUnderRow(t *testing.T) {
	var b bytes.Buffer
	if err := findingsTable(&b, Terminal{Width: 120}).Render(); err != nil {
		t.Fatal(err)
	}
	want := "worker      ERROR      PIY401   statefulset/dev-worker\n" +
		"            TOTAL_WORKERS is \"7\" in ConfigMap dev-piyasa-config but StatefulSet dev-worker has 3 replicas\n" +
		"            fix: kubectl piyasa scale worker 3 -n piyasa-chatbot-dev\n"
	if !strings.Contains(b.String(), want) {
		t.Fatalf("got:\n%s\nwant it to contain:\n%s", b.String(), want)
	}
}

func TestColorAllowed(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	if ColorAllowed() {
		t.Fatal("NO_COLOR set (even empty) must turn colour off")
	}
	os.Unsetenv("NO_COLOR")
	NoColor = true
	defer func() { NoColor = false }()
	if ColorAllowed() {
		t.Fatal("--no-color must turn colour off")
	}
	NoColor = false
	if !ColorAllowed() {
		t.Fatal("colour off without NO_COLOR or --no-color")
	}
	var b bytes.Buffer
	if DetectTerminal(&b) != (Terminal{}) {
		t.Fatal("a buffer is not a terminal")
	}
}

func TestWrap(t *testing.T) {
	got := Wrap("aaa bbb ccc dddddddddd e", 7)
	want := []string{"aaa bbb", "ccc", "ddddddd", "ddd e"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestShortImage(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io/x/piyasa_chat_bot/api:v2.0.0":                "v2.0.0",
		"localhost:5000/api":                                  "latest",
		"ghcr.io/x/api@sha256:0123456789abcdef0123456789abcd": "sha256:0123456789ab",
	} {
		if got := ShortImage(in); got != want {
			t.Errorf("ShortImage(%q) = %q, want %q", in, got, want)
		}
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != got {
		t.Fatalf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestLineWrapsOnlyOnATerminal(t *testing.T) {
	s := "<unknown> api cpu: the container api has no cpu request, so its utilization cannot be computed; set resources.requests.cpu"
	if got := (Terminal{}).Line(s, 2); got != s {
		t.Fatalf("not a terminal: %q", got)
	}
	got := Terminal{Width: 40}.Line(s, 2)
	for i, l := range strings.Split(got, "\n") {
		if len(l) > 40 || (i > 0 && !strings.HasPrefix(l, "  ")) {
			t.Fatalf("line %d %q of:\n%s", i, l, got)
		}
	}
	if strings.Join(strings.Fields(got), " ") != s {
		t.Fatalf("words lost:\n%s", got)
	}
}
