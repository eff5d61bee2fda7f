package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A Writer on one server inserts a row at its pace for a second; every id
// it saw committed is in the table, in order, and nothing failed.
func TestWriter(t *testing.T) {
	if PostgresBinDir() == "" {
		t.Skip(errNoPostgres)
	}
	p := StartPostgres(t, "piyasa_user", "pw-writer", "piyasa_db")
	w := p.StartWriter(t, "writes", 50*time.Millisecond)
	time.Sleep(time.Second)
	ids := w.Stop()
	if len(ids) < 5 || w.Failures() != 0 {
		t.Fatalf("%d rows committed in a second, %d failed", len(ids), w.Failures())
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids out of order: %v", ids)
		}
	}
	if got, want := p.MustPsql(t, "piyasa_db", "SELECT string_agg(id::text, ',' ORDER BY id) FROM writes"), joinIDs(ids); got != want {
		t.Fatalf("rows in the table %s, committed %s", got, want)
	}
	if again := w.Stop(); len(again) != len(ids) {
		t.Fatalf("a second Stop: %d ids, then %d", len(ids), len(again))
	}
}

// Across a switchover the writer counts the inserts that fail while no
// primary runs, and every id it saw committed, on either, is on the new primary.
func TestWriterSwitchover(t *testing.T) {
	if PostgresBinDir() == "" {
		t.Skip(errNoPostgres)
	}
	p := StartPostgres(t, "piyasa_user", "pw-writer", "piyasa_db", WithReplication())
	s := p.StartStandby(t, "standby-w")
	w := p.StartWriter(t, "writes", 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := s.Promote(); err != nil {
		t.Fatal(err)
	}
	w.Retarget(s)
	time.Sleep(300 * time.Millisecond)
	ids := w.Stop()
	if w.Failures() == 0 {
		t.Fatal("no insert failed while no primary ran")
	}
	if got, want := s.MustPsql(t, "piyasa_db", "SELECT string_agg(id::text, ',' ORDER BY id) FROM writes"), joinIDs(ids); !containsAll(got, ids) {
		t.Fatalf("committed ids missing on the new primary: it has %s, committed %s", got, want)
	}
	t.Logf("%d committed, %d failed", len(ids), w.Failures())
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

func containsAll(list string, ids []int64) bool {
	have := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		have[s] = true
	}
	for _, id := range ids {
		if !have[fmt.Sprint(id)] {
			return false
		}
	}
	return true
}
