package ratelimit

import (
	"time"

	"github.com/nats-io/nats.go"
)

// leaveHeader marks a presence message as a goodbye.
const leaveHeader = "Ratelimit-Leave"

// maxIDLen bounds the replica ids accepted from the wire.
const maxIDLen = 64

// run sends heartbeats and expires silent peers until Close.
func (l *Limiter) run() {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.Heartbeat)
	defer t.Stop()
	// Peers answer an announcement at once, so the startup round can end
	// after a round trip's margin rather than a whole heartbeat.
	early := time.NewTimer(min(l.cfg.Heartbeat/4, 250*time.Millisecond))
	defer early.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-early.C:
			l.tick(time.Now())
		case <-t.C:
			l.announce()
			l.tick(time.Now())
		}
	}
}

// tick ends the startup round and expires peers unheard for three
// heartbeats. Without a connection nobody expires: the last known share
// stays. After a reconnect every peer gets three fresh heartbeats.
func (l *Limiter) tick(now time.Time) {
	connected := l.nc.IsConnected()
	reconnects := l.nc.Stats().Reconnects
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	changed := l.starting
	l.starting = false
	if !connected || reconnects != l.reconnects {
		l.reconnects = reconnects
		for id := range l.peers {
			l.peers[id] = now
		}
	} else {
		for id, seen := range l.peers {
			if now.Sub(seen) > expireAfter*l.cfg.Heartbeat {
				delete(l.peers, id)
				changed = true
				l.log.Info().Str("peer", id).Int("peers", len(l.peers)+1).Msg("peer gone (no heartbeat)")
			}
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

// onPresence records a peer's heartbeat or goodbye. A peer heard for the
// first time lowers the share at once and is answered with this replica's
// id so that it learns of this one without waiting for a heartbeat.
func (l *Limiter) onPresence(m *nats.Msg) {
	id := string(m.Data)
	if id == l.id || id == "" || len(id) > maxIDLen {
		return
	}
	leave := m.Header.Get(leaveHeader) != ""
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	_, known := l.peers[id]
	switch {
	case leave && !known:
		l.mu.Unlock()
		return
	case leave:
		delete(l.peers, id)
	default:
		l.peers[id] = time.Now()
	}
	if leave || !known {
		l.updateLocked(l.cfg.Now())
		l.signalLocked()
		ev := l.log.Info().Str("peer", id).Int("peers", len(l.peers)+1).Float64("share", l.limit)
		if leave {
			ev.Msg("peer left")
		} else {
			ev.Msg("new peer")
		}
	}
	l.mu.Unlock()
	if !leave && !known {
		l.announce()
	}
}
