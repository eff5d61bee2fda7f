package deploy

import (
	"context"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// apiHistory reads the api Deployment's ReplicaSets (one LIST); it returns
// the ReplicaSet of each revision too.
func apiHistory(ctx context.Context, cs kubernetes.Interface, env app.Environment, ns string) (*History, *appsv1.Deployment, map[int64]*appsv1.ReplicaSet, error) {
	api, _ := app.LookupComponent(app.API)
	name := env.WorkloadName(api)
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, nil, notDeployed(err, api, name, ns)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, nil, nil, err
	}
	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, nil, nil, err
	}
	h := &History{Namespace: ns, Workload: name}
	byRev := map[int64]*appsv1.ReplicaSet{}
	h.Current, _ = strconv.ParseInt(d.Annotations[kube.RevisionAnnotation], 10, 64)
	for i, rs := range rss.Items {
		if !metav1.IsControlledBy(&rs, d) {
			continue
		}
		rev, err := strconv.ParseInt(rs.Annotations[kube.RevisionAnnotation], 10, 64)
		if err != nil {
			continue
		}
		byRev[rev] = &rss.Items[i]
		img := ""
		if c := containerOf(&rs.Spec.Template.Spec, app.API); c != nil {
			img = c.Image
		}
		h.Revisions = append(h.Revisions, Revision{Revision: rev, Image: img, ChangeCause: rs.Annotations[kube.ChangeCauseAnnotation],
			Created: rs.CreationTimestamp.UTC(), Current: rev == h.Current})
	}
	sort.Slice(h.Revisions, func(i, j int) bool { return h.Revisions[i].Revision < h.Revisions[j].Revision })
	worker, _ := app.LookupComponent(app.Worker)
	if s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, env.WorkloadName(worker), metav1.GetOptions{}); err == nil {
		if c := containerOf(&s.Spec.Template.Spec, app.Worker); c != nil {
			h.WorkerImage = c.Image
		}
	}
	if c := containerOf(&d.Spec.Template.Spec, app.API); c != nil {
		h.InSync = c.Image == h.WorkerImage
	}
	return h, d, byRev, nil
}
