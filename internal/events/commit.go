package events

import (
	"context"
	"fmt"
	"slices"
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
// so a crash between them loses nothing and repeats nothing. It returns
// the sequence of the new state, or ErrConflict when the state moved.
func (s *Store) Commit(ctx context.Context, c Commit) (uint64, error) {
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
	seq := c.seq
	gen := prev.Generation
	// Intermediate batches: only new transactions, with partial states.
	for start := 0; start < newTx-inFinal; {
		end := min(start+maxBatch-1, newTx-inFinal)
		gen++
		partial := c.result.Partial(end)
		partial.Generation = gen
		var err error
		seq, err = s.publish(ctx, acct, seq, events[start:end], nil, &partial)
		if err != nil {
			return 0, err
		}
		start = end
	}
	next.Generation = gen + 1
	next.recordFetch(append([]string{c.closing.FetchID}, c.coalesced...))
	next.Problems = c.problem.recorded(next.Problems)
	next.FetchedAt = mergeMap(next.FetchedAt, c.fetchedAt)
	final := events[newTx-inFinal:]
	if c.problem != nil {
		final = append(slices.Clone(final), c.problem.Event)
	}
	return s.publish(ctx, acct, seq, final, &c.closing, &next)
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
	for try := 0; try < maxCommitTries; try++ {
		st, seq, err := s.Load(ctx, r.Event.Subject)
		if err != nil {
			return false, err
		}
		if r.reported(st.Problems) {
			return false, nil
		}
		next := st
		next.Generation++
		next.Problems = r.recorded(st.Problems)
		_, err = s.publish(ctx, r.Event.Subject, seq, nil, &r.Event, &next)
		if err == nil {
			return true, nil
		}
		if !IsConflict(err) {
			return false, err
		}
	}
	return false, fmt.Errorf("report %s: %w", r.kind, ErrConflict)
}
