package cli

import (
	"errors"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// WatchClientset returns the clientset for long watches: made from the flags
// without the --request-timeout of single requests, it reports an outage of
// the API server on standard error and rides it out (kube.WatchClientset). A
// clientset a test put in the Global (a fake) serves them as it is.
func (g *Global) WatchClientset() (kubernetes.Interface, error) {
	cs, err := g.Clientset()
	if err != nil {
		return nil, err
	}
	if _, made := cs.(*kubernetes.Clientset); !made {
		return cs, nil
	}
	cfg, err := g.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kube.WatchClientset(cfg, g.ErrOut)
}

// WatchDynamic is WatchClientset's dynamic client (no request timeout).
func (g *Global) WatchDynamic() (dynamic.Interface, error) {
	d, err := g.Dynamic()
	if err != nil {
		return nil, err
	}
	if _, made := d.(*dynamic.DynamicClient); !made {
		return d, nil
	}
	cfg, err := g.RESTConfig()
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(kube.WatchConfig(cfg))
}

// WaitError turns an error of kube.WaitForWorkloads into the command's
// exit-1 error with a hint, the same way for every command that waits
// (deploy, scale, restore): a timeout points at diagnose, pods the API server
// refuses (a ResourceQuota or LimitRange) at the quota, a Deployment past its
// progress deadline at diagnose or a rollback; any other failing pod gets
// failHint. Other errors, ctx's end among them, come back as they are: the
// caller says what an interruption leaves behind.
func WaitError(err error, ns, failHint string) error {
	var te *kube.TimeoutError
	var fe *kube.FailureError
	switch {
	case errors.As(err, &te):
		return Failedf("%v", te).WithHint("see why: kubectl piyasa diagnose -n %s", ns)
	case errors.As(err, &fe) && fe.Problem.Reason == kube.ReasonFailedCreate:
		return Failedf("%v", fe).WithHint("the API server refuses the pods: raise or remove the ResourceQuota/LimitRange of namespace %s (kubectl describe quota,limitrange -n %s), then run the command again", ns, ns)
	case errors.As(err, &fe) && fe.Problem.Reason == kube.ReasonProgressDeadlineExceeded:
		return Failedf("%v", fe).WithHint("the rollout made no progress within its progressDeadlineSeconds: see why with kubectl piyasa diagnose -n %s, or roll back: kubectl piyasa deploy rollback -n %s", ns, ns)
	case errors.As(err, &fe):
		return Failedf("%v", fe).WithHint("%s", failHint)
	}
	return err
}

// Waited says whether err is one that WaitError words (a timeout or a failing pod).
func Waited(err error) bool {
	return errors.As(err, new(*kube.TimeoutError)) || errors.As(err, new(*kube.FailureError))
}
