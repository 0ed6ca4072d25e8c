package events

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Lean commits. Most fetches change nothing: the account's state would be
// rewritten only for its bookkeeping (the generation, the fetch id, when
// the balance and the transactions were last called). Such a fetch stores
// its FetchCompleted alone, one message that the stream accepts only
// while the account's last event is still where the fetch found it
// (Nats-Expected-Last-Subject-Sequence on the account's events): no state
// message. Concurrent fetches' lean commits go out together in the group
// committer's atomic batches (group.go), each message with its own
// condition: the server syncs a batch to disk once, where plain publishes
// cost a disk sync each; a lean commit alone is a plain publish.
//
// What the state no longer records, the fetch id, is what tells a
// redelivered request that its fetch is done. Two things stand in for it:
// the closing event's id comes from the fetch id, so a redelivery inside
// the stream's duplicate window publishes a duplicate the stream drops;
// and a redelivered request first looks for its fetch's FetchCompleted
// among the account's answers stored since the request (Answered), which
// holds also after the window. docs/exactly-once.md has the whole argument.

// bookkeepingOps are the operations whose last call time a lean commit
// leaves unstored: they are called on every refresh. The slow operations'
// times decide whether they are called at all, so they are stored.
var bookkeepingOps = []string{contract.OpSaldo, contract.OpTransaktioner}

// onlyBookkeeping reports whether next differs from prev in nothing but
// the generation, the recent fetch ids and the bookkeeping operations'
// call times (an empty list or map and none are the same). A field it
// does not know of counts as a change.
func onlyBookkeeping(prev, next *State) bool {
	a, b := *prev, *next
	for _, s := range []*State{&a, &b} {
		s.V, s.Generation, s.Fetches = 0, 0, nil
		if len(s.FetchedAt) > 0 {
			s.FetchedAt = maps.Clone(s.FetchedAt)
			for _, op := range bookkeepingOps {
				delete(s.FetchedAt, op)
			}
		}
		noEmpty(reflect.ValueOf(s).Elem())
	}
	return reflect.DeepEqual(&a, &b)
}

// noEmpty sets the empty lists and maps among the fields of struct v to nil.
func noEmpty(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.Len() == 0 && f.CanSet() {
			f.SetZero()
		}
	}
}

// leanHorizon is how long after its state was stored an account's fetches
// may be lean: a state is stored at least this often, which bounds the
// answers that follow it in the stream (read after a conflict, tail.go).
const leanHorizon = time.Hour

// lean reports whether the commit, taking the account from prev to next,
// can be stored as a lean commit: a successful fetch of a request alone
// (a coalesced round records its members' fetch ids in the state), no
// change, no problem reported, on a state that exists. Commit also wants
// the state read through the cache (which knows where the account's last
// event is) and stored less than leanHorizon ago.
func (c *Commit) lean(prev, next *State) bool {
	if c.seq == 0 || c.problem != nil || len(c.coalesced) > 0 || c.closing.Type != TypeFetchCompleted {
		return false
	}
	if c.result != nil && len(c.result.Events) > 0 {
		return false
	}
	return onlyBookkeeping(prev, next)
}

// publishLean stores the closing event alone, on condition that the
// account's last event is still the one at: no commit came since (every
// commit stores an event, and its state after its events), and where the
// next commit will expect it (tail.go). It returns the event's sequence. A
// duplicate (an earlier delivery's publish, inside the duplicate window)
// is success.
func (s *Store) publishLean(ctx context.Context, acct string, at position, closing *Event) (uint64, error) {
	m, err := closing.Msg()
	if err != nil {
		return 0, err
	}
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(at.lastEvent, 10))
	m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, contract.AccountEvents(acct))
	var seq uint64
	if s.group != nil {
		// With other commits in one atomic batch: the server syncs a
		// batch to disk once, a lone publish once per message.
		seq, err = s.group.commit(ctx, []*nats.Msg{m})
	} else {
		seq, err = s.publishOne(ctx, m)
	}
	if err != nil {
		if IsConflict(err) {
			return 0, fmt.Errorf("commit %s: %w (%v)", closing.Type, ErrConflict, err)
		}
		return 0, fmt.Errorf("commit %s: %w", closing.Type, err)
	}
	return seq, nil
}

// publishOne stores one message with a plain publish (no batch). A
// duplicate (an earlier delivery's publish, inside the duplicate window)
// is success, with the original's sequence.
func (s *Store) publishOne(ctx context.Context, m *nats.Msg) (uint64, error) {
	clearBatch(m)
	ack, err := s.js.PublishMsg(ctx, m)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// FetchCompletedID is the id of the FetchCompleted that closes the fetch
// fetchID of the account acct.
func FetchCompletedID(acct, fetchID string) string {
	return NewID(acct, TypeFetchCompleted, fetchID)
}

// answeredPage is how many stored answers one read of Answered returns.
const answeredPage = 100

// Answered reports whether the account's FetchCompleted with id is in the
// stream, stored at or after since: it reads the account's FetchCompleted
// events from since on. A redelivered request calls it to learn whether
// an earlier delivery's lean commit stored its answer.
func (s *Store) Answered(ctx context.Context, acct, id string, since time.Time) (bool, error) {
	subj := contract.EventSubject(acct, string(TypeFetchCompleted))
	name := s.stream.CachedInfo().Config.Name
	opts := []jetstreamext.GetBatchOpt{jetstreamext.GetBatchSubject(subj), jetstreamext.GetBatchStartTime(since)}
	for {
		msgs, err := jetstreamext.GetBatch(ctx, s.js, name, answeredPage, opts...)
		if err != nil {
			return false, fmt.Errorf("read answers: %w", err)
		}
		var n int
		var last uint64
		for m, err := range msgs {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break
			}
			if err != nil {
				return false, fmt.Errorf("read answers: %w", err)
			}
			if m.Header.Get(nats.MsgIdHdr) == id {
				return true, nil
			}
			n, last = n+1, m.Sequence
		}
		if n < answeredPage {
			return false, nil
		}
		opts = []jetstreamext.GetBatchOpt{jetstreamext.GetBatchSubject(subj), jetstreamext.GetBatchSeq(last + 1)}
	}
}
