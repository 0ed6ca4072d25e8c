package ratelimit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
)

// Any client on the coordination subjects can publish anything. These
// tests play such a client over a real NATS server.

// logLines collects a Limiter's log lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count returns the number of lines whose message is msg.
func (l *logLines) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var v struct{ Message string }
		if json.Unmarshal([]byte(line), &v) == nil && v.Message == msg {
			n++
		}
	}
	return n
}

// stranger is a plain NATS client on the presence and throttle subjects.
type stranger struct {
	t  *testing.T
	nc *nats.Conn
}

func newStranger(t *testing.T, s *server.Server) *stranger {
	nc, _ := natstest.Connect(t, s)
	return &stranger{t: t, nc: nc}
}

// announce publishes each id once on the presence subject and waits until
// the server has them.
func (s *stranger) announce(ids ...string) {
	s.t.Helper()
	for _, id := range ids {
		if err := s.nc.Publish(DefaultSubject+".presence", []byte(id)); err != nil {
			s.t.Fatal(err)
		}
	}
	if err := s.nc.Flush(); err != nil {
		s.t.Fatal(err)
	}
}

// heartbeat announces ids every testHeartbeat, as replicas would, until
// the test ends.
func (s *stranger) heartbeat(ids ...string) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	s.t.Cleanup(func() { close(done); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(testHeartbeat)
		defer t.Stop()
		for {
			for _, id := range ids {
				_ = s.nc.Publish(DefaultSubject+".presence", []byte(id))
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
}

// throttle publishes a throttle message in the name of id.
func (s *stranger) throttle(id string, retryAfter time.Duration) {
	s.t.Helper()
	data, _ := json.Marshal(throttleMsg{ID: id, RetryAfterMillis: retryAfter.Milliseconds()})
	if err := s.nc.Publish(DefaultSubject+".throttle", data); err != nil {
		s.t.Fatal(err)
	}
	if err := s.nc.Flush(); err != nil {
		s.t.Fatal(err)
	}
}

// knows reports whether l counts id as a peer.
func knows(l *Limiter, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.peers[id]
	return ok
}

func starting(l *Limiter) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.starting
}

// fakeID is the n-th well-formed replica id (16 lowercase hex digits).
func fakeID(n int) string { return fmt.Sprintf("%016x", 0xfeed0000+n) }

// Ids heard once, heard twice at once, or not shaped like a replica's do
// not count, and do not fill the log; a replica that joins after them is
// counted.
func TestStrangersAreNotPeers(t *testing.T) {
	s := natstest.RunTest(t)
	var logs logLines
	cfg := Config{Rate: 30, Heartbeat: testHeartbeat, Logger: zerolog.New(&logs)}
	a := startLimiters(t, s, 1, cfg)[0]
	waitFor(t, "the first round to end", func() bool { return near(a.Share(), 30) })

	str := newStranger(t, s)
	var once []string
	for i := range 1000 {
		once = append(once, fakeID(i))
	}
	str.announce(once...)
	for i := range 100 { // twice, back to back
		str.announce(fakeID(2000+i), fakeID(2000+i))
	}
	malformed := []string{"", "short", strings.Repeat("a", 15), strings.Repeat("a", 17), strings.Repeat("A", 16),
		"0123456789abcdeg", "01234567 9abcdef", strings.Repeat("0", 64), strings.Repeat("x", 1000)}
	str.heartbeat(malformed...)
	time.Sleep(4 * expireAfter * testHeartbeat) // let the malformed ones beat for a while

	b := startLimiters(t, s, 1, cfg)[0]
	waitFor(t, "a to count b", func() bool { return knows(a, b.id) })
	waitFor(t, "b to count a and end its first round", func() bool { return knows(b, a.id) && !starting(b) })
	for i, l := range []*Limiter{a, b} {
		if got := l.Peers(); got != 2 {
			t.Errorf("replica %d: Peers() = %d, want 2", i, got)
		}
		if got := l.Share(); !near(got, 15) {
			t.Errorf("replica %d: Share() = %v, want 15", i, got)
		}
	}
	if n := logs.count("new peer"); n > 2 {
		t.Errorf("%d \"new peer\" lines, want at most 2 (a and b)", n)
	}
}

// Ids that heartbeat like replicas count, but never more than MaxPeers
// replicas in all; the "new peer" line is rate-limited.
func TestPeersBounded(t *testing.T) {
	s := natstest.RunTest(t)
	var logs logLines
	const maxPeers = 8
	cfg := Config{Rate: 32, Heartbeat: testHeartbeat, MaxPeers: maxPeers, Logger: zerolog.New(&logs)}
	a := startLimiters(t, s, 1, cfg)[0]

	str := newStranger(t, s)
	var ids []string
	for i := range 40 {
		ids = append(ids, fakeID(i))
	}
	str.heartbeat(ids...)
	waitFor(t, "the heartbeating ids to fill the peers", func() bool { return a.Peers() >= maxPeers })
	for range 3 * expireAfter {
		time.Sleep(testHeartbeat)
		if got := a.Peers(); got > maxPeers {
			t.Fatalf("Peers() = %d, want at most MaxPeers %d", got, maxPeers)
		}
		if got := a.Share(); got < 32.0/maxPeers-1e-9 {
			t.Fatalf("Share() = %v, want at least Rate/MaxPeers = %v", got, 32.0/maxPeers)
		}
	}

	// Without a bound on the peers, 40 ids log 40 lines.
	b := startLimiters(t, s, 1, Config{Rate: 30, Heartbeat: testHeartbeat, MaxPeers: 100, Logger: zerolog.New(&logs)})[0]
	waitFor(t, "b to count every id", func() bool { return b.Peers() >= len(ids)+1 })
	if n := logs.count("new peer"); n > maxPeers+logBurst {
		t.Errorf("%d \"new peer\" lines, want at most %d", n, maxPeers+logBurst)
	}
}

// A throttle message from an id that is not a known peer is ignored; one
// from a peer asks for at most MaxPause, and so does a local 429.
func TestThrottleBounded(t *testing.T) {
	s := natstest.RunTest(t)
	clk := newFakeClock()
	cfg := Config{Rate: 30, Heartbeat: testHeartbeat, MaxPause: 2 * time.Second, Now: clk.Now}
	ls := startLimiters(t, s, 2, cfg)
	waitFor(t, "steady state", steady(ls))
	a, b := ls[0], ls[1]
	pause := func(l *Limiter) time.Duration {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.pauseUntil.Sub(clk.Now())
	}

	str := newStranger(t, s)
	str.throttle(fakeID(1), 24*time.Hour)
	// b's throttle comes after the stranger's: once a has handled it,
	// it has seen the stranger's.
	b.Throttled(100 * time.Millisecond)
	waitFor(t, "a to hear of b's 429", func() bool { return pause(a) >= 100*time.Millisecond })
	if got := pause(a); got != 100*time.Millisecond {
		t.Errorf("after a stranger's 24h throttle and b's 100ms: a paused for %v, want 100ms", got)
	}

	str.throttle(b.id, 24*time.Hour) // in the name of a known peer
	waitFor(t, "a to handle it", func() bool { return a.handled.Load() == 2 })
	if got := pause(a); got != cfg.MaxPause {
		t.Errorf("after a peer asked for 24h: a paused for %v, want MaxPause %v", got, cfg.MaxPause)
	}

	b.Throttled(24 * time.Hour) // the API's Retry-After
	if got := pause(b); got != cfg.MaxPause {
		t.Errorf("after a local 429 with Retry-After 24h: paused for %v, want MaxPause %v", got, cfg.MaxPause)
	}
}

// Every Wait ends: after MaxWait without a slot it returns ErrWaitTimeout,
// which says Timeout() as a net.Error does.
func TestWaitTimesOut(t *testing.T) {
	s := natstest.RunTest(t)
	l := startLimiters(t, s, 1, Config{Rate: 1000, Heartbeat: testHeartbeat, MaxPause: time.Hour, MaxWait: 50 * time.Millisecond})[0]
	l.Throttled(time.Hour)
	errc := make(chan error, 1)
	go func() { errc <- l.Wait(context.Background()) }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(20 * time.Second):
		t.Fatal("Wait with no deadline in its context did not return during a pause of an hour")
	}
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("Wait = %v, want %v", err, ErrWaitTimeout)
	}
	var te interface{ Timeout() bool }
	if !errors.As(err, &te) || !te.Timeout() {
		t.Errorf("Wait = %v, want an error whose Timeout() is true", err)
	}
}

// Whatever arrives on the subjects, the peers stay under MaxPeers and a
// pause under MaxPause.
func FuzzWireMessages(f *testing.F) {
	f.Add([]byte(fakeID(1)), []byte(`{"id":"`+fakeID(1)+`","retryAfterMs":86400000}`), false)
	f.Add([]byte("short"), []byte(`{"id":"x","retryAfterMs":-1}`), true)
	f.Add([]byte(strings.Repeat("f", 16)), []byte(`not json`), false)
	s := natstest.RunTest(f)
	nc, _ := natstest.Connect(f, s)
	clk := newFakeClock()
	cfg := Config{Rate: 10, Heartbeat: time.Hour, MaxPeers: 2, MaxPause: time.Second, Now: clk.Now}
	l, err := New(nc, cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(l.Close)
	f.Fuzz(func(t *testing.T, presence, throttle []byte, leave bool) {
		m := nats.NewMsg(DefaultSubject + ".presence")
		m.Data = presence
		if leave {
			m.Header.Set(leaveHeader, "true")
		}
		l.onPresence(m)
		l.mu.Lock() // and again a while later: a peer, if it is shaped like one
		if first, ok := l.candidates[string(presence)]; ok {
			l.candidates[string(presence)] = first.Add(-cfg.Heartbeat)
		}
		l.mu.Unlock()
		l.onPresence(m)
		l.onThrottle(&nats.Msg{Subject: DefaultSubject + ".throttle", Data: throttle})
		l.mu.Lock()
		defer l.mu.Unlock()
		if n := len(l.peers) + 1; n > cfg.MaxPeers {
			t.Errorf("%d replicas counted, MaxPeers is %d", n, cfg.MaxPeers)
		}
		if p := l.pauseUntil.Sub(clk.Now()); p > cfg.MaxPause {
			t.Errorf("paused for %v, MaxPause is %v", p, cfg.MaxPause)
		}
		for id := range l.peers {
			if !validID(id) {
				t.Errorf("peer %q is not shaped like a replica id", id)
			}
		}
	})
}
