package ratelimit

import (
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/time/rate"
)

// leaveHeader marks a presence message as a goodbye.
const leaveHeader = "Ratelimit-Leave"

// idLen is the length of a replica id: 8 random bytes in lowercase hex.
// Anything else on the presence subject is not a replica.
const idLen = 16

// validID reports whether id is shaped like a replica's id.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// A candidate becomes a peer when heard again at least confirmSpacing
// heartbeats after it was first heard, and is forgotten if that does not
// happen within expireAfter heartbeats. There are at most
// candidatesPerPeer×MaxPeers candidates; a newcomer beyond that pushes out
// a random one.
const (
	confirmSpacing    = 0.25
	candidatesPerPeer = 16
)

// Peer-change lines: logBurst at once, then one per logEvery.
const (
	logBurst = 10
	logEvery = 10 * time.Second
)

// Answers to newcomers: answerBurst at once, then answerBurst per
// heartbeat, so that a flood of new ids does not make every replica
// publish once per id.
const answerBurst = 4

// logLimit lets log lines through at a bounded rate and counts the ones
// it held back. It is used under Limiter.mu.
type logLimit struct {
	lim  *rate.Limiter
	held int
}

func newLogLimit() *logLimit { return &logLimit{lim: rate.NewLimiter(rate.Every(logEvery), logBurst)} }

// allow reports whether a line may be logged now and how many were held
// back since the last one.
func (g *logLimit) allow() (held int, ok bool) {
	if !g.lim.Allow() {
		g.held++
		return 0, false
	}
	held, g.held = g.held, 0
	return held, true
}

// run sends heartbeats and expires silent peers until Close. Half a
// heartbeat after the first announcement it announces again, which makes
// this replica a peer of the others, and only then lets calls through.
func (l *Limiter) run() {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.Heartbeat)
	defer t.Stop()
	second := time.NewTimer(l.cfg.Heartbeat / 2)
	defer second.Stop()
	for ticks := 1; ; ticks++ {
		select {
		case <-l.done:
			return
		case <-second.C:
			l.announce()
			close(l.joined)
			ticks--
		case <-t.C:
			l.announce()
			l.tick(time.Now(), ticks >= expireAfter)
		}
	}
}

// tick expires peers unheard for expireAfter heartbeats and candidates
// not confirmed within as long, and ends the startup round when
// endStart. Without a connection no peer expires: the last known share
// stays. After a reconnect every peer gets expireAfter fresh heartbeats.
func (l *Limiter) tick(now time.Time, endStart bool) {
	connected := l.nc.IsConnected()
	reconnects := l.nc.Stats().Reconnects
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	changed := false
	if endStart && l.starting {
		l.starting, changed = false, true
	}
	gone := expireAfter * l.cfg.Heartbeat
	if !connected || reconnects != l.reconnects {
		l.reconnects = reconnects
		for id := range l.peers {
			l.peers[id] = now
		}
	} else {
		for id, seen := range l.peers {
			if now.Sub(seen) > gone {
				delete(l.peers, id)
				changed = true
				l.logPeerLocked(id, "peer gone (no heartbeat)")
			}
		}
	}
	for id, first := range l.candidates {
		if now.Sub(first) > gone {
			delete(l.candidates, id)
			changed = changed || l.starting
		}
	}
	if changed {
		l.updateLocked(l.cfg.Now())
		l.signalLocked()
	}
}

// announce publishes this replica's id on the presence subject. It does
// not block: without a connection the message is buffered or dropped.
func (l *Limiter) announce() {
	if err := l.nc.Publish(l.presenceSubj, []byte(l.id)); err != nil {
		l.log.Debug().Err(err).Msg("cannot announce presence")
	}
}

// onPresence records a heartbeat or goodbye. An id heard for the first
// time is a candidate, answered with this replica's id (a few times per
// heartbeat at most) so that a newcomer learns of this one at once. A
// candidate heard again, at least a quarter heartbeat later, becomes a
// peer if there is room under MaxPeers: it lowers the share at once.
// Anything not shaped like a replica id is ignored.
func (l *Limiter) onPresence(m *nats.Msg) {
	id := string(m.Data)
	if id == l.id || !validID(id) {
		return
	}
	leave := m.Header.Get(leaveHeader) != ""
	now := time.Now()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	changed, answer := false, false
	first, candidate := l.candidates[id]
	_, peer := l.peers[id]
	switch {
	case peer && leave:
		delete(l.peers, id)
		changed = true
		l.logPeerLocked(id, "peer left")
	case peer:
		l.peers[id] = now
	case leave:
		if candidate {
			delete(l.candidates, id)
			changed = l.starting
		}
	case !candidate:
		if len(l.candidates) >= candidatesPerPeer*l.cfg.MaxPeers {
			for old := range l.candidates {
				delete(l.candidates, old)
				break
			}
		}
		l.candidates[id] = now
		changed = l.starting
		answer = l.answers.Allow()
	case now.Sub(first) < time.Duration(confirmSpacing*float64(l.cfg.Heartbeat)):
		// Too soon after the first: not a heartbeat.
	case len(l.peers)+1 >= l.cfg.MaxPeers:
		if held, ok := l.full.allow(); ok {
			l.log.Warn().Str("peer", id).Int("maxPeers", l.cfg.MaxPeers).Int("held", held).
				Msg("replica not counted: MaxPeers replicas already known (raise SKV_RATE_MAX_PEERS if the deployment runs more)")
		}
	default:
		delete(l.candidates, id)
		l.peers[id] = now
		changed = true
		l.logPeerLocked(id, "new peer")
	}
	if changed {
		l.updateLocked(l.cfg.Now())
		l.signalLocked()
	}
	l.mu.Unlock()
	if answer {
		l.announce()
	}
}

// logPeerLocked logs a change of the peer set, rate-limited.
func (l *Limiter) logPeerLocked(id, msg string) {
	held, ok := l.peerLog.allow()
	if !ok {
		return
	}
	ev := l.log.Info().Str("peer", id).Int("peers", len(l.peers)+1).Float64("share", l.targetLocked(l.cfg.Now()))
	if held > 0 {
		ev = ev.Int("held", held)
	}
	ev.Msg(msg)
}
