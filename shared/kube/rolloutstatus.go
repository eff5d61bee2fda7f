package kube

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// This file is kubectl's `rollout status` logic (k8s.io/kubectl's
// polymorphichelpers.StatusViewer for Deployment, StatefulSet and DaemonSet),
// with its semantics and messages unchanged, without linking k8s.io/kubectl:
// polymorphichelpers pulls in kubectl's describe, scheme and cmd/util
// packages. TestRolloutStatusMatchesKubectl compares the two on table cases.

// Annotations and reasons of the Deployment controller that the rollout logic reads.
const (
	// DeploymentRevisionAnnotation is a Deployment's (or ReplicaSet's) revision number.
	DeploymentRevisionAnnotation = "deployment.kubernetes.io/revision"
	// progressDeadlineExceeded is the Progressing condition's reason after progressDeadlineSeconds.
	progressDeadlineExceeded = "ProgressDeadlineExceeded"
)

// StatusViewer gives the rollout status of a workload (polymorphichelpers.StatusViewer).
type StatusViewer interface {
	Status(obj runtime.Unstructured, revision int64) (string, bool, error)
}

// StatusViewerFor returns the StatusViewer of a kind, as
// polymorphichelpers.StatusViewerFor does (apps and extensions Deployment and
// DaemonSet, apps StatefulSet).
func StatusViewerFor(kind schema.GroupKind) (StatusViewer, error) {
	switch kind {
	case schema.GroupKind{Group: "apps", Kind: "Deployment"}, schema.GroupKind{Group: "extensions", Kind: "Deployment"},
		schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, schema.GroupKind{Group: "extensions", Kind: "DaemonSet"},
		schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
		return statusViewer{kind.Kind}, nil
	}
	return nil, fmt.Errorf("no status viewer has been implemented for %v", kind)
}

type statusViewer struct{ kind string }

func (v statusViewer) Status(obj runtime.Unstructured, revision int64) (string, bool, error) {
	var typed runtime.Object
	switch v.kind {
	case "Deployment":
		typed = &appsv1.Deployment{}
	case "StatefulSet":
		typed = &appsv1.StatefulSet{}
	default:
		typed = &appsv1.DaemonSet{}
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.UnstructuredContent(), typed); err != nil {
		return "", false, fmt.Errorf("failed to convert %T to %T: %v", obj, typed, err)
	}
	return RolloutStatus(typed, revision)
}

// RolloutStatus returns what `kubectl rollout status` says of a Deployment,
// StatefulSet or DaemonSet: a message, whether the rollout is done, and an
// error when it cannot finish (progress deadline exceeded, wrong revision, an
// update strategy without rollout status). revision 0 means any revision.
func RolloutStatus(obj runtime.Object, revision int64) (string, bool, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return deploymentStatus(o, revision)
	case *appsv1.StatefulSet:
		return statefulSetStatus(o)
	case *appsv1.DaemonSet:
		return daemonSetStatus(o)
	}
	return "", false, fmt.Errorf("no status viewer has been implemented for %T", obj)
}

// Revision returns the revision annotation of a Deployment or ReplicaSet (0 when unset).
func Revision(annotations map[string]string) (int64, error) {
	v, ok := annotations[DeploymentRevisionAnnotation]
	if !ok {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

func deploymentStatus(d *appsv1.Deployment, revision int64) (string, bool, error) {
	if revision > 0 {
		rev, err := Revision(d.Annotations)
		if err != nil {
			return "", false, fmt.Errorf("cannot get the revision of deployment %q: %v", d.Name, err)
		}
		if revision != rev {
			return "", false, fmt.Errorf("desired revision (%d) is different from the running revision (%d)", revision, rev)
		}
	}
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...\n", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			if c.Reason == progressDeadlineExceeded {
				return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
			}
			break
		}
	}
	st := d.Status
	if d.Spec.Replicas != nil && st.UpdatedReplicas < *d.Spec.Replicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...\n", d.Name, st.UpdatedReplicas, *d.Spec.Replicas), false, nil
	}
	if st.Replicas > st.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...\n", d.Name, st.Replicas-st.UpdatedReplicas), false, nil
	}
	if st.AvailableReplicas < st.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...\n", d.Name, st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out\n", d.Name), true, nil
}

func daemonSetStatus(ds *appsv1.DaemonSet) (string, bool, error) {
	// Revisions are ignored: DaemonSets have no history here, as in kubectl.
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		return "", true, fmt.Errorf("rollout status is only available for %s strategy type", appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if ds.Generation > ds.Status.ObservedGeneration {
		return "Waiting for daemon set spec update to be observed...\n", false, nil
	}
	st := ds.Status
	if st.UpdatedNumberScheduled < st.DesiredNumberScheduled {
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...\n", ds.Name, st.UpdatedNumberScheduled, st.DesiredNumberScheduled), false, nil
	}
	if st.NumberAvailable < st.DesiredNumberScheduled {
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...\n", ds.Name, st.NumberAvailable, st.DesiredNumberScheduled), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out\n", ds.Name), true, nil
}

func statefulSetStatus(sts *appsv1.StatefulSet) (string, bool, error) {
	if sts.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return "", true, fmt.Errorf("rollout status is only available for %s strategy type", appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if sts.Status.ObservedGeneration == 0 || sts.Generation > sts.Status.ObservedGeneration {
		return "Waiting for statefulset spec update to be observed...\n", false, nil
	}
	if sts.Spec.Replicas != nil && sts.Status.ReadyReplicas < *sts.Spec.Replicas {
		return fmt.Sprintf("Waiting for %d pods to be ready...\n", *sts.Spec.Replicas-sts.Status.ReadyReplicas), false, nil
	}
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if sts.Spec.Replicas != nil && ru.Partition != nil {
			if sts.Status.UpdatedReplicas < (*sts.Spec.Replicas - *ru.Partition) {
				return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...\n",
					sts.Status.UpdatedReplicas, *sts.Spec.Replicas-*ru.Partition), false, nil
			}
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...\n", sts.Status.UpdatedReplicas), true, nil
	}
	if sts.Status.UpdateRevision != sts.Status.CurrentRevision {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...\n",
			sts.Status.UpdatedReplicas, sts.Status.UpdateRevision), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...\n", sts.Status.CurrentReplicas, sts.Status.CurrentRevision), true, nil
}
