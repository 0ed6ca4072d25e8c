package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// TestE2EHeartbeatKeepsASlowFetch: a fetch that takes longer than
// AckWait tells the server it is in progress, so the request is not
// delivered again while it runs.
func TestE2EHeartbeatKeepsASlowFetch(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	w := e.worker(Config{AckWait: 600 * time.Millisecond}, nil)
	e.fetch(acctA, "r1")
	e.sim.InjectFault(sim.Fault{Omfragad: acctA, Operation: sim.OpSaldo, Kind: sim.FaultLatency, Latency: 2 * time.Second, Count: 1})
	e.request(acctA, `{"requestId":"r2","operations":["saldo"]}`)
	e.wait("r2")
	var got uint64
	for _, p := range w.consumers() {
		info, err := p.cons.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got += info.Delivered.Consumer
	}
	if got != 2 {
		t.Errorf("%d deliveries of 2 requests: delivered again during a slow fetch", got)
	}
	if n := count(e.checkOnce(), "FetchCompleted"); n != 2 {
		t.Errorf("%d FetchCompleted, want 2", n)
	}
}
