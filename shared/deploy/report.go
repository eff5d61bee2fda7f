package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// waitAndReport waits for the workloads, then prints the pods and how to
// reach the app.
func waitAndReport(ctx context.Context, g *cli.Global, workloads []kube.Workload, timeout time.Duration) error {
	cs, err := g.WatchClientset()
	if err != nil {
		return err
	}
	g.Infof("Waiting for %s (timeout %s)\n", cli.Plural(len(workloads), "workload", "workloads"), timeout)
	w := &Waiter{CS: cs, NS: g.Namespace, Timeout: timeout, Progress: g.ErrOut, Now: g.Now}
	if _, err := w.Wait(ctx, workloads); err != nil {
		return waitErr(ctx, g, err)
	}
	return report(ctx, g)
}

// report prints the app's pods (the guide's "Expected output") and how to
// reach the app.
func report(ctx context.Context, g *cli.Global) error {
	client, err := g.Clientset()
	if err != nil {
		return err
	}
	var sels []labels.Selector
	for _, c := range app.Components {
		sels = append(sels, labels.SelectorFromSet(c.Labels))
	}
	list, err := client.CoreV1().Pods(g.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		for _, s := range sels {
			if s.Matches(labels.Set(p.Labels)) {
				pods = append(pods, p)
				break
			}
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	fmt.Fprintln(g.Out)
	t := output.NewTable(g.Out, "NAME", "READY", "STATUS", "RESTARTS", "AGE")
	for _, r := range podRows(pods, g.Now()) {
		t.Append(r...)
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintln(g.Out)
	fmt.Fprint(g.Out, accessText(g.Env, g.Namespace))
	if g.Env.TLS {
		if note := tlsSecretNote(ctx, client, g.Namespace); note != "" {
			g.Infof("%s\n", note)
		}
	}
	return nil
}

// tlsSecretNote warns when the Ingress's TLS Secret does not exist yet: the
// https:// URLs just printed fail until cert-manager issues it (or it is
// made by hand). "" when it exists or cannot be read.
func tlsSecretNote(ctx context.Context, client kubernetes.Interface, ns string) string {
	_, err := client.CoreV1().Secrets(ns).Get(ctx, app.TLSSecretName, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		return ""
	}
	return fmt.Sprintf("warning: TLS Secret %s does not exist yet in namespace %s: https fails until cert-manager issues it (check: kubectl get certificate -n %s), or create it: kubectl create secret tls %s --cert CERT.pem --key KEY.pem -n %s --dry-run=client -o yaml | kubectl apply -f -",
		app.TLSSecretName, ns, ns, app.TLSSecretName, ns)
}

// accessText says how to reach the app: port-forwards for dev, the Ingress
// hosts for prod (guide, Procedure 1 step 7).
func accessText(env app.Environment, ns string) string {
	var b strings.Builder
	if env.TLS {
		fmt.Fprintf(&b, "The app is served through Ingress %s:\n", env.ObjectName(app.IngressName))
		fmt.Fprintf(&b, "  Frontend: https://%s\n", env.Domain)
		fmt.Fprintf(&b, "  API:      https://api.%s (docs: /docs, health: /healthz)\n", env.Domain)
		return b.String()
	}
	api, _ := app.LookupComponent(app.API)
	fe, _ := app.LookupComponent(app.Frontend)
	b.WriteString("Reach the app with port-forwards:\n")
	fmt.Fprintf(&b, "  kubectl port-forward -n %s svc/%s %d:%d   # API: http://localhost:%d/docs\n", ns, env.ServiceName(api), api.Port, api.Port, api.Port)
	fmt.Fprintf(&b, "  kubectl port-forward -n %s svc/%s %d:%d   # Frontend: http://localhost:%d\n", ns, env.ServiceName(fe), fe.Port, fe.Port, fe.Port)
	return b.String()
}

// podRows lists the app's pods as the guide's "Expected output" does.
func podRows(pods []corev1.Pod, now time.Time) [][]string {
	var rows [][]string
	for _, p := range pods {
		ready, total, restarts := 0, len(p.Spec.Containers), int32(0)
		for _, c := range p.Status.ContainerStatuses {
			if c.Ready {
				ready++
			}
			restarts += c.RestartCount
		}
		status := string(p.Status.Phase)
		if p.DeletionTimestamp != nil {
			status = "Terminating"
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Waiting != nil && c.State.Waiting.Reason != "" {
				status = c.State.Waiting.Reason
			}
		}
		rows = append(rows, []string{p.Name, fmt.Sprintf("%d/%d", ready, total), status, fmt.Sprint(restarts), cli.Age(now, p.CreationTimestamp.Time)})
	}
	return rows
}
