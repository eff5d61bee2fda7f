package backupflags

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

// TestFirstResolve: on with --backup-first, always for down, by default in
// prod; --no-backup turns it off; contradicting flags are a usage error.
func TestFirstResolve(t *testing.T) {
	dev, prod := app.Environments["dev"], app.Environments["prod"]
	cases := []struct {
		name  string
		b     First
		env   app.Environment
		on    bool
		usage string
		where string
	}{
		{name: "dev default off", env: dev, on: false, where: DefaultDir},
		{name: "dev backup-first", b: First{First: true}, env: dev, on: true, where: DefaultDir},
		{name: "prod default on", env: prod, on: true, where: DefaultDir},
		{name: "prod no-backup", b: First{No: true}, env: prod, on: false},
		{name: "down always", b: First{always: true}, env: dev, on: true},
		{name: "down no-backup", b: First{always: true, No: true}, env: dev, on: false},
		{name: "s3", b: First{First: true, To: "s3://bucket/piyasa"}, env: dev, on: true, where: "s3://bucket/piyasa"},
		{name: "dir", b: First{Dir: "bk"}, env: prod, on: true, where: "bk"},
		{name: "both", b: First{First: true, No: true}, env: prod, usage: "contradict"},
		{name: "dir and to", b: First{Dir: "d", To: "s3://b/p"}, env: prod, usage: "one of --backup-dir and --backup-to"},
		{name: "no-backup and dir", b: First{No: true, Dir: "d"}, env: prod, usage: "takes no --backup-dir"},
		{name: "dir is s3", b: First{Dir: "s3://b/p"}, env: prod, usage: "use --backup-to"},
		{name: "to is local", b: First{To: "/tmp/b"}, env: prod, usage: "s3://BUCKET/PREFIX"},
		{name: "no bucket", b: First{To: "s3://"}, env: prod, usage: "names no bucket"},
	}
	for i := range cases {
		c := &cases[i]
		t.Run(c.name, func(t *testing.T) {
			c.b.Resolve(c.env)
			err := c.b.Validate()
			if c.usage != "" {
				var e *exit.Error
				if !errors.As(err, &e) || e.Code != exit.ExitUsage || !strings.Contains(err.Error(), c.usage) {
					t.Fatalf("want usage error %q, got %v", c.usage, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.b.On() != c.on {
				t.Errorf("on = %v, want %v", c.b.On(), c.on)
			}
			if c.where != "" && c.b.Where() != c.where {
				t.Errorf("where = %s, want %s", c.b.Where(), c.where)
			}
		})
	}
}

// TestFlags: the flags are parsed into First, and Names lists them all.
func TestFlags(t *testing.T) {
	var b First
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	b.AddFlags(fs, false)
	if err := fs.Parse([]string{"--backup-first", "--backup-to", "s3://bkt/pre", "--s3-endpoint", "http://127.0.0.1:9000",
		"--s3-region", "eu", "--s3-access-key", "ak", "--s3-secret-key", "sk"}); err != nil {
		t.Fatal(err)
	}
	want := First{First: true, To: "s3://bkt/pre", S3: S3{Endpoint: "http://127.0.0.1:9000", Region: "eu", AccessKey: "ak", SecretKey: "sk"}}
	if !reflect.DeepEqual(b, want) || !b.Given() {
		t.Errorf("parsed %+v, want %+v", b, want)
	}
	names := Names()
	var all []string
	fs.VisitAll(func(f *pflag.Flag) { all = append(all, f.Name) })
	if !reflect.DeepEqual(names, all) || len(names) != 8 {
		t.Errorf("Names() = %q, want %q", names, all)
	}
	down := pflag.NewFlagSet("down", pflag.ContinueOnError)
	new(First).AddFlags(down, true)
	if down.Lookup("backup-first") != nil || down.Lookup("no-backup") == nil {
		t.Error("migrate down takes --no-backup only")
	}
}

func TestSplitS3(t *testing.T) {
	for ref, want := range map[string][2]string{"s3://b": {"b", ""}, "s3://b/": {"b", ""}, "s3://b/p/q": {"b", "p/q"}} {
		b, k, err := SplitS3(ref)
		if err != nil || b != want[0] || k != want[1] {
			t.Errorf("SplitS3(%q) = %q %q %v", ref, b, k, err)
		}
	}
	if _, _, err := SplitS3("s3:///x"); err == nil {
		t.Error("no bucket accepted")
	}
}
