package kube

import (
	"reflect"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	autoscalinginformers "k8s.io/client-go/informers/autoscaling/v2"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/informers/internalinterfaces"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Informers makes the informers of one namespace as client-go's
// SharedInformerFactory does (one per kind, made when first asked for,
// started by Start, waited for by Shutdown), but links only the API groups
// asked for: package informers links every group's, about 0.2 MiB of each
// binary (scripts/bench-size.sh).
type Informers struct {
	cs kubernetes.Interface
	ns string

	// Transform, when set, is every informer's transform (as WithTransform).
	Transform cache.TransformFunc
	// Tweak, when set, changes every LIST and WATCH (as WithTweakListOptions).
	Tweak internalinterfaces.TweakListOptionsFunc

	mu        sync.Mutex
	informers map[reflect.Type]cache.SharedIndexInformer
	started   map[reflect.Type]bool
	wg        sync.WaitGroup
}

var _ internalinterfaces.SharedInformerFactory = (*Informers)(nil)

// NewInformers returns the informers of namespace ns, without resync.
func NewInformers(cs kubernetes.Interface, ns string) *Informers {
	return &Informers{cs: cs, ns: ns, informers: map[reflect.Type]cache.SharedIndexInformer{}, started: map[reflect.Type]bool{}}
}

// Core gives the informers of the core group's v1 kinds.
func (f *Informers) Core() coreinformers.Interface { return coreinformers.New(f, f.ns, f.Tweak) }

// Apps gives the informers of apps/v1.
func (f *Informers) Apps() appsinformers.Interface { return appsinformers.New(f, f.ns, f.Tweak) }

// Autoscaling gives the informers of autoscaling/v2.
func (f *Informers) Autoscaling() autoscalinginformers.Interface {
	return autoscalinginformers.New(f, f.ns, f.Tweak)
}

// InformerFor returns the one informer of obj's kind, made by newFunc the
// first time.
func (f *Informers) InformerFor(obj runtime.Object, newFunc internalinterfaces.NewInformerFunc) cache.SharedIndexInformer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := reflect.TypeOf(obj)
	if inf, ok := f.informers[t]; ok {
		return inf
	}
	inf := newFunc(f.cs, time.Duration(0))
	if f.Transform != nil {
		_ = inf.SetTransform(f.Transform)
	}
	f.informers[t] = inf
	return inf
}

// InformerName is nil: the informers publish no metrics.
func (f *Informers) InformerName() *cache.InformerName { return nil }

// Start runs the informers made so far that do not run yet, until stop is closed.
func (f *Informers) Start(stop <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for t, inf := range f.informers {
		if !f.started[t] {
			f.started[t] = true
			f.wg.Go(func() { inf.Run(stop) })
		}
	}
}

// Shutdown waits until every started informer has stopped (after the stop
// channel given to Start is closed).
func (f *Informers) Shutdown() { f.wg.Wait() }
