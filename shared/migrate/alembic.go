package migrate

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// Revision is one entry of `alembic history`.
type Revision struct {
	ID      string   `json:"revision"`
	Down    []string `json:"downRevisions,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	Message string   `json:"message"`
	Current bool     `json:"current"`
	Head    bool     `json:"head"`
}

var historyRE = regexp.MustCompile(`^(.*?) -> (\S+)((?: \([a-z ]+\))*), ?(.*)$`)
var revTokenRE = regexp.MustCompile(`^[0-9A-Za-z_]+$`)

// ParseHistory parses `alembic history` (newest first, as alembic prints it).
func ParseHistory(out string) ([]Revision, error) {
	var revs []Revision
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		m := historyRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("unexpected line in alembic history: %q", line)
		}
		r := Revision{ID: m[2], Message: m[4]}
		down := strings.Trim(m[1], "()")
		if down != "<base>" {
			for _, d := range strings.Split(down, ",") {
				if d = strings.TrimSpace(d); d != "" {
					r.Down = append(r.Down, d)
				}
			}
		}
		for _, t := range strings.Split(m[3], ")") {
			if t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "(")); t != "" {
				r.Tags = append(r.Tags, t)
				if t == "head" {
					r.Head = true
				}
			}
		}
		revs = append(revs, r)
	}
	return revs, nil
}

// ParseRevisions takes the revision ids of `alembic current` or `alembic heads` ("0003 (head)").
func ParseRevisions(out string) []string {
	var ids []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && revTokenRE.MatchString(f[0]) && f[0] != "INFO" && f[0] != "WARNING" {
			ids = append(ids, f[0])
		}
	}
	return ids
}

// Pending returns the revisions between current and heads, oldest first: the
// ancestors of the heads (themselves included) that are not ancestors of
// current. An unknown current revision is an error (the database is ahead of the image).
func Pending(history []Revision, current, heads []string) ([]string, error) {
	byID := map[string]Revision{}
	for _, r := range history {
		byID[r.ID] = r
	}
	ancestors := func(ids []string) (map[string]bool, error) {
		seen := map[string]bool{}
		stack := append([]string(nil), ids...)
		for len(stack) > 0 {
			id := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[id] {
				continue
			}
			r, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("revision %s is not in the image's migrations", id)
			}
			seen[id] = true
			stack = append(stack, r.Down...)
		}
		return seen, nil
	}
	done, err := ancestors(current)
	if err != nil {
		return nil, fmt.Errorf("the database is at a revision the image does not know (%v): is the database ahead of the image?", err)
	}
	want, err := ancestors(heads)
	if err != nil {
		return nil, err
	}
	var out []string
	for i := len(history) - 1; i >= 0; i-- { // history is newest first
		if id := history[i].ID; want[id] && !done[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// alembicPod is a ready api pod and its container, where alembic commands run.
type alembicPod struct {
	ns, pod, container string
	ex                 Execer
}

func findAlembicPod(ctx context.Context, cs kubernetes.Interface, ex Execer, ns string) (*alembicPod, error) {
	pods, err := readyPods(ctx, cs, ns, app.API)
	if err != nil {
		return nil, err
	}
	if len(pods) == 0 {
		return nil, cli.Failedf("no ready api pod in namespace %s to run alembic in", ns).
			WithHint("the image's migrations are read in a running api pod: kubectl piyasa deploy status -n %s", ns)
	}
	p := pods[0]
	return &alembicPod{ns: ns, pod: p.Name, container: apiContainer(corev1.PodSpec{Containers: p.Spec.Containers}).Name, ex: ex}, nil
}

// run runs `python -m alembic args...` in the pod.
func (a *alembicPod) run(ctx context.Context, args ...string) (string, error) {
	cmd := append([]string{"python", "-m", "alembic"}, args...)
	out, errOut, err := a.ex.Exec(ctx, a.ns, a.pod, a.container, cmd)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		detail := lastLines(errOut, 3)
		if detail == "" {
			detail = err.Error()
		}
		return "", cli.Failedf("`%s` in pod %s failed: %s", strings.Join(cmd, " "), a.pod, detail)
	}
	return out, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, " / "))
}
