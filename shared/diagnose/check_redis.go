package diagnose

import (
	"context"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func (r *runner) checkRedis(context.Context) {
	r.checkService(app.Redis, "PIY351", "PIY352")
	r.checkURLHost("PIY353", "PIY351", app.KeyRedisURL, app.Redis, "REDIS_HOST")
}
