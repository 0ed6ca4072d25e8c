package skv

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// recordingObserver records what the client tells it.
type recordingObserver struct {
	mu        sync.Mutex
	tokenErrs []error
	waits     []time.Duration
}

func (o *recordingObserver) TokenFetched(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tokenErrs = append(o.tokenErrs, err)
}

func (o *recordingObserver) RateLimitWaited(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waits = append(o.waits, d)
}

func (o *recordingObserver) snapshot() ([]error, []time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]error(nil), o.tokenErrs...), append([]time.Duration(nil), o.waits...)
}

// sleepLimiter makes every call wait d.
type sleepLimiter struct{ d time.Duration }

func (l sleepLimiter) Wait(ctx context.Context) error {
	select {
	case <-time.After(l.d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestObserverTokenFetches(t *testing.T) {
	_, srv := newFake(t, answer(http.StatusOK, saldoBody))
	obs := &recordingObserver{}
	cfg := testConfig(srv)
	cfg.Observer = obs
	c := newTestClient(t, cfg)
	ctx := context.Background()

	for range 3 {
		if _, _, err := c.Saldo(ctx, testOrg); err != nil {
			t.Fatalf("Saldo: %v", err)
		}
	}
	if err := c.Token(ctx); err != nil {
		t.Fatalf("Token: %v", err)
	}
	errs, _ := obs.snapshot()
	if len(errs) != 1 || errs[0] != nil {
		t.Fatalf("token fetches after 3 calls on one cached token: got %v, want one success", errs)
	}
}

func TestObserverTokenFailure(t *testing.T) {
	f, srv := newFake(t, answer(http.StatusOK, saldoBody))
	f.tokenStatus = http.StatusUnauthorized
	obs := &recordingObserver{}
	cfg := testConfig(srv)
	cfg.Observer = obs
	c := newTestClient(t, cfg)

	err := c.Token(context.Background())
	if !errors.Is(err, ErrTokenRefused) {
		t.Fatalf("Token: got %v, want ErrTokenRefused", err)
	}
	errs, _ := obs.snapshot()
	if len(errs) != 1 || !errors.Is(errs[0], ErrTokenRefused) {
		t.Fatalf("observed token fetches: got %v, want one ErrTokenRefused", errs)
	}
}

func TestObserverRateLimitWait(t *testing.T) {
	_, srv := newFake(t, answer(http.StatusOK, saldoBody))
	obs := &recordingObserver{}
	cfg := testConfig(srv)
	cfg.Observer = obs
	cfg.Limiter = sleepLimiter{d: 5 * time.Millisecond}
	c := newTestClient(t, cfg)

	for range 2 {
		if _, _, err := c.Saldo(context.Background(), testOrg); err != nil {
			t.Fatalf("Saldo: %v", err)
		}
	}
	_, waits := obs.snapshot()
	if len(waits) != 2 {
		t.Fatalf("observed waits: got %d, want 2", len(waits))
	}
	for _, d := range waits {
		if d < 5*time.Millisecond {
			t.Errorf("observed wait %v is shorter than the limiter's sleep", d)
		}
	}
}
