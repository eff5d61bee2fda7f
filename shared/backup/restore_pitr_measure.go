package backup

import (
	"context"
	"fmt"
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// lastMeasured reads the last measured restore of the namespace kept in the
// annotation key of the postgres Deployment (nil when none, or unreadable).
func (o *RestoreOptions) lastMeasured(ctx context.Context, key string) *app.MeasuredRestore {
	cs, err := o.Clientset()
	if err != nil {
		return nil
	}
	d, err := cs.AppsV1().Deployments(o.Namespace).Get(ctx, o.Env.ObjectName(app.Postgres), metav1.GetOptions{})
	if err != nil {
		return nil
	}
	m, err := app.ParseMeasuredRestore(d.Annotations[key])
	if err != nil {
		return nil
	}
	return &m
}

// expectedDuration scales the last measured restore by the larger of the
// base backup's and the WAL's growth against it (never below it: the fixed
// steps, stopping and starting, do not shrink).
func expectedDuration(m app.MeasuredRestore, rawBytes, segments int64) time.Duration {
	f := float64(rawBytes) / float64(m.RawBytes)
	if m.WALSegments > 0 && segments > 0 {
		f = math.Max(f, float64(segments)/float64(m.WALSegments))
	}
	f = math.Max(f, 1)
	return time.Duration(m.Seconds * f * float64(time.Second)).Round(time.Second)
}

// segmentCount is how many segments from..to spans (0 when unreadable).
func segmentCount(from, to string) int64 {
	a, err1 := walarchive.ParseSegment(from)
	b, err2 := walarchive.ParseSegment(to)
	if err1 != nil || err2 != nil || b.No() < a.No() {
		return 0
	}
	return int64(b.No()-a.No()) + 1
}

// durationText is the plan's expected duration line.
func (p *pitrPlan) durationText() string {
	return measuredText(p.measured, "point-in-time restore", "base backup", p.base.RawBytes, segmentCount(p.walFrom, p.walTo))
}

// recordMeasure keeps how long this restore had the app stopped (whole
// seconds, at least one) on the postgres Deployment, for the next plan, and
// returns it; a failure to keep it is a warning.
func (st *pitrState) recordMeasure(ctx context.Context) time.Duration {
	p := st.plan
	return st.o.recordMeasure(ctx, app.LastRestoreAnnotation, st.began, p.base.RawBytes, segmentCount(p.walFrom, p.walTo))
}

// recordMeasure keeps, in the annotation key of the postgres Deployment, how
// long a restore that began at began had the app stopped (whole seconds, at
// least one) and its size, for the next plan; it returns that time. A failure
// to keep it is a warning.
func (o *RestoreOptions) recordMeasure(ctx context.Context, key string, began time.Time, rawBytes, segments int64) time.Duration {
	end := o.Now()
	took := max(end.Sub(began).Round(time.Second), time.Second)
	m := app.MeasuredRestore{At: end.UTC(), Seconds: took.Seconds(), RawBytes: rawBytes, WALSegments: segments}
	v := m.Marshal()
	if err := o.patchAnnotations(ctx, o.workload(app.Postgres), map[string]*string{key: &v}); err != nil {
		o.Infof("warning: the restore's duration was not recorded on the postgres Deployment: %v\n", err)
	}
	return took
}

// measuredText is a plan's expected duration line: the last measured restore
// of that kind (nil: none yet, said as "no <kind> measured") scaled to
// rawBytes and segments; unit names what rawBytes measures.
func measuredText(m *app.MeasuredRestore, kind, unit string, rawBytes, segments int64) string {
	if m == nil {
		return "unknown (no " + kind + " measured in this namespace yet)"
	}
	wal := ""
	if m.WALSegments > 0 {
		wal = fmt.Sprintf(" and %d WAL segments", m.WALSegments)
	}
	return fmt.Sprintf("about %s with the app stopped (the last restore here, of a %s %s%s, took %s on %s)",
		expectedDuration(*m, rawBytes, segments), HumanBytes(m.RawBytes), unit, wal,
		time.Duration(m.Seconds*float64(time.Second)).Round(time.Second), m.At.UTC().Format(time.RFC3339))
}
