package backup

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// redisScript takes a BGSAVE in the redis container, waits until it finished
// (rdb_saves counts up, rdb_bgsave_in_progress is 0) and reports its status,
// then sends dump.rdb through tee to sha256sum and wc -c with the same status
// line as a PostgreSQL dump (rc is the copy's status; a failed save is rc 90).
var redisScript = `rc() { redis-cli -h "${REDIS_HOST:-127.0.0.1}" -p "${REDIS_PORT:-6379}" "$@"; }
info() { rc INFO persistence | tr -d '\r' | sed -n "s/^$1://p"; }
before=$(info rdb_saves)
[ -n "$before" ] || { echo "redis-cli could not read INFO persistence" >&2; exit 91; }
out=$(rc BGSAVE 2>&1) || { echo "BGSAVE failed: $out" >&2; exit 90; }
i=0
while [ "$(info rdb_saves)" = "$before" ] || [ "$(info rdb_bgsave_in_progress)" != 0 ]; do
  i=$((i+1)); [ $i -gt 3000 ] && { echo "BGSAVE did not finish in 10 minutes" >&2; exit 90; }
  sleep 0.2
done
[ "$(info rdb_last_bgsave_status)" = ok ] || { echo "BGSAVE failed: rdb_last_bgsave_status=$(info rdb_last_bgsave_status)" >&2; exit 90; }
f="$(rc CONFIG GET dir | tr -d '\r' | sed -n 2p)/$(rc CONFIG GET dbfilename | tr -d '\r' | sed -n 2p)"
` + streamScript(`cat "$f"`)

// RedisPod finds the running redis pod of the namespace and its container.
func RedisPod(ctx context.Context, cs kubernetes.Interface, ns string) (*corev1.Pod, string, error) {
	c, _ := app.LookupComponent(app.Redis)
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: c.Selector()})
	if err != nil {
		return nil, "", err
	}
	for i, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			container := p.Spec.Containers[0].Name
			for _, ct := range p.Spec.Containers {
				if ct.Name == app.Redis {
					container = ct.Name
				}
			}
			return &pods.Items[i], container, nil
		}
	}
	return nil, "", fmt.Errorf("no running redis pod (%s) in namespace %s", c.Selector(), ns)
}

// dumpRedis copies a fresh dump.rdb out of the redis pod with the integrity
// rules of a PostgreSQL dump: the copy's status, the pod's byte count and
// sha256, and the RDB signature; nothing is left under the final name otherwise.
func (b *base) dumpRedis(ctx context.Context, target Target, name string, comp Compression, kind string, enc *Recipients) (*BackupInfo, error) {
	cs, err := b.Clientset()
	if err != nil {
		return nil, err
	}
	pod, container, err := RedisPod(ctx, cs, b.Namespace)
	if err != nil {
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			return nil, err
		}
		return nil, cli.Failedf("%v", err)
	}
	ex, err := b.executor()
	if err != nil {
		return nil, err
	}
	req := dumpRequest{Target: target, Name: name, Compression: comp, Database: app.Redis, Kind: kind}
	created, err := target.Create(ctx, name)
	if err != nil {
		return nil, cli.Failedf("cannot write %s: %v", target.Location(name), err)
	}
	sink := &watchedSink{Sink: created}
	committed := false
	defer func() {
		if !committed {
			sink.Abort()
		}
	}()
	stored := NewCounter()
	out, err := enc.Wrap(CountingSink(sink, stored))
	if err != nil {
		return nil, cli.Failedf("cannot encrypt: %v", err)
	}
	cw, err := comp.NewCompressor(out)
	if err != nil {
		return nil, err
	}
	raw := NewCounter()
	scan := rdbScan{NewDumpScanner()}
	stderr := &StderrCollector{}
	start := b.Now()
	execErr := ex.Exec(ctx, pod, container, []string{"sh", "-c", redisScript}, nil, io.MultiWriter(raw, scan, cw), stderr)
	if err := b.checkStreamed(ctx, req, streamRedis, sink, execErr, stderr, raw, scan); err != nil {
		return nil, err
	}
	if err := cw.Close(); err != nil {
		if err := b.streamErr(ctx, streamRedis.What, sink, target.Location(name), nil); err != nil {
			return nil, err
		}
		return nil, err
	}
	if err := (&podStream{sink: sink}).commit(ctx, out, req); err != nil {
		return nil, err
	}
	committed = true
	images, _ := b.images(ctx)
	info := &BackupInfo{
		Name: name, Location: target.Location(name), Namespace: b.Namespace, Environment: b.Env.Name,
		Format: FormatRedisRDB, Database: app.Redis, Images: images,
		StartTime: start.UTC().Truncate(time.Second), EndTime: b.Now().UTC().Truncate(time.Second),
		Compression: string(comp), RawBytes: raw.N, RawSHA256: raw.Sum(), StoredBytes: stored.N, StoredSHA256: stored.Sum(),
		Tables: []TableRows{}, BackupKind: kind, Encryption: enc.Encryption(),
	}
	if err := writeMeta(ctx, req, info); err != nil {
		return nil, err
	}
	return info, nil
}

// streamRedis names the copy of dump.rdb in messages.
var streamRedis = streamKind{What: "redis backup", Tool: "the copy of dump.rdb"}

// rdbScan judges a Redis copy by its RDB signature.
type rdbScan struct{ *DumpScanner }

// Problem names a copy that is not an RDB file.
func (s rdbScan) Problem() string {
	if !s.RDBMagic() {
		return "dump.rdb does not start with the RDB signature"
	}
	return ""
}
