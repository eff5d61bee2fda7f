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

// lastMeasured reads the last measured point-in-time restore of the
// namespace from the postgres Deployment (nil when none, or unreadable).
func (o *RestoreOptions) lastMeasured(ctx context.Context) *app.MeasuredRestore {
	cs, err := o.Clientset()
	if err != nil {
		return nil
	}
	d, err := cs.AppsV1().Deployments(o.Namespace).Get(ctx, o.Env.ObjectName(app.Postgres), metav1.GetOptions{})
	if err != nil {
		return nil
	}
	m, err := app.ParseMeasuredRestore(d.Annotations[app.LastRestoreAnnotation])
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
	m := p.measured
	if m == nil {
		return "unknown (no point-in-time restore measured in this namespace yet)"
	}
	return fmt.Sprintf("about %s with the app stopped (the last restore here, of a %s base backup and %d WAL segments, took %s on %s)",
		expectedDuration(*m, p.base.RawBytes, segmentCount(p.walFrom, p.walTo)), HumanBytes(m.RawBytes), m.WALSegments,
		time.Duration(m.Seconds*float64(time.Second)).Round(time.Second), m.At.UTC().Format(time.RFC3339))
}

// recordMeasure keeps how long this restore had the app stopped (whole
// seconds, at least one) on the postgres Deployment, for the next plan, and
// returns it; a failure to keep it is a warning.
func (st *pitrState) recordMeasure(ctx context.Context) time.Duration {
	o, p := st.o, st.plan
	end := o.Now()
	took := max(end.Sub(st.began).Round(time.Second), time.Second)
	m := app.MeasuredRestore{At: end.UTC(), Seconds: took.Seconds(), RawBytes: p.base.RawBytes, WALSegments: segmentCount(p.walFrom, p.walTo)}
	v := m.Marshal()
	if err := o.patchAnnotations(ctx, o.workload(app.Postgres), map[string]*string{app.LastRestoreAnnotation: &v}); err != nil {
		o.Infof("warning: the restore's duration was not recorded on the postgres Deployment: %v\n", err)
	}
	return took
}
