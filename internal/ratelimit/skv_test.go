package ratelimit_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/ratelimit"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// The skv client calls Wait before every attempt and Throttled on every
// 429. The check lives in a test so that ratelimit does not depend on skv.
var (
	_ skv.Limiter   = (*ratelimit.Limiter)(nil)
	_ skv.Throttler = (*ratelimit.Limiter)(nil)
)

// A call that gets no slot within MaxWait fails with an error that says
// so and that may go away later (a fetch answers FetchFailed "exhausted"),
// instead of waiting as long as the fetch is kept alive.
func TestWaitTimeoutFailsTheCall(t *testing.T) {
	nc, _ := natstest.Connect(t, natstest.RunTest(t))
	l, err := ratelimit.New(nc, ratelimit.Config{Rate: 1000, Heartbeat: 50 * time.Millisecond, MaxPause: time.Hour, MaxWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	l.Throttled(time.Hour)

	s := sim.New(sim.Config{})
	t.Cleanup(s.Close)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	id := idnr.MustParse("165566778899")
	if err := s.PutAccount(sim.Account{Omfragad: id.String()}); err != nil {
		t.Fatal(err)
	}
	c, err := skv.New(skv.Config{
		BaseURL: s.BaseURL(hs.URL), TokenURL: s.TokenURL(hs.URL),
		ClientID: sim.DefaultClientID, ClientSecret: sim.DefaultClientSecret,
		Limiter: l, MaxAttempts: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, tr, err := c.Saldo(context.Background(), id)
	if !errors.Is(err, ratelimit.ErrWaitTimeout) {
		t.Fatalf("Saldo = %v, want an error wrapping ErrWaitTimeout", err)
	}
	var e *skv.Error
	if !errors.As(err, &e) || e.Op != skv.OpSaldo || !skv.Retryable(err) {
		t.Errorf("Saldo = %v, want a retryable *skv.Error of saldo", err)
	}
	if tr.Attempts() != 0 || s.CallCount(sim.OpSaldo) != 0 {
		t.Errorf("%d attempts, %d calls: want none", tr.Attempts(), s.CallCount(sim.OpSaldo))
	}
}
