package jobs

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// TestE2ELeanCommitRedeliveredAfterDuplicateWindow: a refresh that
// changes nothing stores its FetchCompleted alone and leaves the state as
// it was (a lean commit). Killed after that commit, before the ack, the
// request is redelivered after the stream's duplicate window has passed,
// so the stream would store a second copy of the answer: the redelivery
// finds the answer among the account's answers and publishes nothing.
func TestE2ELeanCommitRedeliveredAfterDuplicateWindow(t *testing.T) {
	e := newEnv(t)
	store, err := events.NewStore(context.Background(), e.js, events.StoreConfig{Duplicates: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	putAccount(t, e.sim, acctA)
	crash, crashes := crashOnce(stepCommitted)
	var crashing atomic.Bool
	e.worker(Config{AckWait: 2 * time.Second}, func(step, fetchID string) bool { return crashing.Load() && crash(step, fetchID) })

	e.fetch(acctA, "r1")
	_, seq, err := e.store.Load(context.Background(), acctA)
	if err != nil {
		t.Fatal(err)
	}
	crashing.Store(true)
	e.request(acctA, `{"requestId":"r2","operations":["saldo","transaktioner"]}`)
	if got := types(e.wait("r2")); len(got) != 1 || got[0] != "FetchCompleted" {
		t.Fatalf("unchanged refresh: %v, want one FetchCompleted", got)
	}
	// The redelivery comes after AckWait, past the duplicate window.
	time.Sleep(3 * time.Second)
	if c := crashes(); c != 1 {
		t.Fatalf("%d crashes, want 1", c)
	}
	all := e.checkOnce()
	if n := count(all, "FetchCompleted"); n != 2 {
		t.Errorf("%d FetchCompleted, want 2", n)
	}
	if _, seq2, err := e.store.Load(context.Background(), acctA); err != nil || seq2 != seq {
		t.Errorf("state at %d after the refresh (%v), want %d: not a lean commit", seq2, err, seq)
	}
}
