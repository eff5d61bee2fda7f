package deploy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// history returns the dev app at revision 2 (image v2) with revision 1 (v1)
// still kept as a ReplicaSet.
func history() []runtime.Object {
	objs := liveApp(imgV2)
	api := component(app.API)
	var d *appsv1.Deployment
	for _, o := range objs {
		if x, ok := o.(*appsv1.Deployment); ok && x.Name == "dev-api" {
			d = x
		}
	}
	d.Annotations[kube.RevisionAnnotation] = "2"
	own := []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}
	for rev, img := range map[string]string{"1": imgV1, "2": imgV2} {
		labels := map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: "h" + rev}
		for k, v := range api.Labels {
			labels[k] = v
		}
		objs = append(objs, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "dev-api-h" + rev, Namespace: devNS, Labels: labels, OwnerReferences: own,
				Annotations: map[string]string{kube.RevisionAnnotation: rev, kube.ChangeCauseAnnotation: "deploy " + rev}},
			Spec: appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: app.API, Image: img}}}}},
		})
	}
	return objs
}

func TestRollback(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		setup     func(tt *clitest.T)
		code      int
		api, work string
		out       string
	}{
		{name: "to the previous revision", args: []string{"rollback"}, api: imgV1, work: imgV1, out: "rollback complete: api and worker run " + imgV1},
		{name: "to a given revision", args: []string{"rollback", "--to-revision", "1", "--wait=false"}, api: imgV1, work: imgV1, out: "rolled back to revision 1"},
		{name: "no such revision", args: []string{"rollback", "--to-revision", "7"}, code: 2, api: imgV2, work: imgV2, out: "no revision 7"},
		{name: "client dry run", args: []string{"rollback", "--dry-run=client"}, api: imgV2, work: imgV2, out: "(dry run)"},
		{name: "conflict on the Deployment: nothing changed", args: []string{"rollback"}, code: 1, api: imgV2, work: imgV2,
			setup: func(tt *clitest.T) { failOn(tt, "patch", "deployments", 0, conflict("deployments")) }, out: "roll back deployment/dev-api"},
		{name: "forbidden", args: []string{"rollback"}, code: 3, api: imgV2, work: imgV2,
			setup: func(tt *clitest.T) { failOn(tt, "patch", "deployments", 0, forbidden("deployments")) }},
		{name: "worker patch forbidden after the api", args: []string{"rollback"}, code: 3, api: imgV1, work: imgV2,
			setup: func(tt *clitest.T) { failOn(tt, "patch", "statefulsets", 0, forbidden("statefulsets")) }, out: "deployment/dev-api is rolled back"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := clitest.New(devNS, history()...)
			if c.setup != nil {
				c.setup(tt)
			}
			runCase(t, tt, c.args, c.code, c.out)
			d := getDeploy(t, tt, "dev-api")
			if got := d.Spec.Template.Spec.Containers[0].Image; got != c.api {
				t.Errorf("api runs %s, want %s", got, c.api)
			}
			if _, ok := d.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
				t.Error("the ReplicaSet's pod-template-hash was copied into the Deployment")
			}
			if got := getSTS(t, tt, "dev-worker").Spec.Template.Spec.Containers[0].Image; got != c.work {
				t.Errorf("worker runs %s, want %s", got, c.work)
			}
		})
	}
}
