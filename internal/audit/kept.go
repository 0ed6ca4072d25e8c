package audit

import (
	"sync"
	"time"
)

// DefaultKeptCache is how many answers a Store remembers as kept by
// default: about 100 bytes each.
const DefaultKeptCache = 8192

// KeptRecheck is how long an answer seen in the bucket is trusted to be
// there before it is looked up again: an object someone deleted is kept
// anew within this time of the next fetch that brings it.
const KeptRecheck = 10 * time.Minute

// keptCache remembers which answers are in the bucket and when they were
// stored. It forgets the oldest entry first when full. A nil cache
// remembers nothing.
type keptCache struct {
	mu     sync.Mutex
	max    int
	maxAge time.Duration
	byHash map[string]keptEntry
	order  []string // hashes in the order added; a ring of max entries
	next   int
}

type keptEntry struct {
	stored, seen time.Time
}

// newKeptCache remembers up to n answers (0: DefaultKeptCache, negative:
// none) of a bucket whose objects live maxAge (0: forever).
func newKeptCache(n int, maxAge time.Duration) *keptCache {
	if n < 0 {
		return nil
	}
	if n == 0 {
		n = DefaultKeptCache
	}
	return &keptCache{max: n, maxAge: maxAge, byHash: make(map[string]keptEntry, n), order: make([]string, 0, n)}
}

// fresh reports whether the answer sum is known to be in the bucket,
// looked at within KeptRecheck and young enough (half the retention) to
// be cited again without storing it anew.
func (k *keptCache) fresh(sum string, now time.Time) bool {
	if k == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.byHash[sum]
	if !ok {
		return false
	}
	return now.Sub(e.seen) < KeptRecheck && (k.maxAge == 0 || now.Sub(e.stored) < k.maxAge/2)
}

// add remembers that sum, stored at stored, was in the bucket at now.
func (k *keptCache) add(sum string, stored, now time.Time) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.byHash[sum]; !ok {
		if len(k.order) < k.max {
			k.order = append(k.order, sum)
		} else {
			delete(k.byHash, k.order[k.next])
			k.order[k.next] = sum
			k.next = (k.next + 1) % k.max
		}
	}
	k.byHash[sum] = keptEntry{stored: stored, seen: now}
}
