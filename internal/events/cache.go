package events

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// The state cache keeps the states of recently used accounts in memory,
// so that a fetch does not read its account's state from the stream: a
// round trip, and the decoding of the state, saved on most refreshes.
// A cached state is never trusted for more than a guess: every commit
// still carries the sequence of the state it was built on, and the stream
// refuses it when the state moved (another worker's commit). Then the
// entry is dropped, and the fetch reads the state again as after any
// conflict (jobs: commit). To make such conflicts rare, the cache also
// watches the state messages every worker publishes (a plain subscription
// to skattekonto.state.>) and drops an account's entry when another
// process writes its state. With lean commits (lean.go) a state is
// written only when something changed, so this costs little.

// DefaultStateCache is how many accounts' states a Store keeps by default.
const DefaultStateCache = 1024

// stateCache holds states by account; nil is a cache that holds nothing.
type stateCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*cached
	sub     *nats.Subscription
	// hits and misses count Load's lookups.
	hits, misses atomic.Int64
}

type cached struct {
	st  State
	seq uint64
	// at is where the account stands (its last event may follow the state:
	// lean commits); stored is when the state was stored.
	at     position
	stored time.Time
	// wrote is set when this process stored st itself on top of the
	// state at base: a state message built on base is its own (or a
	// rival the stream refused) and leaves the entry alone.
	wrote bool
	base  uint64
}

// found is what a cache entry knows beyond the state: where the account
// stood and when its state was stored.
type found struct {
	at     position
	stored time.Time
}

// startCache keeps up to n states (0: DefaultStateCache, negative: none)
// and watches the state messages on nc.
func (s *Store) startCache(nc *nats.Conn, n int) error {
	if n < 0 {
		return nil
	}
	if n == 0 {
		n = DefaultStateCache
	}
	c := &stateCache{max: n, entries: make(map[string]*cached, min(n, 1024))}
	sub, err := nc.Subscribe(contract.StatePrefix+">", c.observe)
	if err != nil {
		return fmt.Errorf("watch states: %w", err)
	}
	// Dropping a notice only costs a conflict later: no limit to hit.
	_ = sub.SetPendingLimits(-1, -1)
	c.sub = sub
	s.cache = c
	return nil
}

func (c *stateCache) close() {
	if c != nil && c.sub != nil {
		_ = c.sub.Unsubscribe()
	}
}

// get returns a copy of the account's cached state and its sequence.
func (c *stateCache) get(acct string) (State, uint64, bool) {
	if c == nil {
		return State{}, 0, false
	}
	c.mu.Lock()
	e, ok := c.entries[acct]
	var st State
	var seq uint64
	if ok {
		st, seq = e.st.clone(), e.seq
	}
	c.mu.Unlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return st, seq, ok
}

// put caches st, stored at seq, with what f knows; wrote and base as in
// cached. When full, an arbitrary entry makes room.
func (c *stateCache) put(acct string, st State, seq uint64, f found, wrote bool, base uint64) {
	if c == nil {
		return
	}
	e := &cached{st: st.clone(), seq: seq, at: f.at, stored: f.stored, wrote: wrote, base: base}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[acct]; !ok && len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[acct] = e
}

// keep caches a state this process stored at seq on top of the state at
// base, as the stream holds it (encoded and decoded: what Load would read).
func (c *stateCache) keep(acct string, st *State, seq uint64, f found, base uint64) {
	if c == nil {
		return
	}
	b, err := st.Encode()
	var stored State
	if err == nil {
		stored, err = DecodeState(b)
	}
	if err != nil {
		c.drop(acct)
		return
	}
	c.put(acct, stored, seq, f, true, base)
}

// found returns what the entry of the account's state at seq knows; ok
// is false when the cache holds no such entry.
func (c *stateCache) found(acct string, seq uint64) (f found, ok bool) {
	if c == nil {
		return f, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[acct]
	if !ok || e.seq != seq || e.at.state != seq {
		return f, false
	}
	return found{at: e.at, stored: e.stored}, true
}

// drop forgets the account's state.
func (c *stateCache) drop(acct string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.entries, acct)
	c.mu.Unlock()
}

// observe sees a state message published by any process (stored or
// not) and drops the account's entry unless this process wrote it.
func (c *stateCache) observe(m *nats.Msg) {
	acct := strings.TrimPrefix(m.Subject, contract.StatePrefix)
	base, err := strconv.ParseUint(m.Header.Get(jetstream.ExpectedLastSubjSeqHeader), 10, 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[acct]
	if !ok || (err == nil && e.wrote && base == e.base) {
		return
	}
	delete(c.entries, acct)
}

// clone returns a copy of s that shares no list or map with it (the
// elements are copied; what they point to is never changed in place).
// TestStateClone fails when a list or map field is missing here.
func (s State) clone() State {
	s.Problems = maps.Clone(s.Problems)
	s.Known = slices.Clone(s.Known)
	s.Upcoming = slices.Clone(s.Upcoming)
	s.Blocks = slices.Clone(s.Blocks)
	s.FetchedAt = maps.Clone(s.FetchedAt)
	s.Unavailable = maps.Clone(s.Unavailable)
	s.Fetches = slices.Clone(s.Fetches)
	return s
}
