package skv

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// retry runs attempt until it succeeds, fails permanently, or the attempt
// and time budgets are spent; then it returns the last error. A Retry-After
// longer than the next backoff interval is honoured while it fits in the
// time budget. A cancelled ctx ends it at once with ctx's error.
func (c *Client) retry(ctx context.Context, op Operation, attempt func() error) error {
	ra := &retryAfterBackOff{exp: newExpBackOff(c.cfg)}
	b := backoff.WithContext(backoff.WithMaxRetries(ra, uint64(c.cfg.MaxAttempts-1)), ctx)

	var last error
	err := backoff.Retry(func() error {
		err := attempt()
		if err == nil {
			return nil
		}
		last = err
		var e *Error
		if !errors.As(err, &e) || !e.Retryable() || ctx.Err() != nil {
			return backoff.Permanent(err)
		}
		ra.retryAfter = e.RetryAfter
		return err
	}, b)
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		if err != cerr && errors.Is(err, cerr) {
			return err // already wrapped by the attempt
		}
		if last != nil {
			return wrapf(op, "%w (last error: %v)", cerr, last)
		}
		return wrapf(op, "%w", cerr)
	}
	return err
}

// retryAfterBackOff is an exponential backoff that waits at least the
// server's Retry-After, but gives up instead of waiting past MaxElapsedTime.
type retryAfterBackOff struct {
	exp        *backoff.ExponentialBackOff
	retryAfter time.Duration // from the last answer
}

func (b *retryAfterBackOff) NextBackOff() time.Duration {
	next := b.exp.NextBackOff()
	ra := b.retryAfter
	b.retryAfter = 0
	if next == backoff.Stop || ra <= next {
		return next
	}
	if b.exp.MaxElapsedTime > 0 && b.exp.GetElapsedTime()+ra > b.exp.MaxElapsedTime {
		return backoff.Stop
	}
	return ra
}

func (b *retryAfterBackOff) Reset() {
	b.exp.Reset()
	b.retryAfter = 0
}

// newExpBackOff is the exponential backoff configured by cfg, with jitter.
func newExpBackOff(cfg Config) *backoff.ExponentialBackOff {
	eb := backoff.NewExponentialBackOff()
	eb.InitialInterval = cfg.InitialInterval
	eb.MaxInterval = cfg.MaxInterval
	eb.RandomizationFactor = 0.5
	eb.MaxElapsedTime = cfg.MaxElapsed
	return eb
}
