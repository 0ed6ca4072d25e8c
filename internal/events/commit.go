package events

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// maxCommitTries bounds re-reading a state that keeps moving.
const maxCommitTries = 5

// Commit is what one fetch stores, all of it or nothing: the event that
// closes the fetch, the change events of its diff when it made one, an
// AccessProblem it reports, and the state that accounts for them, which
// records the fetch as done. The account and the fetch are the closing
// event's. Make one with Changes, Unchanged or Failed.
type Commit struct {
	// seq is the sequence of the state the fetch read (0: none).
	seq uint64
	// base is that state, for a commit without a diff; a diff carries
	// its own.
	base   State
	result *Result
	// closing is the FetchCompleted or FetchFailed event.
	closing Event
	// coalesced are the fetch ids of the other requests the fetch served.
	coalesced []string
	// fetchedAt records, per operation called, when its call started.
	fetchedAt map[string]int64
	problem   *ProblemReport
}

// Changes commits a diff: the events of res, which was diffed from the
// state stored at seq, closed by a FetchCompleted, and res.Next.
// fetchedAt records when each operation's call started; coalesced are the
// fetch ids of the other requests the fetch served.
func Changes(seq uint64, res *Result, fetchedAt map[string]int64, closing Event, coalesced ...string) Commit {
	return Commit{seq: seq, result: res, fetchedAt: fetchedAt, closing: closing, coalesced: coalesced}
}

// Unchanged commits a fetch that asked the API nothing, closed by a
// FetchCompleted: st, stored at seq, stays as it is but for the fetch.
func Unchanged(seq uint64, st State, closing Event, coalesced ...string) Commit {
	return Commit{seq: seq, base: st, closing: closing, coalesced: coalesced}
}

// Failed commits a fetch closed by a FetchFailed against st, stored at
// seq, with the AccessProblem the failure shows (nil when none): the
// problem's key is recorded in the state so that it goes out once.
func Failed(seq uint64, st State, closing Event, problem *ProblemReport, coalesced ...string) Commit {
	return Commit{seq: seq, base: st, closing: closing, problem: problem, coalesced: coalesced}
}

// Events returns the events the commit publishes, in order: the changes,
// the problem reported, and the closing event.
func (c *Commit) Events() []Event {
	var out []Event
	if c.result != nil {
		out = append(out, c.result.Events...)
	}
	if c.problem != nil {
		out = append(out, c.problem.Event)
	}
	return append(out, c.closing)
}

// Commit stores the events and the new state atomically: all of them or
// none. A large first fetch is stored in several batches, each with the
// state that accounts for exactly what it and the batches before it hold,
// so a crash between them loses nothing and repeats nothing. A fetch that
// changed nothing but bookkeeping stores its closing event alone (a lean
// commit, lean.go). It returns the sequence of the new state (the one read
// after a lean commit), or ErrConflict when the state moved.
//
// When the stream holds events of the account after its state (left by a
// power loss, tail.go, or by lean commits), Commit publishes none of them
// again, stores the rest on top of them and, for events a cut batch left,
// tells StoreConfig.OnStaleState.
func (s *Store) Commit(ctx context.Context, c Commit) (uint64, error) {
	f, known := s.cache.found(c.closing.Subject, c.seq)
	at := storedAt(c.seq)
	if known {
		at = f.at
	}
	var skip map[string]bool
	for try := 1; ; try++ {
		seq, err := s.commit(ctx, c, at, skip, known && c.seq != 0 && time.Since(f.stored) < leanHorizon)
		if err == nil || !IsConflict(err) || try == maxCommitTries {
			if err != nil {
				// Whatever the state is now, it is not what the cache holds.
				s.cache.drop(c.closing.Subject)
			}
			return seq, err
		}
		t, moved, terr := s.tailAfter(ctx, c.closing.Subject, c.seq)
		if terr != nil || moved || t.answersRound(&c) {
			// Another fetch committed, or answered lean one of the
			// requests this commit answers: the caller reads again which
			// of its requests are answered.
			s.cache.drop(c.closing.Subject)
			return 0, err
		}
		if skip == nil && t.cut > 0 {
			s.staleState(StaleState{Account: c.closing.Subject, StateSeq: c.seq, After: t.cut, Repeated: t.repeated(c.Events())})
		}
		skip, at.lastEvent = t.ids, t.last
	}
}

// commit is one attempt of Commit from the account's position at; it may
// be lean (lean.go) when mayLean.
func (s *Store) commit(ctx context.Context, c Commit, at position, skip map[string]bool, mayLean bool) (uint64, error) {
	acct := c.closing.Subject
	prev, next := c.base, c.base
	var events []Event
	newTx := 0
	if c.result != nil {
		prev, next = c.result.prev, c.result.Next
		events = c.result.Events
		newTx = c.result.NewTransactions()
	}
	rest := len(events) - newTx // change events that must go in the final batch
	if rest+2 > maxBatch {
		return 0, fmt.Errorf("%w: %d", ErrTooManyChanges, rest)
	}
	inFinal := min(newTx, maxBatch-2-rest)
	gen := prev.Generation
	// Intermediate batches: only new transactions, with partial states.
	for start := 0; start < newTx-inFinal; {
		end := min(start+maxBatch-1, newTx-inFinal)
		gen++
		partial := c.result.Partial(end)
		partial.Generation = gen
		var err error
		at, err = s.publish(ctx, acct, at, events[start:end], nil, &partial, skip)
		if err != nil {
			return 0, err
		}
		start = end
	}
	next.Generation = gen + 1
	next.recordFetch(append([]string{c.closing.FetchID}, c.coalesced...))
	next.Problems = c.problem.recorded(next.Problems)
	next.FetchedAt = mergeMap(next.FetchedAt, c.fetchedAt)
	if mayLean && c.lean(&prev, &next) {
		// Nothing but bookkeeping changed: the state stays as stored.
		if skip[c.closing.ID] {
			return at.state, nil // stored already (its reply was lost)
		}
		last, err := s.publishLean(ctx, acct, at, &c.closing)
		if err != nil {
			return 0, err
		}
		// The process remembers the stored state with the bookkeeping (the
		// fetch id, when the calls were made) and where the account's last
		// event now is; the generation is the stored state's.
		kept := prev
		kept.Fetches, kept.FetchedAt = next.Fetches, next.FetchedAt
		f, _ := s.cache.found(acct, at.state)
		f.at = position{state: at.state, lastEvent: last}
		s.cache.put(acct, kept, at.state, f)
		return at.state, nil
	}
	final := events[newTx-inFinal:]
	if c.problem != nil {
		final = append(slices.Clone(final), c.problem.Event)
	}
	at, err := s.publish(ctx, acct, at, final, &c.closing, &next, skip)
	if err != nil {
		return 0, err
	}
	s.cache.keep(acct, &next, at.state, found{at: at, stored: time.Now()})
	return at.state, nil
}

// mergeMap returns a new map with a's entries overwritten by b's (a
// itself when b is empty).
func mergeMap[V any](a, b map[string]V) map[string]V {
	if len(b) == 0 {
		return a
	}
	out := make(map[string]V, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// ReportProblem publishes a deployment-wide AccessProblem at most once
// per kind and key: the key (a day) is recorded in the state of the
// report's subject in the same atomic batch as the event, so replicas
// that see the same problem at once publish it once. It reports whether
// this call published it.
func (s *Store) ReportProblem(ctx context.Context, r ProblemReport) (bool, error) {
	key := r.Event.Subject
	var o over
	for try := 0; try < maxCommitTries; try++ {
		st, seq, err := s.Load(ctx, key)
		if err != nil {
			return false, err
		}
		if r.reported(st.Problems) {
			return false, nil
		}
		next := st
		next.Generation++
		next.Problems = r.recorded(st.Problems)
		err = s.publishOver(ctx, key, seq, &o, &r.Event, &next)
		if err == nil {
			return true, nil
		}
		if !IsConflict(err) {
			return false, err
		}
	}
	return false, fmt.Errorf("report %s: %w", r.kind, ErrConflict)
}

// over is what the attempts of a commit of one key's state (re-read each
// time) learn of the key's events after that state (tail.go).
type over struct {
	// skip are the ids of the events after the state.
	skip map[string]bool
	// last maps a state's sequence to its key's last event, where that
	// is not just before the state.
	last map[uint64]uint64
}

// publishOver publishes closing (nil: none) with next on top of key's state
// stored at seq. When JetStream refuses it and the state has not moved, it
// learns into o what follows the state, for the next attempt.
func (s *Store) publishOver(ctx context.Context, key string, seq uint64, o *over, closing *Event, next *State) error {
	at := storedAt(seq)
	if last, ok := o.last[seq]; ok {
		at.lastEvent = last
	}
	_, err := s.publish(ctx, key, at, nil, closing, next, o.skip)
	if err == nil || !IsConflict(err) {
		return err
	}
	if t, moved, terr := s.tailAfter(ctx, key, seq); terr == nil && !moved {
		if o.skip == nil && t.cut > 0 {
			var evs []Event
			if closing != nil {
				evs = []Event{*closing}
			}
			s.staleState(StaleState{Account: key, StateSeq: seq, After: t.cut, Repeated: t.repeated(evs)})
		}
		if o.last == nil {
			o.last = map[uint64]uint64{}
		}
		o.skip, o.last[seq] = t.ids, t.last
	}
	return err
}
