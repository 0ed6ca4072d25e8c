package webhooks

import (
	"errors"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		ceiling time.Duration
		jitter  float64
		want    time.Duration
	}{
		{1, time.Hour, 0.5, time.Second},
		{2, time.Hour, 0.5, 2 * time.Second},
		{3, time.Hour, 0.5, 4 * time.Second},
		{12, time.Hour, 0.5, 2048 * time.Second},
		{13, time.Hour, 0.5, time.Hour},
		{100, time.Hour, 0.5, time.Hour},
		{1, time.Hour, 0, 750 * time.Millisecond},
		{1, time.Hour, 0.999999, 1250*time.Millisecond - time.Microsecond},
		{5, 10 * time.Second, 0.5, 10 * time.Second},
		{0, time.Hour, 0.5, time.Second},
	} {
		got := Backoff(tc.attempt, tc.ceiling, tc.jitter)
		if d := got - tc.want; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("Backoff(%d, %s, %v): got %s, want %s", tc.attempt, tc.ceiling, tc.jitter, got, tc.want)
		}
	}
}

// TestScheduleReachesMaxAge sums the nominal schedule: with the defaults
// an event is tried about 84 times over its three days.
func TestScheduleReachesMaxAge(t *testing.T) {
	var age time.Duration
	attempt := 1
	for ; ; attempt++ {
		v := decide(errors.New("500"), attempt, age, DefaultMaxAge, DefaultRetryMax, 0.5)
		if v.act == dead {
			break
		}
		if v.act != retry || v.delay <= 0 {
			t.Fatalf("attempt %d: got %v", attempt, v)
		}
		age += v.delay
	}
	if age != DefaultMaxAge || attempt < 80 || attempt > 90 {
		t.Errorf("gave up at attempt %d after %s, want about 84 after %s", attempt, age, DefaultMaxAge)
	}
}

func TestDecide(t *testing.T) {
	fail := &DeliveryError{Result: ResultServerError, Status: 500}
	tests := []struct {
		name    string
		err     error
		attempt int
		age     time.Duration
		maxAge  time.Duration
		want    verdict
	}{
		{"delivered", nil, 1, 0, time.Hour, verdict{act: ack}},
		{"delivered late", nil, 90, 100 * time.Hour, time.Hour, verdict{act: ack}},
		{"first failure", fail, 1, 0, time.Hour, verdict{act: retry, delay: time.Second}},
		{"third failure", fail, 3, 10 * time.Second, time.Hour, verdict{act: retry, delay: 4 * time.Second}},
		{"last retry falls at max age", fail, 12, 59 * time.Minute, time.Hour, verdict{act: retry, delay: time.Minute}},
		{"at max age", fail, 13, time.Hour, time.Hour, verdict{act: dead}},
		{"old event fails once", fail, 1, 5 * time.Hour, time.Hour, verdict{act: dead}},
		{"no id", errUndeliverable, 1, 0, time.Hour, verdict{act: dead}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := decide(tc.err, tc.attempt, tc.age, tc.maxAge, DefaultRetryMax, 0.5); got != tc.want {
				t.Errorf("got %v %s, want %v %s", got.act, got.delay, tc.want.act, tc.want.delay)
			}
		})
	}
}
