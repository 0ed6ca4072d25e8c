package jobs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// gate holds the first round that starts after arm until release, so
// that a test can queue requests behind it in a known order.
type gate struct {
	mu      sync.Mutex
	armed   bool
	held    chan struct{}
	release chan struct{}
}

func (g *gate) arm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.held, g.release = true, make(chan struct{}), make(chan struct{})
}

// hook is the worker's roundStarts hook.
func (g *gate) hook([]string) {
	g.mu.Lock()
	if !g.armed {
		g.mu.Unlock()
		return
	}
	g.armed = false
	held, release := g.held, g.release
	g.mu.Unlock()
	close(held)
	<-release
}

// waitHeld waits until the armed round is held.
func (g *gate) waitHeld(t testing.TB) {
	t.Helper()
	g.mu.Lock()
	held := g.held
	g.mu.Unlock()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no round started")
	}
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.release)
}

// workerWith starts a worker with test hooks that runs until the test ends.
func (e *env) workerWith(cfg Config, h hooks) *Worker {
	e.t.Helper()
	if cfg.AckWait == 0 {
		cfg.AckWait = 2 * time.Second
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 100 * time.Millisecond
	}
	cfg.Logger = zerolog.New(e.logs)
	w, err := New(context.Background(), e.js, e.api, e.store, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	w.hooks = h
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			e.t.Errorf("worker: %v", err)
		}
	}()
	e.t.Cleanup(func() { cancel(); <-done })
	return w
}

// waitQueued waits until n requests of acct wait in w's queue.
func waitQueued(t testing.TB, w *Worker, acct string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.queue.mu.Lock()
		k := 0
		for key, p := range w.queue.accounts {
			if strings.HasPrefix(key, acct) {
				k += len(p.waiting)
			}
		}
		w.queue.mu.Unlock()
		if k >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", k, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nth returns a hook that is true for the nth fetch (from 1) reaching step.
func nth(step string, n int) func(string, string) bool {
	var mu sync.Mutex
	k := 0
	return func(s, _ string) bool {
		if s != step {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		k++
		return k == n
	}
}

// intrude commits a fetch of acct that no request asked for, so that a
// fetch that read the state before fails its commit with a conflict.
func (e *env) intrude(acct, fetchID string) {
	e.t.Helper()
	ctx := context.Background()
	st, seq, err := e.store.Load(ctx, acct)
	if err != nil {
		e.t.Fatal(err)
	}
	o := events.Origin{Omfragad: acct, FetchID: fetchID, Time: time.Now()}
	closing := events.NewFetchCompleted(o, events.FetchCompleted{Operations: []string{"saldo"}, Calls: []events.Call{}}, &events.Snapshot{})
	if _, err := e.store.Commit(ctx, events.Unchanged(seq, st, closing)); err != nil {
		e.t.Fatal(err)
	}
}

// settled waits until the fetch stream holds no request: every one is
// acknowledged.
func (e *env) settled() {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := e.js.Stream(context.Background(), contract.FetchStream)
		if err != nil {
			e.t.Fatal(err)
		}
		if s.CachedInfo().State.Msgs == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d requests still pending; worker log:\n%s", s.CachedInfo().State.Msgs, e.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answeredOnce checks that every id has exactly one answer.
func (e *env) answeredOnce(ids ...string) {
	e.t.Helper()
	got := answeredIDs(e.checkOnce())
	for _, id := range ids {
		if got[id] != 1 {
			e.t.Errorf("%s answered %d times, want once", id, got[id])
		}
	}
	if e.t.Failed() {
		e.t.Logf("worker log:\n%s", e.logs.String())
	}
}

// TestE2ERedeliveredMemberOfARound: hole 1. A request whose commit landed
// but whose ack did not (a crash between them) is delivered again and
// meets another request of its account in one round. Each is answered
// once: the one already answered is not listed again, the other is not
// acknowledged without an answer, whichever leads the round.
func TestE2ERedeliveredMemberOfARound(t *testing.T) {
	for _, redeliveredLeads := range []bool{true, false} {
		t.Run(fmt.Sprintf("redelivered leads %v", redeliveredLeads), func(t *testing.T) {
			e := newEnv(t)
			putAccount(t, e.sim, acctA)
			g := &gate{}
			// The first fetch dies after its commit, before its ack.
			w := e.workerWith(Config{AckWait: time.Second}, hooks{crashAt: nth(stepCommitted, 1), roundStarts: g.hook})
			e.request(acctA, `{"requestId":"x"}`)
			e.wait("x")
			// A round of z holds the account while x comes back and y
			// arrives; they make the next round.
			g.arm()
			e.request(acctA, `{"requestId":"z"}`)
			g.waitHeld(t)
			if redeliveredLeads {
				waitQueued(t, w, acctA, 1) // x, delivered again after the ack wait
				e.request(acctA, `{"requestId":"y"}`)
			} else {
				e.request(acctA, `{"requestId":"y"}`)
				waitQueued(t, w, acctA, 1)
			}
			waitQueued(t, w, acctA, 2)
			g.open()
			e.wait("y")
			e.settled()
			e.answeredOnce("x", "y", "z")
		})
	}
}

// TestE2ELostAckThenABurst: hole 1. A request's ack is lost after its
// commit; a burst of the account's requests follows, more than the state
// remembers fetch ids; then the request is delivered again. It is not
// answered a second time.
func TestE2ELostAckThenABurst(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	lost := make(chan jetstream.Msg, 1)
	var once sync.Once
	e.workerWith(Config{AckWait: 30 * time.Second}, hooks{loseAck: func(msg jetstream.Msg) bool {
		drop := false
		once.Do(func() { drop = true; lost <- msg })
		return drop
	}})
	e.request(acctA, `{"requestId":"x"}`)
	e.wait("x")
	x := <-lost
	ids := []string{"x"}
	for i := range 60 {
		id := fmt.Sprintf("b%d", i)
		ids = append(ids, id)
		e.request(acctA, fmt.Sprintf(`{"requestId":%q}`, id))
	}
	for _, id := range ids[1:] {
		e.wait(id)
	}
	// Now x comes back.
	if err := x.Nak(); err != nil {
		t.Fatal(err)
	}
	e.settled()
	e.answeredOnce(ids...)
}

// TestE2ELastDeliveryInAConflictedRound: hole 2. A request on its last
// delivery meets a request on its first in one round, and the round's
// commit conflicts with another commit of the account. Both are answered:
// a conflict spends no delivery, and each member counts its own.
func TestE2ELastDeliveryInAConflictedRound(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	g := &gate{}
	crashFirst, secondCall := nth(stepLoaded, 1), nth(stepCalled, 2)
	w := e.workerWith(Config{AckWait: time.Second, MaxDeliver: 2}, hooks{roundStarts: g.hook, crashAt: func(step, id string) bool {
		if secondCall(step, id) {
			e.intrude(acctA, "intruder")
		}
		return crashFirst(step, id)
	}})
	e.request(acctA, `{"requestId":"m"}`) // dies after loading: its next delivery is its last
	g.arm()
	e.request(acctA, `{"requestId":"z"}`)
	g.waitHeld(t)
	e.request(acctA, `{"requestId":"l"}`)
	waitQueued(t, w, acctA, 2) // l, and m delivered again
	g.open()
	e.wait("l")
	e.wait("m")
	e.settled()
	e.answeredOnce("l", "m", "z")
}

// TestE2ELastDeliveryCommitUnknown: hole 2. On the last delivery the
// reply to a commit that did land is lost: the worker reads the state
// before giving up, finds the commit, and does not answer again.
func TestE2ELastDeliveryCommitUnknown(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	var once sync.Once
	e.workerWith(Config{MaxDeliver: 1}, hooks{loseCommitReply: func(string) bool {
		lost := false
		once.Do(func() { lost = true })
		return lost
	}})
	e.request(acctA, `{"requestId":"r"}`)
	e.wait("r")
	e.settled()
	e.answeredOnce("r")
}

// TestE2EHandBackOnLastDelivery: hole 2. A worker stops while it fetches
// a request on its last delivery and hands it back: the request is not
// lost, the next worker answers it once.
func TestE2EHandBackOnLastDelivery(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	done := e.stopDuringFetch(Config{MaxDeliver: 1})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.worker(Config{MaxDeliver: 1}, nil)
	e.wait("d1")
	e.settled()
	e.answeredOnce("d1")
}

// TestE2ECrashLoopIsAnswered: hole 2. A request whose every delivery
// dies mid-fetch (a crash loop) is answered FetchFailed "exhausted" once
// it has had twice MaxDeliver deliveries, and not fetched again.
func TestE2ECrashLoopIsAnswered(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	e.workerWith(Config{AckWait: time.Second, MaxDeliver: 1}, hooks{crashAt: func(step, _ string) bool { return step == stepLoaded }})
	e.request(acctA, `{"requestId":"r"}`)
	got := e.wait("r")
	e.settled()
	e.answeredOnce("r")
	if f := only(got, "FetchFailed"); f.Data["reason"] != events.ReasonExhausted {
		t.Errorf("answer %v, want FetchFailed exhausted", types(got))
	}
}
