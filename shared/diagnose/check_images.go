package diagnose

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func imageTag(image string) (tag string, digest bool) {
	if i := strings.Index(image, "@"); i >= 0 {
		return image[i+1:], true
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		return image[i+1:], false
	}
	return "", false
}

func (r *runner) checkImages(context.Context) {
	ws := r.appWorkloads()
	if r.begin("PIY701", KindDeployments, KindStatefulSets) {
		for _, w := range ws {
			for _, c := range w.Template.Spec.Containers {
				tag, digest := imageTag(c.Image)
				var why []string
				if !digest && (tag == "" || tag == "latest") {
					why = append(why, fmt.Sprintf("image %s is tagged %q", c.Image, or(tag, "latest (untagged)")))
				}
				if c.ImagePullPolicy == corev1.PullAlways {
					why = append(why, "imagePullPolicy: Always")
				}
				if len(why) > 0 {
					r.add("PIY701", w.Component, w.obj(), fmt.Sprintf("container %s: %s", c.Name, strings.Join(why, ", ")), why, "")
				}
			}
		}
	}
	if r.begin("PIY702", KindDeployments, KindStatefulSets) {
		a, okA := r.component(app.API)
		wk, okW := r.component(app.Worker)
		if okA && okW && len(a.Template.Spec.Containers) > 0 && len(wk.Template.Spec.Containers) > 0 {
			ai, wi := a.Template.Spec.Containers[0].Image, wk.Template.Spec.Containers[0].Image
			if ai != wi {
				r.add("PIY702", app.Worker, wk.obj(), fmt.Sprintf("worker runs %s but api runs %s", wi, ai),
					[]string{"api image: " + ai, "worker image: " + wi}, "")
			}
		}
	}
	if r.begin("PIY703", KindDeployments) {
		if a, ok := r.component(app.API); ok && len(a.Template.Spec.Containers) > 0 {
			c := a.Template.Spec.Containers[0]
			switch {
			case c.ReadinessProbe == nil:
				r.add("PIY703", app.API, a.obj(), fmt.Sprintf("container %s has no readiness probe (want GET /readyz)", c.Name), nil, "")
			case c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz":
				got := "not an httpGet"
				if c.ReadinessProbe.HTTPGet != nil {
					got = "GET " + c.ReadinessProbe.HTTPGet.Path
				}
				r.add("PIY703", app.API, a.obj(), fmt.Sprintf("container %s readiness probes %s, not GET /readyz", c.Name, got), []string{"readinessProbe: " + got}, "")
			}
		}
	}
	if r.begin("PIY704", KindDeployments, KindStatefulSets) {
		for _, w := range ws {
			comp, _ := app.LookupComponent(w.Component)
			for _, c := range w.Template.Spec.Containers {
				var missing []string
				if c.ReadinessProbe == nil && comp.Port != 0 {
					missing = append(missing, "readiness")
				}
				if c.LivenessProbe == nil {
					missing = append(missing, "liveness")
				}
				if len(missing) > 0 {
					r.add("PIY704", w.Component, w.obj(), fmt.Sprintf("container %s has no %s probe", c.Name, strings.Join(missing, " or ")), nil, "")
				}
			}
		}
	}
	if r.begin("PIY705", KindDeployments, KindStatefulSets) {
		for _, w := range ws {
			for _, c := range w.Template.Spec.Containers {
				var missing []string
				for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					if _, ok := c.Resources.Requests[res]; !ok {
						missing = append(missing, string(res)+" request")
					}
					if _, ok := c.Resources.Limits[res]; !ok {
						missing = append(missing, string(res)+" limit")
					}
				}
				if len(missing) > 0 {
					want := r.s.Env.Resources[w.Component]
					r.add("PIY705", w.Component, w.obj(), fmt.Sprintf("container %s sets no %s", c.Name, strings.Join(missing, ", ")),
						[]string{fmt.Sprintf("guide (Appendix A, %s): requests %s CPU / %s, limits %s CPU / %s", r.s.Env.Name, want.CPURequest, want.MemoryRequest, want.CPULimit, want.MemoryLimit)}, "")
				}
			}
		}
	}
}
