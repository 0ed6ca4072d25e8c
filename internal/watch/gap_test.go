package watch

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestMinGap(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		cadence string
		want    time.Duration
	}{
		{"15m", 15 * time.Minute},
		{"7h", 7 * time.Hour},
		{"6h", 6 * time.Hour},
		{"default", 4 * time.Hour}, // 12:00 and 16:00 on due days
		{"* * 7 * * *", time.Second},
		{"0 0 7 * * *; 0 0 7 * * *", 0}, // the same second twice
		{"0 50 23 * * *; 0 0 0 * * *", 10 * time.Minute},
		{"0 55 23 1 * *; 0 5 0 * * 1", 10 * time.Minute},
		{"0 55 23 2 * 0; 0 5 0 * * 2", 10 * time.Minute},
		{"0 55 23 * * 0; 0 5 0 */1 * 2", day + 10*time.Minute},
		{"0 0 7 * * 1; 0 1 7 * * 2", day + time.Minute},
		{"0 0 7 * * 0", 7 * day}, // Sundays
		{"0 0 7 29 2 *", 1461 * day},
		{"0 0 7 31 2 *", never},
	} {
		t.Run(tc.cadence, func(t *testing.T) {
			s, err := ParseCadence(tc.cadence)
			if err != nil {
				t.Fatal(err)
			}
			if got := minGap(s, 0); got != tc.want {
				t.Errorf("minGap(%q) = %v, want %v", tc.cadence, got, tc.want)
			}
		})
	}
}

func TestTooManyCrons(t *testing.T) {
	var parts []string
	for i := range maxCrons + 1 {
		parts = append(parts, fmt.Sprintf("0 %d 7 * * *", i))
	}
	if _, err := ParseCadence(strings.Join(parts[:maxCrons], ";")); err != nil {
		t.Errorf("%d cron expressions: %v", maxCrons, err)
	}
	if _, err := ParseCadence(strings.Join(parts, ";")); err == nil {
		t.Errorf("%d cron expressions accepted", maxCrons+1)
	}
}

// BenchmarkMinGap checks the costliest cadence a client can send: as
// many cron expressions as allowed, on days that combine differently
// from day to day, that pass the minimum interval.
func BenchmarkMinGap(b *testing.B) {
	var parts []string
	for i := range maxCrons {
		parts = append(parts, fmt.Sprintf("0 0,30 %d %d,%d * %d", 6+i%12, 1+i, 15+i, i%7))
	}
	s, err := ParseCadence(strings.Join(parts, ";"))
	if err != nil {
		b.Fatal(err)
	}
	for _, floor := range []time.Duration{time.Minute, 15 * time.Minute} {
		b.Run(floor.String(), func(b *testing.B) {
			for b.Loop() {
				minGap(s, floor)
			}
		})
	}
}
