package harness

import "fmt"

// DatabaseAppYAML is the part of the dev app that the database commands
// (backup, restore) read, without its real images running: the Secret
// dev-piyasa-secrets holding DATABASE_PASSWORD=password, the dev-postgres
// Deployment (whose `kubectl exec` a test maps to a local PostgreSQL with
// Postgres.ClusterExec), the dev-api Deployment (1 replica) and, with worker,
// the dev-worker StatefulSet (2 replicas). Apply it with ApplyYAML into a
// namespace.
func DatabaseAppYAML(password string, worker bool) string {
	y := fmt.Sprintf(databaseAppYAML, password)
	if worker {
		y += databaseWorkerYAML
	}
	return y
}

const databaseAppYAML = `apiVersion: v1
kind: Secret
metadata:
  name: dev-piyasa-secrets
stringData:
  DATABASE_PASSWORD: %q
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dev-postgres
spec:
  replicas: 1
  selector: {matchLabels: {app: postgres}}
  template:
    metadata: {labels: {app: postgres}}
    spec:
      containers:
      - name: postgres
        image: postgres:16-alpine
        env:
        - name: POSTGRES_PASSWORD
          valueFrom: {secretKeyRef: {name: dev-piyasa-secrets, key: DATABASE_PASSWORD}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dev-api
spec:
  replicas: 1
  selector: {matchLabels: {app: piyasa-api, component: backend}}
  template:
    metadata: {labels: {app: piyasa-api, component: backend}}
    spec:
      containers:
      - name: api
        image: ghcr.io/uzaktantakip000-create/piyasa_chat_bot/api:1.4.2
`

const databaseWorkerYAML = `---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: dev-worker
spec:
  replicas: 2
  serviceName: dev-worker-service
  selector: {matchLabels: {app: piyasa-worker, component: worker}}
  template:
    metadata: {labels: {app: piyasa-worker, component: worker}}
    spec:
      containers:
      - name: worker
        image: ghcr.io/uzaktantakip000-create/piyasa_chat_bot/api:1.4.2
        command: [python, worker.py]
`
