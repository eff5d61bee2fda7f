package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// This file is kubectl's `rollout undo` of a Deployment (k8s.io/kubectl's
// polymorphichelpers.DeploymentRollbacker), with its semantics and messages
// unchanged, without linking k8s.io/kubectl: find the ReplicaSet of the
// revision among those the Deployment controls, and JSON-patch its pod
// template and annotations back into the Deployment. TestRollback runs it
// on a fake clientset.

// DryRunStrategy is kubectl's cmdutil.DryRunStrategy (the same values).
type DryRunStrategy int

const (
	// DryRunNone changes the cluster.
	DryRunNone DryRunStrategy = iota
	// DryRunClient sends nothing that changes the cluster.
	DryRunClient
	// DryRunServer sends the patch with dryRun=All.
	DryRunServer
)

// Rollbacker rolls a workload back to a revision (polymorphichelpers.Rollbacker).
type Rollbacker interface {
	Rollback(obj runtime.Object, updatedAnnotations map[string]string, toRevision int64, dryRunStrategy DryRunStrategy) (string, error)
}

// RollbackerFor returns the Rollbacker of a kind: only apps and extensions
// Deployments here (kubectl also rolls back DaemonSets and StatefulSets).
func RollbackerFor(kind schema.GroupKind, c kubernetes.Interface) (Rollbacker, error) {
	switch kind {
	case schema.GroupKind{Group: "apps", Kind: "Deployment"}, schema.GroupKind{Group: "extensions", Kind: "Deployment"}:
		return &DeploymentRollbacker{C: c}, nil
	}
	return nil, fmt.Errorf("no rollbacker has been implemented for %q", kind)
}

// Results of a rollback, as kubectl prints them.
const (
	rollbackSuccess = "rolled back"
	rollbackSkipped = "skipped rollback"
)

// DeploymentRollbacker rolls Deployments back.
type DeploymentRollbacker struct {
	C kubernetes.Interface
}

// Rollback restores the pod template of revision toRevision (0: the
// previous revision) of the Deployment obj names. With DryRunClient it
// checks that the revision exists and sends nothing (kubectl prints the
// template instead: the suite's callers print their own dry-run lines).
func (r *DeploymentRollbacker) Rollback(obj runtime.Object, _ map[string]string, toRevision int64, dryRunStrategy DryRunStrategy) (string, error) {
	if toRevision < 0 {
		return "", revisionNotFoundErr(toRevision)
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return "", fmt.Errorf("failed to create accessor for kind %v: %s", obj.GetObjectKind(), err.Error())
	}
	name, namespace := accessor.GetName(), accessor.GetNamespace()
	ctx := context.TODO()
	deployment, err := r.C.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("failed to retrieve Deployment %s: %v", name, err)
	}
	rsForRevision, err := r.deploymentRevision(ctx, deployment, toRevision)
	if err != nil {
		return "", err
	}
	if dryRunStrategy == DryRunClient {
		return rollbackSuccess, nil
	}
	if deployment.Spec.Paused {
		return "", fmt.Errorf("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again")
	}
	if equalIgnoreHash(&rsForRevision.Spec.Template, &deployment.Spec.Template) {
		return fmt.Sprintf("%s (current template already matches revision %d)", rollbackSkipped, toRevision), nil
	}
	// The hash label is the ReplicaSet's, not the Deployment's.
	delete(rsForRevision.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	annotations := map[string]string{}
	for k := range annotationsToSkip {
		if v, ok := deployment.Annotations[k]; ok {
			annotations[k] = v
		}
	}
	for k, v := range rsForRevision.Annotations {
		if !annotationsToSkip[k] {
			annotations[k] = v
		}
	}
	patch, err := json.Marshal([]any{
		map[string]any{"op": "replace", "path": "/spec/template", "value": &rsForRevision.Spec.Template},
		map[string]any{"op": "replace", "path": "/metadata/annotations", "value": annotations},
	})
	if err != nil {
		return "", fmt.Errorf("failed restoring revision %d: %v", toRevision, err)
	}
	opts := metav1.PatchOptions{}
	if dryRunStrategy == DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := r.C.AppsV1().Deployments(namespace).Patch(ctx, name, types.JSONPatchType, patch, opts); err != nil {
		return "", fmt.Errorf("failed restoring revision %d: %v", toRevision, err)
	}
	return rollbackSuccess, nil
}

// annotationsToSkip are kept from the Deployment, not copied from the ReplicaSet.
var annotationsToSkip = map[string]bool{
	corev1.LastAppliedConfigAnnotation:          true,
	DeploymentRevisionAnnotation:                true,
	"deployment.kubernetes.io/revision-history": true,
	"deployment.kubernetes.io/desired-replicas": true,
	"deployment.kubernetes.io/max-replicas":     true,
	appsv1.DeprecatedRollbackTo:                 true,
}

// deploymentRevision returns the ReplicaSet of revision toRevision, or of
// the previous revision when toRevision is 0.
func (r *DeploymentRollbacker) deploymentRevision(ctx context.Context, d *appsv1.Deployment, toRevision int64) (*appsv1.ReplicaSet, error) {
	allRSs, err := r.replicaSets(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("failed to retrieve replica sets from deployment %s: %v", d.Name, err)
	}
	var latest, previous *appsv1.ReplicaSet
	latestRev, previousRev := int64(-1), int64(-1)
	for _, rs := range allRSs {
		v, err := Revision(rs.Annotations)
		if err != nil {
			continue
		}
		if toRevision == 0 {
			if latestRev < v {
				previousRev, previous = latestRev, latest
				latestRev, latest = v, rs
			} else if previousRev < v {
				previousRev, previous = v, rs
			}
		} else if toRevision == v {
			return rs, nil
		}
	}
	if toRevision > 0 {
		return nil, revisionNotFoundErr(toRevision)
	}
	if previous == nil {
		return nil, fmt.Errorf("no rollout history found for deployment %q", d.Name)
	}
	return previous, nil
}

// replicaSets lists the ReplicaSets the Deployment controls, old ones
// first and the new one (the oldest whose template is the Deployment's) last,
// as kubectl's deploymentutil.GetAllReplicaSets gives them.
func (r *DeploymentRollbacker) replicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	opts := metav1.ListOptions{LabelSelector: selector.String()}
	var owned []*appsv1.ReplicaSet
	for {
		list, err := r.C.AppsV1().ReplicaSets(d.Namespace).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			if metav1.IsControlledBy(&list.Items[i], d) {
				owned = append(owned, &list.Items[i])
			}
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	sort.SliceStable(owned, func(i, j int) bool {
		a, b := owned[i], owned[j]
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
	var newRS *appsv1.ReplicaSet
	for _, rs := range owned {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			newRS = rs
			break
		}
	}
	var all []*appsv1.ReplicaSet
	for _, rs := range owned {
		if newRS == nil || rs.UID != newRS.UID {
			all = append(all, rs)
		}
	}
	if newRS != nil {
		all = append(all, newRS)
	}
	return all, nil
}

// equalIgnoreHash tells whether two pod templates are equal but for the pod-template-hash label.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return apiequality.Semantic.DeepEqual(a, b)
}

func revisionNotFoundErr(r int64) error {
	return fmt.Errorf("unable to find specified revision %v in history", r)
}
