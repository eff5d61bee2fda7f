// Package manifests holds the app's Kustomize base and the dev and prod
// overlays, embedded so that the binaries deploy without a checkout.
package manifests

import "embed"

// FS holds base/, overlays/{dev,prod}/, the monitoring add-on monitoring/
// and the fleet regions' roles regions/{primary,standby}/.
//
//go:embed base overlays monitoring regions
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

// RegionDir is the path inside FS of a fleet region role's Component
// (primary or standby: the patches); its objects/ subdirectory holds the
// objects the role adds, rendered with the environment's name prefix.
func RegionDir(role string) string { return "regions/" + role }
