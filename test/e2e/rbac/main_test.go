// Package rbac_test runs every command of the suite as a ServiceAccount bound
// to exactly its Role (the output of `kubectl piyasa deploy render --rbac`,
// applied with kubectl), against the dev overlay deployed by that deployer,
// with a real PostgreSQL and real Alembic behind the pods (as test/e2e/migrate
// and test/e2e/backup do); then with one verb removed from the Role, and
// checks exit 3, the verb, resource and namespace named, and nothing changed.
package rbac_test

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m, harness.WithMigratePython()) }
