package webhooks

import (
	"errors"
	"time"
)

// Retry schedule: the delay after the first failed attempt, and the
// default cap of the delay (WEBHOOKS_RETRY_MAX).
const (
	RetryBase       = time.Second
	DefaultRetryMax = time.Hour
)

// errUndeliverable marks an event that no attempt can deliver (it has no
// id to sign): it goes to the dead letters at once.
var errUndeliverable = errors.New("undeliverable")

// Backoff is the delay before the next attempt after attempt number
// attempt (from 1) failed: RetryBase·2^(attempt−1), at most ceiling, times a
// jitter factor from 0.75 to 1.25 (jitter in [0, 1)), so that endpoints
// that failed together are not retried in step. The nominal delays are
// 1s, 2s, 4s, … 34m8s, then ceiling.
func Backoff(attempt int, ceiling time.Duration, jitter float64) time.Duration {
	d := ceiling
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 32 {
		if n := RetryBase << (attempt - 1); n < ceiling {
			d = n
		}
	}
	return time.Duration(float64(d) * (0.75 + 0.5*jitter))
}

// action is what follows an attempt.
type action int

const (
	ack   action = iota // delivered: acknowledge
	retry               // deliver again after delay
	dead                // give up: to the dead letters
)

func (a action) String() string { return [...]string{"ack", "retry", "dead"}[a] }

// verdict is what follows an attempt, and after how long for retry.
type verdict struct {
	act   action
	delay time.Duration
}

// decide is the one place that says what follows an attempt: err is the
// attempt's error (nil: delivered), attempt its number from 1, age the
// time since the event was stored. A failed event is retried after
// Backoff while it is younger than maxAge, the last retry falling at
// maxAge; then it is dead.
func decide(err error, attempt int, age, maxAge, ceiling time.Duration, jitter float64) verdict {
	switch {
	case err == nil:
		return verdict{act: ack}
	case errors.Is(err, errUndeliverable), age >= maxAge:
		return verdict{act: dead}
	}
	d := Backoff(attempt, ceiling, jitter)
	if rest := maxAge - age; d > rest {
		d = rest
	}
	return verdict{act: retry, delay: d}
}
