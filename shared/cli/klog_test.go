package cli

import (
	"io"
	"os"
	"testing"

	"k8s.io/klog/v2"
)

// TestQuietKlogHidesErrorLines: without -v, client-go's error lines (a
// reflector's "Failed to watch" during an outage) do not reach stderr.
func TestQuietKlogHidesErrorLines(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	QuietKlog()
	klog.Error("Failed to watch: connection refused")
	klog.Flush()
	os.Stderr = saved
	w.Close()
	out, _ := io.ReadAll(r)
	if len(out) != 0 {
		t.Errorf("klog wrote to stderr: %q", out)
	}
}
