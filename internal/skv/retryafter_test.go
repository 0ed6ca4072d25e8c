package skv

import (
	"testing"
	"time"
)

// A Retry-After is capped at maxRetryAfter (a day) in both its forms, so that a
// server (or whatever answers in its name) cannot ask for a pause of
// years.
func TestRetryAfterCapped(t *testing.T) {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, in string
		want     time.Duration
	}{
		{"seconds at the cap", "86400", maxRetryAfter},
		{"seconds beyond the cap", "86401", maxRetryAfter},
		{"seconds beyond int64", "99999999999999999999999", maxRetryAfter},
		{"date a day and a second away", "Thu, 26 Nov 2026 08:00:01 GMT", maxRetryAfter},
		{"date in year 9999", "Fri, 31 Dec 9999 23:59:59 GMT", maxRetryAfter},
		{"date under the cap", "Wed, 25 Nov 2026 09:00:00 GMT", time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRetryAfter(tt.in, now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "5", " 120 ", "-3", "86401", "Wed, 25 Nov 2026 08:00:30 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Monday, 02-Jan-06 15:04:05 MST"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if got := parseRetryAfter(s, now); got < 0 || got > maxRetryAfter {
			t.Errorf("parseRetryAfter(%q) = %v, want within [0, %v]", s, got, maxRetryAfter)
		}
	})
}
