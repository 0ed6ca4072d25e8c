package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// ErrClosed is returned by Wait once the Limiter is closed.
var ErrClosed = errors.New("ratelimit: limiter closed")

// ErrWaitTimeout is returned, wrapped, by Wait when no call slot came
// within Config.MaxWait. It has a Timeout method that reports true, as a
// net.Error does, so that a caller can tell it apart without importing
// this package.
var ErrWaitTimeout error = waitTimeout{}

type waitTimeout struct{}

func (waitTimeout) Error() string { return "ratelimit: no call slot within the maximum wait" }
func (waitTimeout) Timeout() bool { return true }

// Limiter paces one replica's calls so that all replicas together stay
// under Config.Rate. It implements skv.Limiter and skv.Throttler and is
// safe for concurrent use.
type Limiter struct {
	nc  *nats.Conn
	cfg Config
	id  string
	log zerolog.Logger
	// ready hands out permits: the pacer sends one per allowed call.
	ready chan struct{}

	presenceSubj, throttleSubj string

	mu    sync.Mutex
	peers map[string]time.Time // other replicas → last heard, real time
	// candidates are ids heard but not yet confirmed as replicas →
	// first heard, real time. They count only while starting.
	candidates map[string]time.Time
	// starting is true until the first expireAfter heartbeats have
	// passed: the share then counts the candidates too, and one replica
	// more than known.
	starting bool
	// The throttle factor is base until recoverFrom, then climbs by slope
	// per second up to 1.
	base, slope float64
	recoverFrom time.Time
	windowEnd   time.Time // throttles before this repeat the last cut
	pauseUntil  time.Time // no call goes before this
	limit       float64   // the current rate, calls per second
	changed     chan struct{}
	reconnects  uint64
	closed      bool
	// answers bounds the answers to newcomers; peerLog, full and
	// throttleLog bound the log lines about peers.
	answers                    *rate.Limiter
	peerLog, full, throttleLog *logLimit
	// joined is closed once the others count this replica: no call goes
	// before.
	joined chan struct{}

	subs []*nats.Subscription
	done chan struct{}
	wg   sync.WaitGroup

	// For tests: throttle messages published and handled (from peers).
	published, handled atomic.Int64
}

// New starts a Limiter on nc: it subscribes to the presence and throttle
// subjects, announces this replica and sends heartbeats until Close.
func New(nc *nats.Conn, cfg Config) (*Limiter, error) {
	if nc == nil {
		return nil, errors.New("ratelimit: nil NATS connection")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if nc.IsClosed() {
		return nil, fmt.Errorf("ratelimit: %w", nats.ErrConnectionClosed)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("ratelimit: replica id: %w", err)
	}
	l := &Limiter{
		nc:           nc,
		cfg:          cfg,
		id:           hex.EncodeToString(b[:]),
		presenceSubj: cfg.Subject + ".presence",
		throttleSubj: cfg.Subject + ".throttle",
		peers:        make(map[string]time.Time),
		candidates:   make(map[string]time.Time),
		starting:     true,
		answers:      rate.NewLimiter(rate.Every(cfg.Heartbeat/answerBurst), answerBurst),
		peerLog:      newLogLimit(),
		full:         newLogLimit(),
		throttleLog:  newLogLimit(),
		joined:       make(chan struct{}),
		base:         1,
		changed:      make(chan struct{}),
		reconnects:   nc.Stats().Reconnects,
		done:         make(chan struct{}),
		ready:        make(chan struct{}),
	}
	l.log = cfg.Logger.With().Str("component", "ratelimit").Str("replica", l.id).Logger()
	l.limit = l.targetLocked(cfg.Now())
	l.log.Debug().Float64("rate", cfg.Rate).Float64("share", l.limit).Msg("rate limiter starting")

	subjects := []struct {
		subj string
		cb   nats.MsgHandler
	}{{l.presenceSubj, l.onPresence}, {l.throttleSubj, l.onThrottle}}
	if l.unlimited() {
		subjects = subjects[:1] // counting replicas only: no throttles
	}
	for _, s := range subjects {
		sub, err := nc.Subscribe(s.subj, s.cb)
		if err != nil {
			l.unsubscribe()
			return nil, fmt.Errorf("ratelimit: subscribe %s: %w", s.subj, err)
		}
		l.subs = append(l.subs, sub)
	}
	l.announce()
	l.wg.Add(1)
	go l.run()
	if !l.unlimited() {
		l.wg.Add(1)
		go l.pace()
	}
	return l, nil
}

// unlimited reports whether this Limiter only counts replicas (Rate 0).
func (l *Limiter) unlimited() bool { return l.cfg.Rate == 0 }

// Wait blocks until this replica may make a call, ctx ends (its error is
// returned), Config.MaxWait has passed (ErrWaitTimeout) or the Limiter is
// closed (ErrClosed). It never waits for NATS. With Rate 0 it returns at
// once.
func (l *Limiter) Wait(ctx context.Context) error {
	if l.unlimited() {
		select {
		case <-l.done:
			return ErrClosed
		default:
			return ctx.Err()
		}
	}
	t := time.NewTimer(l.cfg.MaxWait)
	defer t.Stop()
	select {
	case <-l.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return ErrClosed
	case <-t.C:
		return fmt.Errorf("%w (%v, at %.3g calls/s)", ErrWaitTimeout, l.cfg.MaxWait, l.Share())
	}
}

// pace hands out one permit per 1/rate, at the rate in force when each is
// handed out, and none during a pause. One pacer instead of reservations
// made ahead: when the rate rises, slots reserved at the old rate cannot
// overlap slots at the new one and add up to more than the rate.
func (l *Limiter) pace() {
	defer l.wg.Done()
	select {
	case <-l.joined:
	case <-l.done:
		return
	}
	var next time.Time // the earliest moment of the next permit
	for {
		l.mu.Lock()
		now := l.cfg.Now()
		r := l.updateLocked(now)
		// Unused permits do not pile up beyond Burst; but a permit due a
		// moment ago (a late timer) keeps its place, so timer lateness
		// does not lower the rate.
		slack := float64(l.cfg.Burst-1)/r + 0.25/r
		if floor := now.Add(-time.Duration(slack * float64(time.Second))); next.Before(floor) {
			next = floor
		}
		at := next
		if l.pauseUntil.After(at) {
			at = l.pauseUntil
		}
		changed := l.changed
		l.mu.Unlock()

		if d := at.Sub(now); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-changed: // a pause began or the share dropped
				t.Stop()
			case <-l.done:
				t.Stop()
				return
			}
			continue
		}
		select {
		case l.ready <- struct{}{}:
			// Spaced from when the permit was due, so that timer lateness
			// does not add up; but from when it was taken if nobody
			// wanted it for longer than an interval (no saving up).
			interval := time.Duration(float64(time.Second) / r)
			if taken := l.cfg.Now(); taken.Sub(at) > interval {
				at = taken
			}
			next = at.Add(interval)
		case <-changed:
		case <-l.done:
			return
		}
	}
}

// Throttled tells the Limiter that the API answered 429 with Retry-After
// retryAfter (0 when absent). It cuts this replica's rate, pauses calls
// until retryAfter (at most Config.MaxPause) has passed and tells every
// other replica to do the same. Repeats within max(retryAfter, 1s) of a
// cut do not cut again.
func (l *Limiter) Throttled(retryAfter time.Duration) {
	if l.unlimited() {
		return
	}
	retryAfter = min(max(retryAfter, 0), l.cfg.MaxPause)
	if _, changed := l.throttle(retryAfter, ""); !changed {
		return
	}
	data, err := encodeThrottle(throttleMsg{ID: l.id, RetryAfterMillis: retryAfter.Milliseconds()})
	if err == nil {
		err = l.nc.Publish(l.throttleSubj, data)
	}
	if err != nil {
		// Others may go on at their rate; they hear of it at their own 429.
		l.log.Warn().Err(err).Msg("cannot tell peers about 429")
		return
	}
	l.published.Add(1)
}

// throttle applies a 429 seen locally (from == "") or by peer from, with
// retryAfter in [0, Config.MaxPause]. A 429 from an id that is not a
// known peer is not accepted. It reports whether anything changed: a cut
// or a longer pause.
func (l *Limiter) throttle(retryAfter time.Duration, from string) (accepted, changed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false, false
	}
	if _, peer := l.peers[from]; from != "" && !peer {
		return false, false
	}
	now := l.cfg.Now()
	f := l.factorLocked(now)
	cut := !now.Before(l.windowEnd)
	pause := now.Add(retryAfter)
	longer := pause.After(l.pauseUntil)
	if !cut && !longer {
		return true, false
	}
	if cut {
		f = max(f*CutFactor, MinFactor)
		l.slope = (1 - f) / l.cfg.RecoverAfter.Seconds()
		l.windowEnd = now.Add(max(retryAfter, time.Second))
	}
	if longer {
		l.pauseUntil = pause
	}
	// Hold the factor during the pause, then climb from it.
	l.base = f
	l.recoverFrom = l.pauseUntil
	if l.recoverFrom.Before(now) {
		l.recoverFrom = now
	}
	l.updateLocked(now)
	l.signalLocked()
	held, ok := 0, true
	if from != "" {
		held, ok = l.throttleLog.allow()
	}
	if !ok {
		return true, true
	}
	ev := l.log.Warn()
	if from != "" {
		ev = ev.Str("peer", from)
	}
	if held > 0 {
		ev = ev.Int("held", held)
	}
	ev.Bool("cut", cut).Dur("retry_after", retryAfter).Float64("factor", f).
		Float64("share", l.limit).Msg("throttled after 429")
	return true, true
}

// Share returns this replica's current rate in calls per second: its fair
// share of Rate times the throttle factor (0 with Rate 0: no limit).
func (l *Limiter) Share() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.updateLocked(l.cfg.Now())
}

// Peers returns the number of live replicas, this one included.
func (l *Limiter) Peers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers) + 1
}

// Close stops the heartbeats, tells the peers this replica is gone and
// makes pending and later Wait calls return ErrClosed. It does not close
// the NATS connection.
func (l *Limiter) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.signalLocked()
	l.mu.Unlock()

	close(l.done)
	l.wg.Wait()
	l.unsubscribe()
	if l.nc.IsConnected() {
		msg := nats.NewMsg(l.presenceSubj)
		msg.Header.Set(leaveHeader, "true")
		msg.Data = []byte(l.id)
		if err := l.nc.PublishMsg(msg); err == nil {
			_ = l.nc.FlushTimeout(time.Second)
		}
	}
	l.log.Debug().Msg("rate limiter closed")
}

func (l *Limiter) unsubscribe() {
	for _, s := range l.subs {
		_ = s.Unsubscribe()
	}
}

// factorLocked is the throttle factor at now.
func (l *Limiter) factorLocked(now time.Time) float64 {
	if l.base >= 1 || !now.After(l.recoverFrom) {
		return l.base
	}
	return min(1, l.base+l.slope*now.Sub(l.recoverFrom).Seconds())
}

// targetLocked is this replica's rate at now: its share of Rate among at
// most MaxPeers replicas, times the throttle factor.
func (l *Limiter) targetLocked(now time.Time) float64 {
	n := len(l.peers) + 1
	if l.starting {
		// The candidates are probably replicas that answered, and an
		// unknown one may be out there.
		n += len(l.candidates) + 1
	}
	n = min(n, l.cfg.MaxPeers)
	return l.cfg.Rate / float64(n) * l.factorLocked(now)
}

// updateLocked recomputes the current rate and returns it.
func (l *Limiter) updateLocked(now time.Time) float64 {
	l.limit = l.targetLocked(now)
	return l.limit
}

// signalLocked wakes every waiting call to reserve its slot again.
func (l *Limiter) signalLocked() {
	close(l.changed)
	if !l.closed {
		l.changed = make(chan struct{})
	}
}
