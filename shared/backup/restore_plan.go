package backup

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// livePlan is what a live restore found before changing anything.
type livePlan struct {
	loc  Location
	info *BackupInfo
	// where names the backup as messages do; record names it as the
	// annotation does (an absolute path, so that a colleague can re-run it).
	where, record string
	replicas      []appReplicas
	// alembic is piyasa_db's Alembic revision before the load.
	alembic string
}

// planLive finds every component the restore stops and the postgres pod,
// and checks that the backup is of this environment and database: any
// missing or different is refused (exit 2) before anything changes.
func (o *RestoreOptions) planLive(ctx context.Context, loc Location, info *BackupInfo) (*livePlan, error) {
	p := &livePlan{loc: loc, info: info, where: loc.Target.Location(loc.Name)}
	p.record = p.where
	if !strings.Contains(p.where, "://") {
		if abs, err := filepath.Abs(p.where); err == nil {
			p.record = abs
		}
	}
	cs, err := o.Clientset()
	if err != nil {
		return nil, err
	}
	if _, _, err := PostgresPod(ctx, cs, o.Namespace); err != nil {
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || ctx.Err() != nil {
			return nil, err
		}
		return nil, cli.Failedf("%v; nothing was changed", err).WithHint("is the app deployed? check: kubectl get pods -n %s -l app=postgres", o.Namespace)
	}
	if p.replicas, err = o.recordReplicas(ctx); err != nil {
		return nil, err
	}
	if err := o.checkOrigin(info, p.where); err != nil {
		return nil, err
	}
	return p, nil
}

// checkOrigin refuses a backup of another environment or database unless
// --from-other-env is given (then it says so); a backup of another
// namespace of the same environment is only said.
func (o *RestoreOptions) checkOrigin(info *BackupInfo, where string) error {
	var diff []string
	other := false
	if info.Environment != "" && info.Environment != o.Env.Name {
		diff, other = append(diff, fmt.Sprintf("environment %s, not %s", info.Environment, o.Env.Name)), true
	}
	if info.Namespace != "" && info.Namespace != o.Namespace {
		diff = append(diff, fmt.Sprintf("namespace %s, not %s", info.Namespace, o.Namespace))
	}
	if info.Database != "" && info.Database != app.DatabaseName {
		diff, other = append(diff, fmt.Sprintf("database %s, not %s", info.Database, app.DatabaseName)), true
	}
	if len(diff) == 0 {
		return nil
	}
	what := fmt.Sprintf("%s is a backup of %s (%s)", where, strings.Join(diff, ", "), o.originText(info))
	if !other {
		// Another namespace of the same environment (a DR drill's scratch namespace): said, not refused.
		o.Infof("note: %s\n", what)
		return nil
	}
	if !o.FromOtherEnv {
		return cli.Usagef("%s: nothing was changed", what).
			WithHint("to load it over %s of %s (--env %s) all the same, add --from-other-env", app.DatabaseName, o.Namespace, o.Env.Name)
	}
	o.Infof("note: %s; restoring it over %s of %s (--env %s) as --from-other-env asks\n", what, app.DatabaseName, o.Namespace, o.Env.Name)
	return nil
}

func (o *RestoreOptions) originText(info *BackupInfo) string {
	return fmt.Sprintf("taken %s from %s of namespace %s, --env %s", info.EndTime.UTC().Format(time.RFC3339), info.Database, info.Namespace, info.Environment)
}

// confirm asks for the namespace name unless --yes.
func (o *RestoreOptions) confirm(info *BackupInfo, where string) error {
	if o.Yes {
		return nil
	}
	o.Infof("This replaces database %s in namespace %s with %s (taken %s from %s),\nstopping api and worker meanwhile. Type the namespace name to confirm: ",
		app.DatabaseName, o.Namespace, where, info.EndTime.Format(time.RFC3339), info.Namespace)
	line, _ := bufio.NewReader(o.In).ReadString('\n')
	if f, ok := o.In.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		o.Infof("\n") // the typed line was not echoed
	}
	if strings.TrimSpace(line) != o.Namespace {
		return cli.Usagef("not confirmed: nothing was changed").WithHint("type the namespace name %s, or pass --yes", o.Namespace)
	}
	return nil
}
