package ratelimit_test

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/ratelimit"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

const (
	simLimit   = 20
	replicas   = 3
	workers    = 4
	measureFor = 10 * time.Second
)

// TestMeasureSimulator drives three replicas, each an skv.Client with four
// workers, against one simulator that answers 429 above simLimit calls/s,
// for measureFor, and logs the sustained rate and the 429s. It asserts
// nothing and runs only when asked for by name:
//
//	RATELIMIT_MEASURE=1 go test -run TestMeasureSimulator -v ./internal/ratelimit/
func TestMeasureSimulator(t *testing.T) {
	if os.Getenv("RATELIMIT_MEASURE") != "1" || !strings.Contains(flag.Lookup("test.run").Value.String(), "TestMeasureSimulator") {
		t.Skip("a measurement: set RATELIMIT_MEASURE=1 and name it with -run")
	}
	for _, tc := range []struct {
		name string
		// limiter returns replica i's skv limiter settings.
		limiter func(t *testing.T, i int) skv.Config
	}{
		{"shared over NATS, Rate = limit", sharedLimiter(simLimit)},
		{"shared over NATS, Rate = 1.5 × limit (limit overestimated)", sharedLimiter(1.5 * simLimit)},
		{"per process rate.Limiter, RateLimit = limit (before)", func(*testing.T, int) skv.Config {
			return skv.Config{RateLimit: simLimit}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{RateLimit: simLimit})
			t.Cleanup(s.Close)
			hs := httptest.NewServer(s.Handler())
			t.Cleanup(hs.Close)
			id := idnr.MustParse("165566778899")
			if err := s.PutAccount(sim.Account{Omfragad: id.String()}); err != nil {
				t.Fatal(err)
			}
			clients := make([]*skv.Client, replicas)
			for i := range clients {
				cfg := tc.limiter(t, i)
				cfg.BaseURL, cfg.TokenURL = s.BaseURL(hs.URL), s.TokenURL(hs.URL)
				cfg.ClientID, cfg.ClientSecret = sim.DefaultClientID, sim.DefaultClientSecret
				cfg.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
				cfg.MaxAttempts, cfg.InitialInterval, cfg.MaxInterval = 3, 100*time.Millisecond, time.Second
				c, err := skv.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Token(context.Background()); err != nil {
					t.Fatal(err)
				}
				clients[i] = c
			}
			s.ResetCalls()

			ctx, cancel := context.WithTimeout(context.Background(), measureFor)
			defer cancel()
			var ok, tooMany, failed atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for _, c := range clients {
				for range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for ctx.Err() == nil {
							_, tr, err := c.Saldo(ctx, id)
							for _, call := range tr.Calls {
								if call.HTTPStatus == http.StatusTooManyRequests {
									tooMany.Add(1)
								}
							}
							switch {
							case err == nil:
								ok.Add(1)
							case tr.Attempts() > 0 && !errors.Is(err, context.DeadlineExceeded):
								failed.Add(1) // given up after 429s
							}
							if err != nil && tr.Attempts() == 0 {
								// The limiter refused to wait past the
								// deadline: the run is over.
								return
							}
						}
					}()
				}
			}
			wg.Wait()
			el := time.Since(start).Seconds()
			got := float64(ok.Load()) / el
			t.Logf("%d replicas × %d workers, simulator limit %d/s, %.1fs: %d answered (%.1f/s, %.0f%% of the limit), %d × 429 of %d calls, %d operations failed (429 after 3 attempts)",
				replicas, workers, simLimit, el, ok.Load(), got, 100*got/simLimit, tooMany.Load(), s.CallCount(sim.OpSaldo), failed.Load())
		})
	}
}

// sharedLimiter gives each replica a ratelimit.Limiter over one NATS
// server with Rate rateLimit, waiting until they know each other.
func sharedLimiter(rateLimit float64) func(t *testing.T, i int) skv.Config {
	var (
		once sync.Once
		srv  func() *ratelimit.Limiter
		ls   []*ratelimit.Limiter
	)
	return func(t *testing.T, i int) skv.Config {
		once.Do(func() {
			s := natstest.RunTest(t)
			srv = func() *ratelimit.Limiter {
				nc, _ := natstest.Connect(t, s)
				l, err := ratelimit.New(nc, ratelimit.Config{Rate: rateLimit, RecoverAfter: 10 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(l.Close)
				return l
			}
		})
		l := srv()
		ls = append(ls, l)
		if len(ls) == replicas {
			// Measure the steady state: everyone known, first heartbeat
			// round over.
			deadline := time.Now().Add(20 * time.Second)
			for !allKnown(ls) {
				if time.Now().After(deadline) {
					t.Fatal("replicas do not find each other")
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(ratelimit.DefaultHeartbeat + 100*time.Millisecond)
		}
		return skv.Config{Limiter: l}
	}
}

func allKnown(ls []*ratelimit.Limiter) bool {
	for _, l := range ls {
		if l.Peers() != len(ls) {
			return false
		}
	}
	return true
}
