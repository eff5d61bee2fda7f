package diagnose

import (
	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func (r *runner) checkRedis() {
	r.checkService(app.Redis, "PIY351", "PIY352")
	r.checkURLHost("PIY353", app.KeyRedisURL, app.Redis, "REDIS_HOST")
}
