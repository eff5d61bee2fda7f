package scale

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet/fleetcmd"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// StatusOptions are the options of `kubectl piyasa scale status`.
type StatusOptions struct {
	*cli.Global
	Print *output.Flags
	// Watch redraws on every change (-w).
	Watch bool
}

// NewStatusOptions returns the defaults.
func NewStatusOptions(g *cli.Global) *StatusOptions {
	return &StatusOptions{Global: g, Print: output.NewFlags()}
}

// NewCmdStatus returns `scale status [-w] [-o table|wide|json|yaml]`.
func NewCmdStatus(g *cli.Global) *cobra.Command {
	o := NewStatusOptions(g)
	cmd := &cobra.Command{
		Use:   "status [-w] [-o table|wide|json|yaml]",
		Short: "Show replicas, HPA ranges, CPU and memory against targets and the last scale event per component",
		Long: `Show, for api, worker and frontend: ready/desired replicas, the HPA's range, CPU and memory
use against the HPA's targets (percent of requests, from metrics.k8s.io), the last scaling event
and its reason, and why a figure is <unknown> when it is. With -w, redraw on every change
(from watches of the workloads, HPAs, pods and events; metrics.k8s.io has no watch, so its
figures are re-read at most every 15 s). Ctrl-C stops.`,
		Example: `  kubectl piyasa scale status --env prod
  kubectl piyasa scale status -w
  kubectl piyasa scale status -o json | jq '.components[] | {component, workload, cpu}'`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "Redraw on every change until Ctrl-C")
	o.Print.AddFlags(cmd)
	fleetcmd.Add(cmd, g, NewCmdStatus, "watch")
	return cmd
}

// Complete resolves the environment and namespace.
func (o *StatusOptions) Complete(_ *cobra.Command, _ []string) error { return o.Global.Complete() }

// Validate checks -o; it does no I/O.
func (o *StatusOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}

// Run prints the status once, or keeps redrawing it with -w.
func (o *StatusOptions) Run(ctx context.Context) error {
	if o.Watch {
		return o.watch(ctx)
	}
	s, err := o.collect(ctx)
	if err != nil {
		return err
	}
	st := buildStatus(s, o.Env, o.Namespace, o.Now())
	if err := o.print(st, false); err != nil {
		return err
	}
	if len(st.Problems) > 0 {
		return cli.ExitCode(cli.ExitFailed)
	}
	return nil
}

// collect reads everything with one LIST per kind (and one GET of the ConfigMap).
func (o *StatusOptions) collect(ctx context.Context) (snapshot, error) {
	var s snapshot
	cs, err := o.Clientset()
	if err != nil {
		return s, err
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return s, err
	}
	dyn, err := o.Dynamic()
	if err != nil {
		return s, err
	}
	ns := o.Namespace
	lo := metav1.ListOptions{}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		l, err := cs.AppsV1().Deployments(ns).List(gctx, lo)
		if err != nil {
			return err
		}
		for i := range l.Items {
			s.deployments = append(s.deployments, &l.Items[i])
		}
		return nil
	})
	g.Go(func() error {
		l, err := cs.AppsV1().StatefulSets(ns).List(gctx, lo)
		if err != nil {
			return err
		}
		for i := range l.Items {
			s.statefulsets = append(s.statefulsets, &l.Items[i])
		}
		return nil
	})
	g.Go(func() error {
		l, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).List(gctx, lo)
		if err != nil {
			return err
		}
		for i := range l.Items {
			s.hpas = append(s.hpas, &l.Items[i])
		}
		return nil
	})
	g.Go(func() error {
		l, err := cs.CoreV1().Pods(ns).List(gctx, lo)
		if err != nil {
			return err
		}
		for i := range l.Items {
			s.pods = append(s.pods, &l.Items[i])
		}
		return nil
	})
	g.Go(func() error {
		l, err := cs.CoreV1().Events(ns).List(gctx, lo)
		if err != nil {
			return err
		}
		for i := range l.Items {
			s.events = append(s.events, &l.Items[i])
		}
		return nil
	})
	g.Go(func() error {
		var err error
		s.configMap, err = getConfigMap(gctx, cs, ns, o.Env.ConfigMap())
		return err
	})
	g.Go(func() error {
		s.metrics, s.metricsErr = podMetrics(gctx, cfg, dyn, ns)
		return nil
	})
	return s, g.Wait()
}

func getConfigMap(ctx context.Context, cs kubernetes.Interface, ns, name string) (*corev1.ConfigMap, error) {
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return cm, err
}

// print writes the status in the chosen format; redraw clears a terminal first.
func (o *StatusOptions) print(st Status, redraw bool) error {
	if o.Print.Structured() {
		if redraw && o.Print.Output == output.YAML {
			fmt.Fprintln(o.Out, "---")
		}
		return o.Print.PrintDocument(o.Out, StatusKind, st)
	}
	if redraw {
		if f, ok := o.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fmt.Fprint(o.Out, "\033[H\033[2J")
		} else {
			fmt.Fprintln(o.Out)
		}
	}
	return renderTable(o.Out, st, o.Print.IsWide(), o.Now())
}
