package logs

import (
	"context"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
	"github.com/piyasa/kubectl-piyasa/shared/table"
)

// Output formats of `diagnose logs`.
const (
	Text = "text"
	JSON = "json"
)

// DefaultTail is the default of --tail: the guide's own
// `kubectl logs -f -l app=piyasa-api --tail=100`.
const DefaultTail = 100

// Options are the flags and state of `diagnose logs`.
type Options struct {
	*cli.Global

	Follow     bool
	Since      time.Duration
	Tail       int64
	Previous   bool
	Grep       string
	Container  string
	Timestamps bool
	NoMask     bool
	Output     string

	component app.Component
	grep      *regexp.Regexp
	// open opens one container's log stream; tests replace it.
	open logOpener
}

// logOpener opens the log stream of a container of a pod.
type logOpener func(ctx context.Context, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error)

// NewOptions returns the defaults.
func NewOptions(g *cli.Global) *Options {
	return &Options{Global: g, Tail: DefaultTail, Output: Text}
}

const logsLong = `Print the logs of every pod of a component merged, each line prefixed by its pod and
container (in colour on a terminal). Without -f, the lines of all current pods are printed
in time order and the command exits. With -f, new lines are printed as they come, and pods
that appear or go during a rollout or a scale are followed or dropped (from a watch of the
component's pods), with a line on standard error saying so: "+ POD CONTAINER" when a
stream starts, "- POD CONTAINER (pod deleted)" when it stops. Containers running when the
command starts show their last --tail lines (within --since); containers that start later
are shown from their first line.

Every value of the Secrets the pods reference (and of the app's Secret piyasa-secrets) is
replaced by REDACTED, raw and base64, as are credential patterns (URL passwords,
KEY=value of sensitive names, bearer tokens, provider API keys), so the output can go into a
ticket. The Secrets are read when the command starts and again when a pod starts during -f
(a rotated Secret comes with a restart). Reading them needs 'get secrets': without it the
command exits 3 before printing anything, unless --no-mask (credential patterns are still
masked, Secret values are not). --grep matches the masked line, so it cannot find a secret.

Exit status: 0 the logs were printed; 1 some container's log could not be read (the others
were printed; the reason is on standard error), or no pod of the component exists (without
-f); 2 bad flags, unknown component or container, bad --grep expression; 3 the cluster
cannot be read or a right is missing (list/watch pods, get pods/log, get secrets);
130 interrupted (Ctrl-C ends -f this way).`

const logsExample = `  # the last 100 lines of every api pod, merged in time order
  kubectl piyasa diagnose logs api --env prod

  # follow the workers through a rollout, errors only
  kubectl piyasa diagnose logs worker -f --grep 'ERROR|Traceback' --env prod

  # the crashed containers' previous logs of the last 10 minutes, as JSON lines
  kubectl piyasa diagnose logs api --previous --since 10m -o json | jq -r .message`

// NewCmd returns `diagnose logs COMPONENT`.
func NewCmd(g *cli.Global) *cobra.Command { return newCmd(NewOptions(g)) }

func newCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "logs COMPONENT [-f] [--since 10m] [--tail 100] [--previous] [--grep RE] [--container C] [-o text|json]",
		Short:   "Print (or follow) the logs of every pod of a component, merged, with Secret values masked",
		Long:    logsLong,
		Example: logsExample,
		RunE:    cli.RunE(o),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return app.ComponentNames(), cobra.ShellCompDirectiveNoFileComp
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "Follow the logs, and the pods that appear or go, until Ctrl-C")
	f.DurationVar(&o.Since, "since", 0, "Only lines newer than this (10m, 1h); default: all")
	f.Int64Var(&o.Tail, "tail", o.Tail, "Last lines of each container that runs when the command starts; -1 for all")
	f.BoolVarP(&o.Previous, "previous", "p", false, "The logs of each container's previous (crashed) instance")
	f.StringVar(&o.Grep, "grep", "", "Only lines whose (masked) message matches this Go regular expression")
	f.StringVarP(&o.Container, "container", "c", "", "Only this container of the pods (default: all of them)")
	f.BoolVar(&o.Timestamps, "timestamps", false, "Print each line's time (RFC 3339) after the prefix")
	f.BoolVar(&o.NoMask, "no-mask", false, "Do not read the Secrets: their values are not masked (credential patterns still are)")
	f.StringVarP(&o.Output, "output", "o", o.Output, "Output format: text|json (json: one object per line: pod, container, time, message)")
	_ = cmd.RegisterFlagCompletionFunc("output", cli.FixedCompletion(Text, JSON))
	return cmd
}

// NeededRights of diagnose logs: with masking, the Secrets' values too.
func (o *Options) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.NoMask {
		return rbac.For("diagnose logs --no-mask").Needs(o.Namespace).As("diagnose logs"), nil
	}
	n := rbac.For("diagnose logs").Needs(o.Namespace)
	n.Otherwise = "--no-mask prints the logs without reading the Secrets (their values are then not masked)"
	return n, nil
}

// Complete resolves the namespace and the component.
func (o *Options) Complete(_ *cobra.Command, args []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	if len(args) != 1 {
		return cli.Usagef("diagnose logs takes one component: %s", strings.Join(app.ComponentNames(), ", ")).
			WithHint("e.g. kubectl piyasa diagnose logs api -f")
	}
	c, err := app.LookupComponent(args[0])
	if err != nil {
		return cli.Usagef("%v", err)
	}
	o.component = c
	if o.Grep != "" {
		re, err := regexp.Compile(o.Grep)
		if err != nil {
			return cli.Usagef("--grep: %v", err)
		}
		o.grep = re
	}
	return nil
}

// Validate checks the flags; it does no I/O.
func (o *Options) Validate() error {
	switch {
	case o.Output != Text && o.Output != JSON:
		return cli.Usagef("unknown output format %q: use -o text|json", o.Output)
	case o.Tail < -1:
		return cli.Usagef("--tail must be -1 (all lines) or more, not %d", o.Tail)
	case o.Since < 0:
		return cli.Usagef("--since must be positive, not %s", o.Since)
	case o.Previous && o.Follow:
		return cli.Usagef("--previous and -f do not go together: a previous container has ended").
			WithHint("read the previous logs without -f, then follow the current ones with -f")
	}
	return nil
}

// Run prints the logs, or follows them with -f until ctx ends.
func (o *Options) Run(ctx context.Context) error {
	cs, err := o.streamClient()
	if err != nil {
		return err
	}
	ns := o.Namespace
	if o.open == nil {
		o.open = func(ctx context.Context, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
			return cs.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
		}
	}
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: o.component.Selector()})
	if err != nil {
		return err
	}
	pods := make([]*corev1.Pod, 0, len(list.Items))
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	if err := o.checkContainer(pods); err != nil {
		return err
	}
	m := newMasker()
	if !o.NoMask {
		if err := m.readSecrets(ctx, cs, ns, o.secretsOf(pods), false); err != nil {
			return err
		}
	} else {
		o.Infof("warning: --no-mask: the values of the Secrets are not masked (credential patterns still are)\n")
	}
	w := newLogWriter(o.Out, o.ErrOut, o.Output == JSON, o.Timestamps, table.DetectTerminal(o.Out).Color, m, o.grep)
	if o.Follow {
		return o.follow(ctx, cs, list.ResourceVersion, pods, m, w)
	}
	return o.once(ctx, pods, w)
}

// streamClient returns a client for long log streams and watches: one
// without the --request-timeout of single requests. A client a test put in
// the Global (a fake) is used as it is.
func (o *Options) streamClient() (kubernetes.Interface, error) {
	cs, err := o.Clientset()
	if err != nil {
		return nil, err
	}
	if _, made := cs.(*kubernetes.Clientset); !made {
		return cs, nil
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(kube.WatchConfig(cfg))
}

// checkContainer refuses a --container that no pod of the component has.
func (o *Options) checkContainer(pods []*corev1.Pod) error {
	if o.Container == "" || len(pods) == 0 {
		return nil
	}
	have := map[string]bool{}
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			if c.Name == o.Container {
				return nil
			}
			have[c.Name] = true
		}
	}
	return cli.Usagef("the pods of %s have no container %q: use one of %s", o.component.Name, o.Container, strings.Join(slices.Sorted(maps.Keys(have)), ", "))
}

// containers returns the containers of p that --container selects.
func (o *Options) containers(p *corev1.Pod) []string {
	var out []string
	for _, c := range p.Spec.Containers {
		if o.Container == "" || c.Name == o.Container {
			out = append(out, c.Name)
		}
	}
	return out
}

// secretsOf names the Secrets to mask: the app's Secret and every Secret the
// pods reference (envFrom, env valueFrom, volumes, projected volumes).
func (o *Options) secretsOf(pods []*corev1.Pod) []string {
	names := map[string]bool{o.Env.Secret(): true}
	for _, p := range pods {
		for _, n := range kube.PodSecrets(p) {
			names[n] = true
		}
	}
	return slices.Sorted(maps.Keys(names))
}

// logOptions are the stream options of a container: --tail and --since for
// what runs when the command starts (fresh), everything for what starts later.
func (o *Options) logOptions(container string, fresh, follow bool) *corev1.PodLogOptions {
	lo := &corev1.PodLogOptions{Container: container, Follow: follow, Previous: o.Previous, Timestamps: true}
	if !fresh {
		return lo
	}
	if o.Tail >= 0 {
		t := o.Tail
		lo.TailLines = &t
	}
	if o.Since > 0 {
		s := int64(math.Ceil(o.Since.Seconds()))
		lo.SinceSeconds = &s
	}
	return lo
}

// interrupted is the result of a run that ctx ended: a silent exit 130, as
// `scale status -w` ends on Ctrl-C.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return cli.ExitCode(cli.ExitInterrupted)
	}
	return err
}
