package scale

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// MetricsRefresh is how often -w re-reads metrics.k8s.io, which cannot be
// watched: metrics-server's own resolution.
const MetricsRefresh = 15 * time.Second

// watch redraws the status on every change seen by informers (one LIST and
// one WATCH per kind) until ctx ends.
func (o *StatusOptions) watch(ctx context.Context) error {
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	dyn, err := o.Dynamic()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(kube.WatchConfig(cfg))
	if err != nil {
		return err
	}
	ns, cmName := o.Namespace, o.Env.ConfigMap()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	f := kube.NewInformers(cs, ns)
	f.Transform = kube.StripForCache
	cmf := kube.NewInformers(cs, ns)
	cmf.Tweak = func(lo *metav1.ListOptions) { lo.FieldSelector = "metadata.name=" + cmName }
	deploys := f.Apps().Deployments()
	stss := f.Apps().StatefulSets()
	hpas := f.Autoscaling().HorizontalPodAutoscalers()
	pods := f.Core().Pods()
	events := f.Core().Events()
	cms := cmf.Core().ConfigMaps()

	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { notify() }, UpdateFunc: func(any, any) { notify() }, DeleteFunc: func(any) { notify() },
	}
	var failOnce sync.Once
	var failure error
	onWatchError := func(_ *cache.Reflector, err error) {
		if kubeFatal(err) {
			failOnce.Do(func() { failure = err; cancel() })
		}
	}
	var synced []cache.InformerSynced
	for _, inf := range []cache.SharedIndexInformer{deploys.Informer(), stss.Informer(), hpas.Informer(), pods.Informer(), events.Informer(), cms.Informer()} {
		_, _ = inf.AddEventHandler(handler)
		_ = inf.SetWatchErrorHandler(onWatchError)
		synced = append(synced, inf.HasSynced)
	}
	f.Start(ctx.Done())
	cmf.Start(ctx.Done())
	defer f.Shutdown()
	defer cmf.Shutdown()
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return watchEnd(ctx, failure)
	}

	metrics, metricsErr := podMetrics(ctx, cfg, dyn, ns)
	tick := time.NewTicker(MetricsRefresh)
	defer tick.Stop()
	var last []byte
	first := true
	for {
		var s snapshot
		d, _ := deploys.Lister().Deployments(ns).List(labels.Everything())
		s.deployments = d
		ss, _ := stss.Lister().StatefulSets(ns).List(labels.Everything())
		s.statefulsets = ss
		h, _ := hpas.Lister().HorizontalPodAutoscalers(ns).List(labels.Everything())
		s.hpas = h
		p, _ := pods.Lister().Pods(ns).List(labels.Everything())
		s.pods = p
		e, _ := events.Lister().Events(ns).List(labels.Everything())
		s.events = e
		s.configMap, _ = cms.Lister().ConfigMaps(ns).Get(cmName)
		s.metrics, s.metricsErr = metrics, metricsErr
		st := buildStatus(s, o.Env, ns, o.Now())
		key := statusKey(st)
		if first || string(key) != string(last) {
			if err := o.print(st, !first); err != nil {
				return err
			}
			first, last = false, key
		}
		select {
		case <-changed:
		case <-tick.C:
			metrics, metricsErr = podMetrics(ctx, cfg, dyn, ns)
		case <-ctx.Done():
			return watchEnd(ctx, failure)
		}
	}
}

// statusKey identifies what a redraw would show, without the time.
func statusKey(st Status) []byte {
	st.Time = metav1.Time{}
	b, _ := json.Marshal(st)
	return b
}

// watchEnd is the result of -w: the watch's fatal error, or a silent exit
// 130 when Ctrl-C ended it (as kubectl get -w, it prints nothing more).
func watchEnd(ctx context.Context, failure error) error {
	if failure != nil {
		return failure
	}
	if ctx.Err() != nil {
		return cli.ExitCode(cli.ExitInterrupted)
	}
	return nil
}
