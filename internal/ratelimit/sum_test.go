package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
)

// drive runs workers goroutines per limiter, each calling Wait until the
// limiters together have let total calls through, and returns the
// achieved calls per second over the run.
func drive(tb testing.TB, ls []*Limiter, workers, total int) float64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		n   atomic.Int64
		wg  sync.WaitGroup
		mu  sync.Mutex
		err error
	)
	start := time.Now()
	for _, l := range ls {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n.Load() < int64(total) {
					if e := l.Wait(ctx); e != nil {
						mu.Lock()
						err = e
						mu.Unlock()
						return
					}
					n.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	el := time.Since(start)
	if err != nil {
		tb.Fatalf("Wait: %v", err)
	}
	return float64(n.Load()) / el.Seconds()
}

func steadyLimiters(tb testing.TB, s *server.Server, n int, cfg Config) []*Limiter {
	tb.Helper()
	ls := startLimiters(tb, s, n, cfg)
	waitFor(tb, "steady state", steady(ls))
	return ls
}

// The sum over the replicas stays under the limit. The bound is loose:
// each replica's burst counts, and a slow machine only lowers the rate.
func TestSumStaysUnderLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	const rateLimit = 60
	ls := steadyLimiters(t, natstest.RunTest(t), 3, Config{Rate: rateLimit, Heartbeat: testHeartbeat})
	got := drive(t, ls, 2, 150)
	t.Logf("3 replicas × 2 workers, Rate %d: %.1f calls/s (%.0f%% of the limit)", rateLimit, got, 100*got/rateLimit)
	if got > rateLimit*1.25 {
		t.Errorf("achieved %.1f calls/s, want at most %.1f", got, rateLimit*1.25)
	}
}

// BenchmarkSharedRate reports the rate achieved by three replicas sharing
// Rate 500 as calls/s and as a share of the limit.
func BenchmarkSharedRate(b *testing.B) {
	const rateLimit = 500
	ls := steadyLimiters(b, natstest.RunTest(b), 3, Config{Rate: rateLimit, Heartbeat: testHeartbeat})
	b.ResetTimer()
	got := drive(b, ls, 2, b.N)
	b.ReportMetric(got, "calls/s")
	b.ReportMetric(got/rateLimit, "of-limit")
}
