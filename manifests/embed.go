// Package manifests holds the app's Kustomize base and the dev and prod
// overlays, embedded so that the binaries deploy without a checkout.
package manifests

import "embed"

// FS holds base/, overlays/{dev,prod}/ and the monitoring add-on monitoring/.
//
//go:embed base overlays monitoring
var FS embed.FS

// Overlay returns the path of an environment's overlay inside FS.
func Overlay(env string) string { return "overlays/" + env }

// RBAC holds rbac/: the Roles a team grants (piyasa-viewer, piyasa-operator,
// piyasa-deployer) and the ClusterRole piyasa-cluster-reader.
//
//go:embed rbac
var RBAC embed.FS

// RBACFile returns the path inside RBAC of a Role's file (viewer, operator,
// deployer, cluster-reader).
func RBACFile(name string) string { return "rbac/" + name + ".yaml" }

// MonitoringDir is the path of the monitoring add-on inside FS: the api's
// ServiceMonitor and the NetworkPolicy that lets Prometheus scrape it.
const MonitoringDir = "monitoring"
