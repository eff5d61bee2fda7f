package diagnose

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func TestCheckDatabase(t *testing.T) {
	cm := func(s *Snapshot) map[string]string { return s.ConfigMaps["dev-piyasa-config"] }
	runAreaCases(t, AreaDatabase, []areaCase{
		{name: "Service missing", code: "PIY301", msg: "Service dev-db-service not found", break_: func(s *Snapshot) { delete(s.Services, "dev-db-service") }},
		// issue 16 #7: the host already is the expected name: PIY301 is the cause, PIY303 stays quiet
		{name: "Service missing, host right", code: "PIY301", not: []string{"PIY303"}, break_: func(s *Snapshot) { delete(s.Services, "dev-db-service") }},
		{name: "Service missing, host right, PIY301 not run", code: "PIY303", msg: "is the right Service name, but Service dev-db-service is missing",
			cfg: Config{Skip: CodeSet{"PIY301": true}}, break_: func(s *Snapshot) { delete(s.Services, "dev-db-service") }},
		{name: "no ready endpoints", code: "PIY302", msg: "has no ready endpoints", fix: "kubectl rollout restart deployment/dev-postgres",
			break_: func(s *Snapshot) { s.ReadyEndpoints["dev-db-service"] = 0 }},
		// issue 16 #6: at 0 replicas the cause is named and rollout restart (which does nothing at 0) is not the fix
		{name: "no endpoints at 0 replicas", code: "PIY302", msg: "deployment/dev-postgres has 0 replicas",
			fix: "kubectl scale deployment/dev-postgres --replicas=1 -n piyasa-chatbot-dev", break_: zeroPostgres},
		// issue 16 #9: with a quota blocking the pods, the quota is named and fixed, not rollout restart
		{name: "no endpoints under a quota", code: "PIY302", msg: "exceeded quota: q", fix: "kubectl describe resourcequota q", break_: quotaBlocksPostgres},
		{name: "unprefixed host", code: "PIY303", msg: `host "db-service"`, fix: "DATABASE_URL=postgresql://piyasa_user@dev-db-service:5432/piyasa_db",
			break_: func(s *Snapshot) { cm(s)[app.KeyDatabaseURL] = "postgresql://piyasa_user@db-service:5432/piyasa_db" }},
		{name: "password in the ConfigMap", code: "PIY304", break_: func(s *Snapshot) {
			cm(s)[app.KeyDatabaseURL] = "postgresql://piyasa_user:pw@dev-db-service:5432/piyasa_db"
		}},
		{name: "RollingUpdate with RWO", code: "PIY305", break_: func(s *Snapshot) { s.Deployments[2].Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType }},
	})
}

func TestCheckRedis(t *testing.T) {
	runAreaCases(t, AreaRedis, []areaCase{
		{name: "Service missing", code: "PIY351", break_: func(s *Snapshot) { delete(s.Services, "dev-redis-service") }},
		// issue 16 #7 and issue 13 #4: no self-contradicting PIY353 when the host is right
		{name: "Service missing, host right", code: "PIY351", not: []string{"PIY353"}, break_: func(s *Snapshot) { delete(s.Services, "dev-redis-service") }},
		{name: "Service missing, host right, PIY351 not run", code: "PIY353", msg: "Service dev-redis-service is missing",
			cfg: Config{Only: CodeSet{"PIY353": true}}, break_: func(s *Snapshot) { delete(s.Services, "dev-redis-service") }},
		{name: "no ready endpoints", code: "PIY352", break_: func(s *Snapshot) { s.ReadyEndpoints["dev-redis-service"] = 0 }},
		{name: "unprefixed host", code: "PIY353", fix: "REDIS_URL=redis://dev-redis-service:6379/0",
			break_: func(s *Snapshot) { s.ConfigMaps["dev-piyasa-config"][app.KeyRedisURL] = "redis://redis-service:6379/0" }},
	})
}
