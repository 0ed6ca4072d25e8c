package ratelimit

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Rate: 4}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Burst != 1 || c.Subject != DefaultSubject || c.Heartbeat != DefaultHeartbeat ||
		c.RecoverAfter != DefaultRecoverAfter || c.Now == nil {
		t.Errorf("defaults: got Burst %d, Subject %q, Heartbeat %v, RecoverAfter %v, Now set %v",
			c.Burst, c.Subject, c.Heartbeat, c.RecoverAfter, c.Now != nil)
	}
	if c.MaxPeers != DefaultMaxPeers || c.MaxPause != DefaultMaxPause || c.MaxWait != DefaultMaxWait {
		t.Errorf("defaults: got MaxPeers %d, MaxPause %v, MaxWait %v, want %d, %v, %v",
			c.MaxPeers, c.MaxPause, c.MaxWait, DefaultMaxPeers, DefaultMaxPause, DefaultMaxWait)
	}
}

func TestConfigInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"negative rate", Config{Rate: -1}},
		{"NaN rate", Config{Rate: nan()}},
		{"negative burst", Config{Rate: 1, Burst: -1}},
		{"wildcard subject", Config{Rate: 1, Subject: "a.*"}},
		{"empty token", Config{Rate: 1, Subject: "a..b"}},
		{"space in subject", Config{Rate: 1, Subject: "a b"}},
		{"negative heartbeat", Config{Rate: 1, Heartbeat: -time.Second}},
		{"negative recovery", Config{Rate: 1, RecoverAfter: -time.Second}},
		{"negative max peers", Config{Rate: 1, MaxPeers: -1}},
		{"negative max pause", Config{Rate: 1, MaxPause: -time.Second}},
		{"negative max wait", Config{Rate: 1, MaxWait: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.cfg.withDefaults(); err == nil {
				t.Errorf("withDefaults(%+v) = nil error, want one", tc.cfg)
			}
		})
	}
	if _, err := New(nil, Config{Rate: 1}); err == nil {
		t.Error("New(nil conn) = nil error, want one")
	}
}

func nan() float64 { var z float64; return z / z }

func TestPeers(t *testing.T) {
	s := natstest.RunTest(t)
	ls := startLimiters(t, s, 3, Config{Rate: 30, Heartbeat: testHeartbeat})
	waitFor(t, "three peers", allPeers(ls, 3))
	ls[2].Close()
	waitFor(t, "two peers after Close", allPeers(ls[:2], 2))
}

// With Rate 0 (SKV_RATE_LIMIT=0: no limit) replicas still count each
// other, as the fetch partitions need, but no call waits and a 429 slows
// nobody: not the replica that got it, not the others.
func TestNoLimitStillCountsReplicas(t *testing.T) {
	s := natstest.RunTest(t)
	ls := startLimiters(t, s, 3, Config{Heartbeat: testHeartbeat})
	waitFor(t, "three peers without a limit", allPeers(ls, 3))

	ls[0].Throttled(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i, l := range ls {
		for range 1000 {
			if err := l.Wait(ctx); err != nil {
				t.Fatalf("replica %d: Wait = %v, want nil at once", i, err)
			}
		}
		if got := l.Share(); got != 0 {
			t.Errorf("replica %d: Share() = %v, want 0 (no limit)", i, got)
		}
	}
	if n := ls[0].published.Load(); n != 0 {
		t.Errorf("throttle messages published without a limit: %d, want 0", n)
	}
	cancel()
	if err := ls[1].Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with an ended context = %v, want context.Canceled", err)
	}
	ls[2].Close()
	waitFor(t, "two peers after Close", allPeers(ls[:2], 2))
	if err := ls[2].Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close = %v, want ErrClosed", err)
	}
}

// A replica that dies without Close is dropped after three missed
// heartbeats.
func TestPeerExpires(t *testing.T) {
	s := natstest.RunTest(t)
	ls := startLimiters(t, s, 2, Config{Rate: 30, Heartbeat: testHeartbeat})
	waitFor(t, "two peers", allPeers(ls, 2))
	ls[1].nc.Close() // crash: no goodbye, no heartbeats
	waitFor(t, "crashed peer to expire", allPeers(ls[:1], 1))
	waitFor(t, "the survivor to take the whole rate", allShares(ls[:1], 30))
}

func TestFairShare(t *testing.T) {
	s := natstest.RunTest(t)
	ls := startLimiters(t, s, 3, Config{Rate: 30, Heartbeat: testHeartbeat})
	waitFor(t, "steady state", steady(ls))
	waitFor(t, "shares of 10", allShares(ls, 10))
	ls[0].Close()
	waitFor(t, "shares of 15 after one left", allShares(ls[1:], 15))
}

// Until its start round (expireAfter heartbeats) is over a replica
// counts every id it has heard, and one more; afterwards only the ids
// confirmed by a second announcement. A newcomer makes no call before
// its second announcement, which makes the others count it.
func TestStartupIsConservative(t *testing.T) {
	s := natstest.RunTest(t)
	cfg := Config{Rate: 30, Heartbeat: time.Hour} // no heartbeat comes during the test
	a := startLimiters(t, s, 1, cfg)[0]
	if got := a.Share(); !near(got, 15) {
		t.Errorf("lone replica in its first round: Share() = %v, want 15", got)
	}
	b := startLimiters(t, s, 1, cfg)[0]
	ls := []*Limiter{a, b}
	waitFor(t, "both to hear of each other", allShares(ls, 10))
	for i, l := range ls {
		if got := l.Peers(); got != 1 {
			t.Errorf("replica %d after one announcement each: Peers() = %d, want 1", i, got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("newcomer's Wait before its second announcement = %v, want %v", err, context.DeadlineExceeded)
	}

	// b announces again a heartbeat later: a counts it.
	a.mu.Lock()
	a.candidates[b.id] = a.candidates[b.id].Add(-cfg.Heartbeat)
	a.mu.Unlock()
	b.announce()
	waitFor(t, "a to count b", func() bool { return a.Peers() == 2 })
	if got := a.Share(); !near(got, 10) {
		t.Errorf("starting replica knowing 2: Share() = %v, want 10", got)
	}
	a.tick(time.Now(), true) // a's first round completes
	if got := a.Share(); !near(got, 15) {
		t.Errorf("after the first round: Share() = %v, want 15", got)
	}
	b.tick(time.Now(), true) // b never heard a twice
	if got := b.Share(); !near(got, 30) {
		t.Errorf("after the first round, with a heard only once: Share() = %v, want 30", got)
	}
}

func TestThrottlePropagatesAndRecovers(t *testing.T) {
	s := natstest.RunTest(t)
	clk := newFakeClock()
	ls := startLimiters(t, s, 3, Config{Rate: 30, Heartbeat: testHeartbeat, RecoverAfter: 10 * time.Second, Now: clk.Now})
	waitFor(t, "steady state", steady(ls))
	waitFor(t, "shares of 10", allShares(ls, 10))

	ls[0].Throttled(2 * time.Second)
	if got := ls[0].Share(); !near(got, 5) {
		t.Errorf("throttled replica: Share() = %v, want 5", got)
	}
	waitFor(t, "every replica to halve its share", allShares(ls, 5))

	steps := []struct {
		advance time.Duration
		want    float64
	}{
		{2 * time.Second, 5},   // pause over, recovery starts
		{5 * time.Second, 7.5}, // halfway
		{5 * time.Second, 10},  // recovered
		{time.Minute, 10},      // stays at the fair share
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		for i, l := range ls {
			if got := l.Share(); !near(got, st.want) {
				t.Errorf("after %v more: replica %d Share() = %v, want %v", st.advance, i, got, st.want)
			}
		}
	}
}

// Replicas hitting 429 together cut once, not once per replica; a 429
// after the window cuts again, from where recovery had got to, never
// below Rate/20 in total.
func TestThrottleOncePerWindow(t *testing.T) {
	s := natstest.RunTest(t)
	clk := newFakeClock()
	ls := startLimiters(t, s, 3, Config{Rate: 30, Heartbeat: testHeartbeat, Now: clk.Now})
	waitFor(t, "steady state", steady(ls))
	waitFor(t, "shares of 10", allShares(ls, 10))

	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Throttled(time.Second)
		}()
	}
	wg.Wait()
	waitFor(t, "throttle messages to be handled", settled(ls))
	for i, l := range ls {
		if got := l.Share(); !near(got, 5) {
			t.Errorf("replica %d after simultaneous 429s: Share() = %v, want 5 (one cut)", i, got)
		}
	}

	want := 5.0
	for range 10 {
		clk.Advance(time.Second) // the window and the pause are over
		ls[1].Throttled(time.Second)
		want = max(want/2, 30*MinFactor/3)
		waitFor(t, "the next cut everywhere", allShares(ls, want))
	}
	if !near(want, 0.5) {
		t.Fatalf("test setup: floor not reached, share %v", want)
	}
}

func TestPauseBlocksWait(t *testing.T) {
	s := natstest.RunTest(t)
	ls := startLimiters(t, s, 2, Config{Rate: 1000, Heartbeat: testHeartbeat})
	waitFor(t, "two peers", allPeers(ls, 2))

	ls[0].Throttled(time.Hour)
	waitFor(t, "the peer to hear of the 429", settled(ls))
	for i, l := range ls {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := l.Wait(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("replica %d: Wait during the pause = %v, want %v", i, err, context.DeadlineExceeded)
		}
	}
}

func TestWaitReturnsAfterPause(t *testing.T) {
	s := natstest.RunTest(t)
	l := startLimiters(t, s, 1, Config{Rate: 1000, Heartbeat: testHeartbeat})[0]
	l.Throttled(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("Wait after a short pause: %v", err)
	}
}

func TestClose(t *testing.T) {
	s := natstest.RunTest(t)
	l := startLimiters(t, s, 1, Config{Rate: 1000, Heartbeat: testHeartbeat})[0]
	l.Throttled(time.Hour)
	errc := make(chan error, 1)
	go func() { errc <- l.Wait(context.Background()) }()
	l.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("pending Wait after Close = %v, want %v", err, ErrClosed)
	}
	if err := l.Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close = %v, want %v", err, ErrClosed)
	}
	l.Close()           // idempotent
	l.Throttled(0)      // ignored
	_ = l.Share()       // still answers
	if l.Peers() != 1 { // nobody else
		t.Errorf("Peers() = %d, want 1", l.Peers())
	}
}

// Without NATS the limiter keeps the last known share and Wait goes on;
// after a reconnect presence works again.
func TestDisconnectKeepsShare(t *testing.T) {
	dir := t.TempDir()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown() })
	port := srv.Addr().(*net.TCPAddr).Port

	cfg := Config{Rate: 200, Heartbeat: testHeartbeat}
	connect := func() *Limiter {
		nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		l, err := New(nc, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	ls := []*Limiter{connect(), connect()}
	waitFor(t, "steady state", steady(ls))
	waitFor(t, "shares of 100", allShares(ls, 100))

	srv.Shutdown()
	srv.WaitForShutdown()
	waitFor(t, "the connections to drop", func() bool { return !ls[0].nc.IsConnected() && !ls[1].nc.IsConnected() })
	time.Sleep(10 * testHeartbeat) // many heartbeats with nobody heard
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, l := range ls {
		if got := l.Peers(); got != 2 {
			t.Errorf("replica %d while disconnected: Peers() = %d, want 2", i, got)
		}
		if got := l.Share(); !near(got, 100) {
			t.Errorf("replica %d while disconnected: Share() = %v, want 100", i, got)
		}
		for range 5 {
			if err := l.Wait(ctx); err != nil {
				t.Fatalf("replica %d: Wait while disconnected: %v", i, err)
			}
		}
	}

	srv, err = natsserver.Start(natsserver.Config{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reconnects", func() bool { return ls[0].nc.IsConnected() && ls[1].nc.IsConnected() })
	ls = append(ls, connect())
	waitFor(t, "three peers after the reconnect", steady(ls))
	waitFor(t, "shares of 200/3", allShares(ls, 200.0/3))
}
