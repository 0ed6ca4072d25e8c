package login

import (
	"context"
	"errors"
	"strings"
	"time"
)

// leases keeps this process's leases on logins and takes over the logins
// nobody owns, at start and every LeaseTTL/3 until ctx ends. A lease is
// the key lease.<ref>, holding the owner's Instance, written by
// compare-and-set with a per-key TTL of LeaseTTL: renewed while the
// owner lives, it expires when the owner dies, and the first replica to
// create it again owns the login.
func (m *Manager) leases(ctx context.Context) {
	t := time.NewTicker(m.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		m.tend(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leaseEntry takes in a change of a lease key: a lease handed back or
// expired is taken at once (not only at the next tick).
func (m *Manager) leaseEntry(key string, _ []byte, _ uint64, deleted bool) {
	if !deleted {
		return
	}
	m.mu.Lock()
	l := m.logins[strings.TrimPrefix(key, leasePrefix)]
	m.mu.Unlock()
	if l == nil {
		return
	}
	if rec, _ := l.snapshot(); rec.End != nil {
		return
	}
	m.spawn(func() {
		ctx, cancel := context.WithTimeout(m.octx, 10*time.Second)
		defer cancel()
		m.acquire(ctx, l)
	})
}

// tend renews, takes or gives back the lease of every known login.
func (m *Manager) tend(ctx context.Context) {
	for _, l := range m.known() {
		if ctx.Err() != nil {
			return
		}
		rec, _ := l.snapshot()
		l.mu.Lock()
		own := l.own
		l.mu.Unlock()
		switch {
		case rec.End != nil:
			if own != nil {
				m.disown(ctx, l, true)
			}
		case own != nil:
			m.renew(ctx, l, own)
		default:
			m.acquire(ctx, l)
		}
	}
}

// acquire takes the lease of a login nobody owns and starts running it.
func (m *Manager) acquire(ctx context.Context, l *login) bool {
	rev, err := m.bucket.create(ctx, leaseKey(l.ref), []byte(m.cfg.Instance), m.cfg.LeaseTTL)
	if err != nil {
		if !errors.Is(err, errConflict) && ctx.Err() == nil {
			m.cfg.Logger.Warn().Str("login", l.ref).Err(err).Msg("cannot take the lease of a login")
		}
		return false
	}
	rctx, stop := context.WithCancel(m.octx)
	o := &owning{rev: rev, stop: stop, done: make(chan struct{})}
	m.mu.Lock()
	l.mu.Lock()
	ok := !m.closed && l.own == nil
	if ok {
		l.own = o
		m.wg.Add(1)
	}
	l.mu.Unlock()
	m.mu.Unlock()
	if !ok { // closing
		stop()
		_ = m.bucket.remove(ctx, leaseKey(l.ref), rev)
		return false
	}
	go func() {
		defer m.wg.Done()
		defer close(o.done)
		m.run(rctx, l)
	}()
	return true
}

// renew extends this process's lease; a lease lost (it expired and
// another replica took it) stops running the login here.
func (m *Manager) renew(ctx context.Context, l *login, o *owning) {
	l.mu.Lock()
	rev := o.rev
	l.mu.Unlock()
	nrev, err := m.bucket.update(ctx, leaseKey(l.ref), []byte(m.cfg.Instance), rev, m.cfg.LeaseTTL)
	switch {
	case err == nil:
		l.mu.Lock()
		o.rev = nrev
		l.mu.Unlock()
	case errors.Is(err, errConflict):
		m.cfg.Logger.Warn().Str("login", l.ref).Msg("lost the lease of a login (it expired and another replica took it over): no longer running it here")
		m.disown(ctx, l, false)
	case ctx.Err() == nil:
		m.cfg.Logger.Warn().Str("login", l.ref).Err(err).Msg("cannot renew the lease of a login")
	}
}

// disown stops running a login here; with release it also hands the
// lease back, so another replica takes it at once.
func (m *Manager) disown(ctx context.Context, l *login, release bool) {
	l.mu.Lock()
	o := l.own
	l.own = nil
	l.mu.Unlock()
	if o == nil {
		return
	}
	o.stop()
	<-o.done
	if !release {
		return
	}
	l.mu.Lock()
	rev := o.rev
	l.mu.Unlock()
	if err := m.bucket.remove(ctx, leaseKey(l.ref), rev); err != nil && !errors.Is(err, errConflict) {
		m.cfg.Logger.Debug().Str("login", l.ref).Err(err).Msg("cannot hand back the lease of a login; it expires")
	}
}

// holds reports whether this process still holds the login's lease, as
// the bucket says (a pause longer than the lease can lose it before the
// next renewal notices).
func (m *Manager) holds(ctx context.Context, l *login) bool {
	val, _, err := m.bucket.get(ctx, leaseKey(l.ref))
	return err == nil && string(val) == m.cfg.Instance
}
