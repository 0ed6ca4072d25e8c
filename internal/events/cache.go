package events

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The state cache keeps the states of recently used accounts in memory,
// so that a fetch does not read its account's state from the stream: a
// round trip, and the decoding of the state, saved on most refreshes.
// A cached state is never trusted for more than a guess: every commit
// still carries the sequence of the state it was built on (and where the
// account's last event is), and the stream refuses it when another
// worker's commit came first. Then the entry is dropped, and the fetch
// reads the state again as after any conflict (jobs: commit). With lean
// commits (lean.go) a state is written only when something changed, so a
// cached state is seldom stale, even with several workers.
//
// (A subscription to the state subjects could drop an entry as soon as
// another worker writes the account's state; the worker's NATS role does
// not allow it, and a stale entry costs no more than a conflict.)

// DefaultStateCache is how many accounts' states a Store keeps by default.
const DefaultStateCache = 1024

// stateCache holds states by account; nil is a cache that holds nothing.
type stateCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*cached
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
}

// found is what a cache entry knows beyond the state: where the account
// stood and when its state was stored.
type found struct {
	at     position
	stored time.Time
}

// startCache keeps up to n states (0: DefaultStateCache, negative: none).
func (s *Store) startCache(n int) {
	if n < 0 {
		return
	}
	if n == 0 {
		n = DefaultStateCache
	}
	s.cache = &stateCache{max: n, entries: make(map[string]*cached, min(n, 1024))}
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

// put caches st, stored at seq, with what f knows. When full, an
// arbitrary entry makes room.
func (c *stateCache) put(acct string, st State, seq uint64, f found) {
	if c == nil {
		return
	}
	e := &cached{st: st.clone(), seq: seq, at: f.at, stored: f.stored}
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

// keep caches a state this process stored at seq as the stream holds it
// (encoded and decoded: what Load would read).
func (c *stateCache) keep(acct string, st *State, seq uint64, f found) {
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
	c.put(acct, stored, seq, f)
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
