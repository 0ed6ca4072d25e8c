package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// TestE2EDrainHandsBackInFlightWork stops a worker while its fetch waits
// on a slow API: Run returns after the drain timeout, the request goes
// back to the queue, and another worker answers it exactly once.
func TestE2EDrainHandsBackInFlightWork(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	done := e.stopDuringFetch(Config{})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after the drain timeout")
	}
	if n := count(e.all(), "FetchCompleted"); n != 0 {
		t.Fatalf("%d answers before the hand-back", n)
	}
	e.worker(Config{}, nil)
	e.wait("d1")
	if got := answeredIDs(e.checkOnce()); got["d1"] != 1 {
		t.Errorf("d1 answered %d times", got["d1"])
	}
}

// stopDuringFetch starts a worker with cfg (a 2 s ack wait and a 200 ms
// drain timeout unless set), requests d1 for acctA, whose saldo call
// hangs, and stops the worker once the call is under way. It returns
// what Run returns.
func (e *env) stopDuringFetch(cfg Config) <-chan error {
	e.t.Helper()
	e.sim.InjectFault(sim.Fault{Omfragad: acctA, Operation: sim.OpSaldo, Kind: sim.FaultHang, Count: 1})
	if cfg.AckWait == 0 {
		cfg.AckWait = 2 * time.Second
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 200 * time.Millisecond
	}
	cfg.RetryDelay, cfg.Logger = 100*time.Millisecond, zerolog.New(e.logs)
	w, err := New(context.Background(), e.js, e.api, e.store, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	e.request(acctA, `{"requestId":"d1"}`)
	deadline := time.Now().Add(10 * time.Second)
	for e.sim.CallCount(sim.OpSaldo) == 0 {
		if time.Now().After(deadline) {
			stop()
			e.t.Fatal("the fetch never reached the API")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	return done
}
