package deploy

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// RenderOptions of `deploy render`.
type RenderOptions struct {
	*cli.Global
	Manifests, Image, FrontendImage string
}

// NewCmdRender prints the rendered manifests.
func NewCmdRender(g *cli.Global, _ genericiooptions.IOStreams) *cobra.Command {
	o := &RenderOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print the manifests deploy would apply (YAML), for --env and -n",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			objs, err := renderFor(o.Global, o.Manifests, o.Image, o.FrontendImage)
			if err != nil {
				return err
			}
			y, err := render.YAML(objs)
			if err != nil {
				return err
			}
			_, err = o.Out.Write(y)
			return err
		},
	}
	addManifestsFlag(cmd, &o.Manifests)
	cmd.Flags().StringVar(&o.Image, "image", "", "Image of api and worker: a TAG or a full IMAGE reference")
	cmd.Flags().StringVar(&o.FrontendImage, "frontend-image", "", "Image of the frontend: a TAG or a full IMAGE reference")
	return cmd
}
