package main

import (
	"testing"
	"time"
)

// TestUnavailableRetry: SKV_UNAVAILABLE_RETRY=0 means "call on every
// fetch", which jobs.Config spells as a negative duration.
func TestUnavailableRetry(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, -1},
		{time.Hour, time.Hour},
		{10 * time.Minute, 10 * time.Minute},
	} {
		if got := unavailableRetry(tc.in); got != tc.want {
			t.Errorf("unavailableRetry(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
