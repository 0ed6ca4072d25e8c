package watch

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of the limits on requests over NATS (see Serve).
const (
	DefaultMinInterval = 15 * time.Minute
	DefaultMaxAccounts = 10000
)

// Errors of a registration refused by a limit, for errors.Is.
var (
	// ErrTooFrequent means a cadence fires more often than the minimum
	// interval.
	ErrTooFrequent = errors.New("cadence fires more often than the minimum interval")
	// ErrTooManyAccounts means the watch list holds the most accounts
	// allowed.
	ErrTooManyAccounts = errors.New("too many accounts watched")
)

// limits bound what a registration may ask for; zero means no limit.
type limits struct {
	minInterval time.Duration
	maxAccounts int
}

// served fills in the defaults: requests over NATS are always bounded.
func (l limits) served() limits {
	if l.minInterval == 0 {
		l.minInterval = DefaultMinInterval
	}
	if l.maxAccounts == 0 {
		l.maxAccounts = DefaultMaxAccounts
	}
	return l
}

// Option sets a limit of a Manager.
type Option func(*limits) error

// WithMinInterval refuses cadences that fire more often than d, as an
// interval or at the two closest times of their cron expressions
// together (ErrTooFrequent).
func WithMinInterval(d time.Duration) Option {
	return func(l *limits) error {
		if d <= 0 {
			return fmt.Errorf("watch: minimum interval must be positive, got %v", d)
		}
		l.minInterval = d
		return nil
	}
}

// WithMaxAccounts refuses to watch more than n accounts
// (ErrTooManyAccounts). Changing the cadence of a watched account is
// always allowed.
func WithMaxAccounts(n int) Option {
	return func(l *limits) error {
		if n <= 0 {
			return fmt.Errorf("watch: maximum of accounts must be positive, got %d", n)
		}
		l.maxAccounts = n
		return nil
	}
}
