package dispatch

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

func TestSplit(t *testing.T) {
	cases := []struct {
		args []string
		pre  []string
		sub  string
		rest []string
	}{
		{[]string{"deploy", "status"}, nil, "deploy", []string{"status"}},
		{[]string{"-n", "x", "diagnose", "-o", "json"}, []string{"-n", "x"}, "diagnose", []string{"-o", "json"}},
		{[]string{"--context=a", "--insecure-skip-tls-verify", "--env", "prod", "scale", "api", "3"}, []string{"--context=a", "--insecure-skip-tls-verify", "--env", "prod"}, "scale", []string{"api", "3"}},
		{[]string{"-h"}, []string{"-h"}, "", nil},
	}
	for _, c := range cases {
		pre, sub, rest := Split(c.args)
		if !reflect.DeepEqual(pre, c.pre) || sub != c.sub || !reflect.DeepEqual(rest, c.rest) {
			t.Errorf("Split(%q) = %q %q %q", c.args, pre, sub, rest)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"deploy", "scale", "migrate", "backup", "diagnose", "version"}
	for typed, want := range map[string]string{"deplyo": "deploy", "depl": "deploy", "sclae": "scale", "frobnicate": ""} {
		if got := Suggest(typed, names); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", typed, got, want)
		}
	}
}

func TestRunFindsBesideAndPassesFlags(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "kubectl-piyasa-deploy")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var gotPath string
	var gotArgs []string
	var out, errOut bytes.Buffer
	d := &Dispatcher{IOStreams: IOStreams{Out: &out, ErrOut: &errOut}, SelfDir: dir,
		LookPath: func(string) (string, error) { return "", os.ErrNotExist },
		Exec:     func(p string, a []string) error { gotPath, gotArgs = p, a; return exit.Code(7) }}
	if code := d.Run([]string{"-n", "foo", "deploy", "status"}); code != 7 {
		t.Fatalf("exit code not passed through: %d", code)
	}
	if gotPath != bin || !reflect.DeepEqual(gotArgs, []string{"-n", "foo", "status"}) {
		t.Fatalf("ran %s %q", gotPath, gotArgs)
	}
	if code := d.Run([]string{"migrate"}); code != 2 || !strings.Contains(errOut.String(), "not installed") {
		t.Fatalf("missing subcommand: %d %s", code, errOut.String())
	}
	errOut.Reset()
	if code := d.Run([]string{"deplyo"}); code != 2 || !strings.Contains(errOut.String(), `did you mean "deploy"`) {
		t.Fatalf("unknown subcommand: %d %s", code, errOut.String())
	}
	out.Reset()
	if code := d.Run(nil); code != 0 || !strings.Contains(out.String(), "backup") || !strings.Contains(out.String(), "(not installed)") {
		t.Fatalf("help: %d %s", code, out.String())
	}
}

// `kubectl piyasa failover ...` runs the binary of the alias's subcommand
// with the alias's name first; help lists it; a typo is suggested.
func TestRunAlias(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "kubectl-piyasa-deploy")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var gotPath string
	var gotArgs []string
	var out, errOut bytes.Buffer
	d := &Dispatcher{IOStreams: IOStreams{Out: &out, ErrOut: &errOut}, SelfDir: dir,
		LookPath: func(string) (string, error) { return "", os.ErrNotExist },
		Exec:     func(p string, a []string) error { gotPath, gotArgs = p, a; return nil }}
	if code := d.Run([]string{"--context", "eu", "failover", "--to", "us"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if gotPath != bin || !reflect.DeepEqual(gotArgs, []string{"failover", "--context", "eu", "--to", "us"}) {
		t.Fatalf("ran %s %q", gotPath, gotArgs)
	}
	if code := d.Run([]string{"help", "failover"}); code != 0 || !reflect.DeepEqual(gotArgs, []string{"failover", "--help"}) {
		t.Fatalf("help failover: %d %q", code, gotArgs)
	}
	if code := d.Run(nil); code != 0 || !strings.Contains(out.String(), "failover   Make a standby region the primary") || !strings.Contains(out.String(), "(kubectl piyasa deploy failover)") {
		t.Fatalf("help:\n%s", out.String())
	}
	if code := d.Run([]string{"failvoer"}); code != 2 || !strings.Contains(errOut.String(), `did you mean "failover"`) {
		t.Fatalf("typo: %d %s", code, errOut.String())
	}
}
