package migrate

import (
	"context"
	"fmt"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// revisions are the migrations of the image the Job runs, read with `alembic
// history` in a ready api pod of that image.
type revisions struct {
	alembic *alembicPod
	history []Revision
	heads   []string
}

// readRevisions reads `alembic history` in a ready api pod.
func readRevisions(ctx context.Context, a *alembicPod) (*revisions, error) {
	out, err := a.run(ctx, "history")
	if err != nil {
		return nil, err
	}
	hist, err := ParseHistory(out)
	if err != nil {
		return nil, err
	}
	rv := &revisions{alembic: a, history: hist}
	for _, r := range hist {
		if r.Head {
			rv.heads = append(rv.heads, r.ID)
		}
	}
	return rv, nil
}

// resolve returns the revision id that target names: itself, or the one
// revision it is a prefix of (as alembic takes a unique prefix). Symbolic
// (head, heads, base) and relative (+1, -1, head-1, branch@rev) targets are
// left to alembic: ok with "".
func (rv *revisions) resolve(target string) (string, bool) {
	switch {
	case target == "head" || target == "heads" || target == "base", strings.ContainsAny(target, "+-@:."):
		return "", true
	}
	var found []string
	for _, r := range rv.history {
		if r.ID == target {
			return r.ID, true
		}
		if strings.HasPrefix(r.ID, target) {
			found = append(found, r.ID)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return "", len(found) > 1 // an ambiguous prefix is alembic's to report
}

// checkTarget is exit 2 when the image does not know target.
func (rv *revisions) checkTarget(target, ns string) error {
	if _, ok := rv.resolve(target); ok {
		return nil
	}
	return cli.Usagef("revision %q is not one of the image's migrations (heads: %s, %d revisions): nothing was run", target, orNone(rv.heads), len(rv.history)).
		WithHint("see the revisions with: kubectl piyasa migrate history -n %s", ns)
}

// upToDate says whether `alembic upgrade target` has nothing to do for a
// database at current: target (or every head) is current or below it. It is
// false when that cannot be told (several heads for head, a relative
// target, a database revision the image does not know).
func (rv *revisions) upToDate(target string, current []string) bool {
	var want []string
	switch id, _ := rv.resolve(target); {
	case target == "heads" || (target == "head" && len(rv.heads) == 1):
		want = rv.heads
	case id != "":
		want = []string{id}
	default:
		return false
	}
	pending, err := Pending(rv.history, current, want)
	return err == nil && len(pending) == 0
}

// describeCurrent is a database revision as `migrate up` says it.
func describeCurrent(current []string, heads []string) string {
	s := strings.Join(current, ",")
	if len(heads) == 1 && len(current) == 1 && current[0] == heads[0] {
		return fmt.Sprintf("head %s", s)
	}
	return s
}
