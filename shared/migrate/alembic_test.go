package migrate

import (
	"strings"
	"testing"
)

// Output of alembic 1.8 for the test fixtures.
const linearHistory = `0002 -> 0003 (head), create messages (fails on demand)
0001 -> 0002, create bots
<base> -> 0001, create users
`

const branchedHistory = `0001 -> 0002a (head), branch a
0001 -> 0002b (head), branch b
<base> -> 0001 (branchpoint), create users
`

const mergedHistory = `(0002a, 0002b) -> 0003 (head) (mergepoint), merge
0001 -> 0002a, branch a
0001 -> 0002b, branch b
<base> -> 0001 (branchpoint), create users
`

func TestParseHistoryAndPending(t *testing.T) {
	h, err := ParseHistory(linearHistory)
	if err != nil || len(h) != 3 || h[0].ID != "0003" || !h[0].Head || h[0].Message != "create messages (fails on demand)" ||
		len(h[2].Down) != 0 || h[1].Down[0] != "0001" {
		t.Fatalf("linear: %+v %v", h, err)
	}
	for _, tc := range []struct {
		hist, current, heads, want string
	}{
		{linearHistory, "", "0003", "0001,0002,0003"},
		{linearHistory, "0001", "0003", "0002,0003"},
		{linearHistory, "0003", "0003", ""},
		{branchedHistory, "0001", "0002a,0002b", "0002b,0002a"},
		{mergedHistory, "0002a", "0003", "0002b,0003"},
	} {
		h, err := ParseHistory(tc.hist)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Pending(h, split(tc.current), split(tc.heads))
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("pending(%s -> %s) = %v %v, want %s", tc.current, tc.heads, got, err, tc.want)
		}
	}
	m, _ := ParseHistory(mergedHistory)
	if strings.Join(m[0].Down, ",") != "0002a,0002b" || strings.Join(m[0].Tags, ",") != "head,mergepoint" {
		t.Errorf("mergepoint: %+v", m[0])
	}
	if _, err := Pending(h, []string{"0009"}, []string{"0003"}); err == nil || !strings.Contains(err.Error(), "ahead of the image") {
		t.Errorf("unknown current: %v", err)
	}
	if _, err := ParseHistory("garbage line\n"); err == nil {
		t.Error("garbage accepted")
	}
}

func TestParseRevisions(t *testing.T) {
	if got := ParseRevisions("0003 (head)\n"); strings.Join(got, ",") != "0003" {
		t.Errorf("current: %v", got)
	}
	if got := ParseRevisions("0002a (head)\n0002b (head)\n"); len(got) != 2 {
		t.Errorf("heads: %v", got)
	}
	if got := ParseRevisions(""); len(got) != 0 {
		t.Errorf("empty: %v", got)
	}
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
