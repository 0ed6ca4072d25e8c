package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/watch"
)

// TestE2EScheduleFiresOnceWithTwoWorkers registers an account with a
// one-second cadence while two workers run: each tick is fetched once.
func TestE2EScheduleFiresOnceWithTwoWorkers(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	// Ticks in the service window (03:00–05:00 in Stockholm) are
	// skipped; this test runs at any hour.
	anyHour := hooks{serviceWindow: func(time.Time) bool { return false }}
	e.workerWith(Config{}, anyHour)
	e.workerWith(Config{}, anyHour)
	ctx := context.Background()
	m, err := watch.NewManager(ctx, e.js)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Register(ctx, acctA, "1s", []string{"saldo"}); err != nil {
		t.Fatal(err)
	}
	completed := func() int { return count(e.all(), "FetchCompleted") }
	deadline := time.Now().Add(20 * time.Second)
	for completed() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("schedule fired %d times in 20s; log:\n%s", completed(), e.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if removed, err := m.Unregister(ctx, acctA); err != nil || !removed {
		t.Fatalf("unregister: %v %v", removed, err)
	}
	// Let the last tick drain, then compare.
	for time.Now().Before(deadline) {
		b, err := ReadBacklog(ctx, e.js, "")
		if err != nil {
			t.Fatal(err)
		}
		if b.Pending == 0 && b.AckPending == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	n := completed()
	if calls := e.sim.CallCount(sim.OpSaldo); calls != n {
		t.Errorf("%d saldo calls for %d completed fetches: a tick was fetched twice", calls, n)
	}
	if e.sim.CallCount(sim.OpTransaktioner) != 0 {
		t.Errorf("a schedule for saldo called transaktioner")
	}
	e.checkOnce()
}
