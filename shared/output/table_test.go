package output

import (
	"bytes"
	"strings"
	"testing"
)

func TestTableKubectlStyle(t *testing.T) {
	var b bytes.Buffer
	tp := NewTable(&b, "NAME", "READY", "STATUS")
	tp.Append("dev-api-7b8f9d5c6d-abcde", "1/1", "Running")
	tp.Append("dev-redis-0", "1/1", "Running")
	if err := tp.Render(); err != nil {
		t.Fatal(err)
	}
	want := "NAME                       READY   STATUS\n" +
		"dev-api-7b8f9d5c6d-abcde   1/1     Running\n" +
		"dev-redis-0                1/1     Running\n"
	got := b.String()
	if got != want {
		t.Fatalf("table:\n%q\nwant:\n%q", got, want)
	}
}

func TestPrintDocumentAddsTypeMeta(t *testing.T) {
	var b bytes.Buffer
	if err := PrintDocument(&b, JSON, "Status", map[string]any{"namespace": "x"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"apiVersion": "piyasa.io/v1alpha1"`, `"kind": "Status"`, `"namespace": "x"`} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("missing %s in %s", s, b.String())
		}
	}
	b.Reset()
	if err := PrintDocument(&b, YAML, "Status", struct {
		A int `json:"a"`
	}{1}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "apiVersion: piyasa.io/v1alpha1\n") || !strings.Contains(b.String(), "a: 1\n") {
		t.Errorf("yaml: %s", b.String())
	}
	if err := (&Flags{Output: "xml", allowed: []string{Table}}).Validate(); err == nil {
		t.Error("xml accepted")
	}
}
