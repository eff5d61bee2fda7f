package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseAge parses an age flag (--older-than): a Go duration, or days with a
// d suffix: 7d, 36h, 90m. Negative ages are refused.
func ParseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.ParseFloat(n, 64)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("invalid age %q (use e.g. 7d, 12h, 30m)", s)
		}
		return time.Duration(d * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid age %q (use e.g. 7d, 12h, 30m)", s)
	}
	return d, nil
}
