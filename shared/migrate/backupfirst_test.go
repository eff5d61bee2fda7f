package migrate

import (
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// TestBackupFlagsResolve: on with --backup-first, always for down, by default
// in prod; --no-backup turns it off; both flags are a usage error.
func TestBackupFlagsResolve(t *testing.T) {
	dev, prod := app.Environments["dev"], app.Environments["prod"]
	cases := []struct {
		name  string
		b     BackupFlags
		env   app.Environment
		on    bool
		usage string
		where string
	}{
		{name: "dev default off", env: dev, on: false, where: DefaultBackupDir},
		{name: "dev backup-first", b: BackupFlags{First: true}, env: dev, on: true, where: DefaultBackupDir},
		{name: "prod default on", env: prod, on: true, where: DefaultBackupDir},
		{name: "prod no-backup", b: BackupFlags{No: true}, env: prod, on: false},
		{name: "down always", b: BackupFlags{always: true}, env: dev, on: true},
		{name: "down no-backup", b: BackupFlags{always: true, No: true}, env: dev, on: false},
		{name: "s3", b: BackupFlags{First: true, To: "s3://bucket/piyasa"}, env: dev, on: true, where: "s3://bucket/piyasa"},
		{name: "both", b: BackupFlags{First: true, No: true}, env: prod, usage: "contradict"},
		{name: "dir and to", b: BackupFlags{Dir: "d", To: "s3://b/p"}, env: prod, usage: "one of --backup-dir and --backup-to"},
		{name: "dir is s3", b: BackupFlags{Dir: "s3://b/p"}, env: prod, usage: "use --backup-to"},
		{name: "to is local", b: BackupFlags{To: "/tmp/b"}, env: prod, usage: "s3://BUCKET/PREFIX"},
		{name: "no bucket", b: BackupFlags{To: "s3://"}, env: prod, usage: "names no bucket"},
	}
	for i := range cases {
		c := &cases[i]
		t.Run(c.name, func(t *testing.T) {
			c.b.Resolve(c.env)
			err := c.b.Validate()
			if c.usage != "" {
				var e *cli.Error
				if err == nil || !strings.Contains(err.Error(), c.usage) || !asUsage(err, &e) {
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
			if (c.b.BeforeJob(nil, nil) != nil) != c.on {
				t.Errorf("BeforeJob set = %v, want %v", !c.on, c.on)
			}
		})
	}
}

func asUsage(err error, e **cli.Error) bool {
	ce, ok := err.(*cli.Error)
	*e = ce
	return ok && ce.Code == 2
}
