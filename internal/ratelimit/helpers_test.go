package ratelimit

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
)

// testHeartbeat keeps presence tests quick.
const testHeartbeat = 50 * time.Millisecond

// startLimiters starts n limiters on separate connections to s, as n
// replicas would, closed when the test ends.
func startLimiters(t testing.TB, s *server.Server, n int, cfg Config) []*Limiter {
	t.Helper()
	ls := make([]*Limiter, n)
	for i := range ls {
		nc, _ := natstest.Connect(t, s)
		l, err := New(nc, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		ls[i] = l
	}
	return ls
}

// waitFor polls cond until it holds; the deadline is generous and not an
// assertion about speed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func allPeers(ls []*Limiter, n int) func() bool {
	return func() bool {
		for _, l := range ls {
			if l.Peers() != n {
				return false
			}
		}
		return true
	}
}

// steady reports whether every limiter knows all of them and has
// completed its first heartbeat round.
func steady(ls []*Limiter) func() bool {
	return func() bool {
		for _, l := range ls {
			l.mu.Lock()
			ok := !l.starting && len(l.peers)+1 == len(ls)
			l.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	}
}

// allShares reports whether every limiter's share is want.
func allShares(ls []*Limiter, want float64) func() bool {
	return func() bool {
		for _, l := range ls {
			if !near(l.Share(), want) {
				return false
			}
		}
		return true
	}
}

// settled reports whether every limiter has handled every throttle
// message the others published.
func settled(ls []*Limiter) func() bool {
	return func() bool {
		var total int64
		for _, l := range ls {
			total += l.published.Load()
		}
		for _, l := range ls {
			if l.handled.Load() != total-l.published.Load() {
				return false
			}
		}
		return true
	}
}

func near(got, want float64) bool { return math.Abs(got-want) < 1e-9*math.Max(1, math.Abs(want)) }

// fakeClock is a settable clock shared by limiters.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 12, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
