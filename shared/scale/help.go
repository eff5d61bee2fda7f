package scale

const rootLong = `Scale the app's components without breaking the workers' sharding.

  scale api|frontend N   set the Deployment's replicas and wait until they are ready
  scale worker N         set TOTAL_WORKERS in the ConfigMap and the StatefulSet's replicas
                         together, restart every worker so that each sees the new total,
                         and wait; if a step fails, both are put back
  scale hpa COMPONENT    change an HPA's range and utilization targets (api, frontend)
  scale status [-w]      replicas, HPA ranges, CPU/memory against targets, last scale event

Each worker owns shard WORKER_ID (from its pod name) of TOTAL_WORKERS, so the workers are
never autoscaled: an HPA would change the replicas without changing TOTAL_WORKERS.
When an HPA targets api or frontend, a manual scale is refused (the HPA would undo it)
unless --force; a count outside the HPA's range is always refused.
One scale worker runs at a time: it holds a lock on the ConfigMap (annotation
piyasa.io/scale-worker-lock) while it works, and a second one fails with nothing changed.

Exit codes: 0 done; 1 failed (rollout failed or timed out, rolled back; another scale
worker was running, or changed the count meanwhile); 2 bad input, nothing changed;
3 cluster unreachable or forbidden.`

const rootExample = `  kubectl piyasa scale api 3 --env prod
  kubectl piyasa scale worker 4 -n piyasa-chatbot-dev --timeout 10m
  kubectl piyasa scale frontend 2 --force --dry-run=server
  kubectl piyasa scale hpa api --min 3 --max 20 --cpu 70
  kubectl piyasa scale status -w`
