// Package manifests holds the app's Kustomize base and the dev and prod
// overlays, embedded so that the binaries deploy without a checkout.
package manifests

import "embed"

// FS holds base/ and overlays/{dev,prod}/.
//
//go:embed base overlays
var FS embed.FS

// Overlay returns the path of an environment's overlay inside FS.
func Overlay(env string) string { return "overlays/" + env }
