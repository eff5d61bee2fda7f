package render

import (
	"fmt"
	"path"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/manifests"
	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// Region selects the manifests of a fleet region (manifests/regions): the
// role's Component patches the environment's overlay, and the objects the
// role adds are rendered with the environment's name prefix.
type Region struct {
	// Role is app.RegionPrimary or app.RegionStandby.
	Role string
	// ServiceType is the type of the primary's replication Service
	// ("": the manifests' LoadBalancer).
	ServiceType string
	// PrimaryHost and PrimaryPort are where a standby reaches the primary
	// ("" and 0: set later with SetPrimary).
	PrimaryHost string
	PrimaryPort int
}

const regionRoot = wrapRoot + "/region"

// addRegion writes the kustomization of the region's objects into mem and
// adds it and the role's Component to the wrapping kustomization k.
func addRegion(mem filesys.FileSystem, k *types.Kustomization, o Options) error {
	r := o.Region
	if r.Role != app.RegionPrimary && r.Role != app.RegionStandby {
		return fmt.Errorf("unknown region role %q", r.Role)
	}
	if o.Dir != "" {
		return fmt.Errorf("a fleet region renders the embedded manifests only, not --manifests %s", o.Dir)
	}
	ns := o.Namespace
	if ns == "" {
		ns = o.Env.Namespace
	}
	dir := path.Join(embedRoot, manifests.RegionDir(r.Role))
	objs := types.Kustomization{
		TypeMeta:   types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources:  []string{"../.." + path.Join(dir, "objects")},
		Namespace:  ns,
		NamePrefix: o.Env.Prefix,
		Labels: []types.Label{{Pairs: map[string]string{app.PartOfLabel: app.PartOfValue, "environment": o.Env.Name},
			IncludeSelectors: false, IncludeTemplates: true}},
	}
	data, err := yaml.Marshal(objs)
	if err != nil {
		return err
	}
	if err := mem.MkdirAll(regionRoot); err != nil {
		return err
	}
	if err := mem.WriteFile(path.Join(regionRoot, "kustomization.yaml"), data); err != nil {
		return err
	}
	k.Resources = append(k.Resources, "region")
	k.Components = append(k.Components, ".."+dir)
	return nil
}

// setRegion sets what the fleet says on the rendered objects: the
// replication Service's type, and a standby's primary address.
func setRegion(objs []*unstructured.Unstructured, r *Region) error {
	for _, u := range objs {
		if u.GetKind() == "Service" && hasSuffix(u.GetName(), app.ReplicationService) && r.ServiceType != "" {
			if err := unstructured.SetNestedField(u.Object, r.ServiceType, "spec", "type"); err != nil {
				return err
			}
		}
	}
	if r.Role == app.RegionStandby {
		return SetPrimary(objs, r.PrimaryHost, r.PrimaryPort)
	}
	return nil
}

// SetPrimary sets a standby region's primary address (host:port, port 0:
// app.DefaultReplicationPort) on its rendered objects: the environment of
// the initContainer that clones the primary, and the port the postgres pod
// may reach in NetworkPolicy postgres-replication.
func SetPrimary(objs []*unstructured.Unstructured, host string, port int) error {
	if port == 0 {
		port = app.DefaultReplicationPort
	}
	for _, u := range objs {
		switch {
		case u.GetKind() == app.KindDeployment && hasSuffix(u.GetName(), app.Postgres):
			if err := setCloneEnv(u, host, port); err != nil {
				return err
			}
		case u.GetKind() == "NetworkPolicy" && hasSuffix(u.GetName(), app.ReplicationPolicy):
			egress, _, _ := unstructured.NestedSlice(u.Object, "spec", "egress")
			for _, e := range egress {
				ports, _ := e.(map[string]any)["ports"].([]any)
				for _, p := range ports {
					p.(map[string]any)["port"] = int64(port)
				}
			}
			if err := unstructured.SetNestedSlice(u.Object, egress, "spec", "egress"); err != nil {
				return err
			}
		}
	}
	return nil
}

// setCloneEnv sets PRIMARY_HOST and PRIMARY_PORT of the initContainer
// clone-primary of the postgres Deployment u.
func setCloneEnv(u *unstructured.Unstructured, host string, port int) error {
	p := []string{"spec", "template", "spec", "initContainers"}
	ctrs, _, _ := unstructured.NestedSlice(u.Object, p...)
	for _, c := range ctrs {
		ctr, _ := c.(map[string]any)
		if ctr["name"] != app.CloneContainer {
			continue
		}
		env, _ := ctr["env"].([]any)
		for _, e := range env {
			m, _ := e.(map[string]any)
			switch m["name"] {
			case app.EnvPrimaryHost:
				m["value"] = host
			case app.EnvPrimaryPort:
				m["value"] = fmt.Sprint(port)
			}
		}
	}
	return unstructured.SetNestedSlice(u.Object, ctrs, p...)
}

// hasSuffix says whether name is base with any environment's name prefix.
func hasSuffix(name, base string) bool {
	return len(name) >= len(base) && name[len(name)-len(base):] == base && (len(name) == len(base) || name[len(name)-len(base)-1] == '-')
}
