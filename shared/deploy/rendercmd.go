package deploy

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// RenderOptions of `deploy render`.
type RenderOptions struct {
	*cli.Global
	Manifests, Image, FrontendImage string

	objs []*unstructured.Unstructured
}

// NewRenderOptions returns the defaults.
func NewRenderOptions(g *cli.Global) *RenderOptions { return &RenderOptions{Global: g} }

// NewCmdRender prints the rendered manifests.
func NewCmdRender(g *cli.Global) *cobra.Command {
	o := NewRenderOptions(g)
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print the manifests deploy would apply (YAML), for --env and -n",
		Args:  cobra.NoArgs,
		RunE:  cli.RunE(o),
	}
	addManifestsFlag(cmd, &o.Manifests)
	cmd.Flags().StringVar(&o.Image, "image", "", "Image of api and worker: a TAG or a full IMAGE reference")
	cmd.Flags().StringVar(&o.FrontendImage, "frontend-image", "", "Image of the frontend: a TAG or a full IMAGE reference")
	return cmd
}

// Complete resolves the environment and namespace and renders.
func (o *RenderOptions) Complete(*cobra.Command, []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	o.objs, err = renderFor(o.Global, o.Manifests, o.Image, o.FrontendImage)
	return err
}

// Validate has nothing left to check: the render did.
func (o *RenderOptions) Validate() error { return nil }

// Run prints the YAML.
func (o *RenderOptions) Run(context.Context) error {
	y, err := render.YAML(o.objs)
	if err != nil {
		return err
	}
	_, err = o.Out.Write(y)
	return err
}
