package kube

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// PostgresPod finds the running, ready-to-exec postgres pod of the namespace
// and its container.
func PostgresPod(ctx context.Context, cs kubernetes.Interface, ns string) (*corev1.Pod, string, error) {
	c, _ := app.LookupComponent(app.Postgres)
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: c.Selector()})
	if err != nil {
		return nil, "", err
	}
	var running []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			running = append(running, p)
		}
	}
	if len(running) == 0 {
		return nil, "", fmt.Errorf("no running postgres pod (%s) in namespace %s", c.Selector(), ns)
	}
	sort.Slice(running, func(i, j int) bool { return running[i].CreationTimestamp.After(running[j].CreationTimestamp.Time) })
	pod := &running[0]
	container := pod.Spec.Containers[0].Name
	for _, ct := range pod.Spec.Containers {
		if ct.Name == app.Postgres {
			container = ct.Name
		}
	}
	return pod, container, nil
}
