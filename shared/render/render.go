// Package render builds the app's manifests in-process with the Kustomize
// API: the embedded overlay of an environment (or a user's kustomization
// directory), with the target namespace and image overrides applied by a
// wrapping kustomization. Nothing is shelled out and nothing is written to
// disk: everything is rendered in an in-memory file system.
package render

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/manifests"
	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// Options selects what to render.
type Options struct {
	// Env is the environment whose overlay is rendered.
	Env app.Environment
	// Namespace, when set, replaces the overlay's namespace (Namespace object
	// included, every namespaced object moved into it).
	Namespace string
	// Dir is a user's kustomization directory used instead of the embedded overlay.
	Dir string
	// APIImage and FrontendImage override the app images: a tag ("v2.0.0"),
	// or a full reference ("registry/name:tag", "name@sha256:...").
	APIImage, FrontendImage string
	// Region, when set, renders the manifests of a fleet region's role
	// (embedded manifests only).
	Region *Region
}

// ImageError reports an image reference that cannot be used.
type ImageError struct{ Ref, Why string }

func (e *ImageError) Error() string {
	return fmt.Sprintf("invalid image reference %q: %s", e.Ref, e.Why)
}

var (
	tagRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	nameRE   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
)

// ParseImage turns an --image value into a Kustomize image override of repo:
// a bare tag keeps the repository; a full reference replaces it. Mutable
// references (no tag, :latest) are refused: they would change under a running
// rollout and make rollbacks meaningless.
func ParseImage(repo, ref string) (types.Image, error) {
	img := types.Image{Name: repo}
	if ref == "" {
		return img, &ImageError{Ref: ref, Why: "empty"}
	}
	name, tag, digest := ref, "", ""
	if i := strings.Index(ref, "@"); i >= 0 {
		name, digest = ref[:i], ref[i+1:]
		if !digestRE.MatchString(digest) {
			return img, &ImageError{Ref: ref, Why: "the digest must be sha256: and 64 hex digits"}
		}
	}
	if i := strings.LastIndex(name, ":"); i >= 0 && !strings.Contains(name[i:], "/") {
		name, tag = name[:i], name[i+1:]
	}
	if !strings.ContainsAny(ref, "/@:") {
		// A bare tag.
		name, tag = "", ref
	}
	if name != "" && !nameRE.MatchString(name) {
		return img, &ImageError{Ref: ref, Why: "not a valid repository name (lower-case registry/path)"}
	}
	if tag != "" && !tagRE.MatchString(tag) {
		return img, &ImageError{Ref: ref, Why: "not a valid tag (letters, digits, _ . -, at most 128)"}
	}
	if digest == "" && (tag == "" || tag == "latest") {
		return img, &ImageError{Ref: ref, Why: "use a version tag or a digest, not :latest or no tag (a rollback must bring back a known image)"}
	}
	img.NewName, img.NewTag, img.Digest = name, tag, digest
	return img, nil
}

// ImageRef returns the full reference an override gives.
func ImageRef(img types.Image) string {
	name := img.Name
	if img.NewName != "" {
		name = img.NewName
	}
	if img.Digest != "" {
		return name + "@" + img.Digest
	}
	return name + ":" + img.NewTag
}

const (
	embedRoot = "/piyasa"
	userRoot  = "/user"
	wrapRoot  = "/wrap"
)

// Render renders the manifests and returns the objects in apply order
// (Namespace first).
func Render(o Options) ([]*unstructured.Unstructured, error) {
	mem := filesys.MakeFsInMemory()
	var target string
	if o.Dir != "" {
		if err := copyDir(mem, o.Dir, userRoot); err != nil {
			return nil, err
		}
		target = userRoot
	} else {
		if err := copyEmbedded(mem, embedRoot); err != nil {
			return nil, err
		}
		target = path.Join(embedRoot, manifests.Overlay(o.Env.Name))
		if !mem.Exists(path.Join(target, "kustomization.yaml")) {
			return nil, fmt.Errorf("no overlay for environment %q", o.Env.Name)
		}
	}
	k := types.Kustomization{
		TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources: []string{".." + target},
		Namespace: o.Namespace,
	}
	for _, im := range []struct{ repo, ref string }{{app.APIImage, o.APIImage}, {app.FrontendImage, o.FrontendImage}} {
		if im.ref == "" {
			continue
		}
		img, err := ParseImage(im.repo, im.ref)
		if err != nil {
			return nil, err
		}
		k.Images = append(k.Images, img)
	}
	if o.Region == nil {
		return run(mem, k, o.Dir)
	}
	if err := addRegion(mem, &k, o); err != nil {
		return nil, err
	}
	objs, err := run(mem, k, o.Dir)
	if err != nil {
		return nil, err
	}
	return objs, setRegion(objs, o.Region)
}

// Monitoring renders the monitoring add-on (manifests/monitoring: the api's
// ServiceMonitor and the NetworkPolicy that lets Prometheus scrape it) as the
// overlays render the rest: the environment's name prefix and labels, in the
// target namespace (o.Namespace, else the environment's). Dir and the images
// are not used: the add-on is always the embedded one.
func Monitoring(o Options) ([]*unstructured.Unstructured, error) {
	mem := filesys.MakeFsInMemory()
	if err := copyEmbedded(mem, embedRoot); err != nil {
		return nil, err
	}
	ns := o.Namespace
	if ns == "" {
		ns = o.Env.Namespace
	}
	k := types.Kustomization{
		TypeMeta:   types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources:  []string{".." + path.Join(embedRoot, manifests.MonitoringDir)},
		Namespace:  ns,
		NamePrefix: o.Env.Prefix,
		Labels: []types.Label{{Pairs: map[string]string{app.PartOfLabel: app.PartOfValue, "environment": o.Env.Name},
			IncludeSelectors: false, IncludeTemplates: true}},
	}
	return run(mem, k, "")
}

// run renders the wrapping kustomization k over mem; dir names a user's
// --manifests directory in errors.
func run(mem filesys.FileSystem, k types.Kustomization, dir string) ([]*unstructured.Unstructured, error) {
	data, err := yaml.Marshal(k)
	if err != nil {
		return nil, err
	}
	if err := mem.MkdirAll(wrapRoot); err != nil {
		return nil, err
	}
	if err := mem.WriteFile(path.Join(wrapRoot, "kustomization.yaml"), data); err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone
	rm, err := krusty.MakeKustomizer(opts).Run(mem, wrapRoot)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), embedRoot+"/", "")
		msg = strings.ReplaceAll(msg, userRoot, dir)
		return nil, fmt.Errorf("kustomize: %s", msg)
	}
	var objs []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		// Through JSON, so that numbers are int64 as in every unstructured object.
		js, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, err
		}
		objs = append(objs, u)
	}
	SortForApply(objs)
	return objs, nil
}

// kindOrder is the apply order of kinds (others go last, by kind and name).
var kindOrder = map[string]int{
	"Namespace": 0, "CustomResourceDefinition": 1, "ServiceAccount": 2, "Role": 3, "ClusterRole": 3,
	"RoleBinding": 4, "ClusterRoleBinding": 4, "NetworkPolicy": 5, "ConfigMap": 6, "Secret": 6,
	"PersistentVolumeClaim": 7, "Service": 8, "Deployment": 9, "StatefulSet": 9, "CronJob": 10, "Job": 10,
	"PodDisruptionBudget": 11, "HorizontalPodAutoscaler": 12, "Ingress": 13,
}

// SortForApply orders objects so that what others need comes first.
func SortForApply(objs []*unstructured.Unstructured) {
	rank := func(u *unstructured.Unstructured) int {
		if r, ok := kindOrder[u.GetKind()]; ok {
			return r
		}
		return 100
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		if a.GetKind() != b.GetKind() {
			return a.GetKind() < b.GetKind()
		}
		return a.GetName() < b.GetName()
	})
}

func copyEmbedded(mem filesys.FileSystem, root string) error {
	return fs.WalkDir(manifests.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := path.Join(root, p)
		if d.IsDir() {
			return mem.MkdirAll(dst)
		}
		b, err := manifests.FS.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(dst, b)
	})
}

// maxUserTree bounds what is read from a --manifests directory.
const maxUserTree = 32 << 20

func copyDir(mem filesys.FileSystem, dir, root string) error {
	st, err := os.Stat(dir)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("--manifests %s: %v", dir, pe.Err)
		}
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("--manifests %s: not a directory", dir)
	}
	if !hasKustomization(dir) {
		return fmt.Errorf("--manifests %s: no kustomization.yaml in it", dir)
	}
	total := 0
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		dst := path.Join(root, filepath.ToSlash(rel))
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return mem.MkdirAll(dst)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		total += len(b)
		if total > maxUserTree {
			return fmt.Errorf("--manifests %s: more than 32 MiB of files", dir)
		}
		return mem.WriteFile(dst, b)
	})
}

func hasKustomization(dir string) bool {
	for _, n := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

// YAML returns the objects as one multi-document YAML stream.
func YAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var b strings.Builder
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		b.Write(y)
	}
	return []byte(b.String()), nil
}
