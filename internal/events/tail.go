package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// An account's commit stores its events and then its state, in one
// batch: the account's last event sits just before its state. After a
// power loss the stream can hold events of an account after its state (a
// batch cut short on disk, events kept and their state lost). Each commit
// checks this for free: its first event expects the account's last event
// where the state says it is (Nats-Expected-Last-Subject-Sequence on the
// account's events), and JetStream refuses the batch otherwise. The
// commit then reads the events after the state, does not publish again
// the ones it would repeat, and commits the rest on top of them.

// position is where an account stands in the stream: the sequence of its
// state message and that of its last event (0: none).
type position struct {
	state, lastEvent uint64
}

// storedAt is where an account whose state is at seq stands when its last
// commit stored events before that state, as every commit does.
func storedAt(seq uint64) position {
	if seq == 0 {
		return position{}
	}
	return position{state: seq, lastEvent: seq - 1}
}

// StaleState tells that a commit found events of an account stored after
// the account's state: the state is older than events already in the
// stream, which a power loss leaves behind. The commit published none of
// those events again and stored the rest with a new state.
type StaleState struct {
	// Account is the account (its canonical omfragad, unmasked).
	Account string
	// StateSeq is the sequence of the account's state.
	StateSeq uint64
	// After counts the account's events stored after the state by a
	// batch whose state is missing; Repeated those of them the commit
	// would have published again, and did not.
	After, Repeated int
}

// tail is what follows an account's state in the stream.
type tail struct {
	// ids are the Nats-Msg-Id of the account's events after the state.
	ids map[string]bool
	// cut counts those of them stored by a batch (whose state is
	// missing), not published alone (the FetchFailed of a request given
	// up, which has no state).
	cut int
	// last is the sequence of the account's last event, 0 when none.
	last uint64
}

// batchIDHeader marks the messages stored by an atomic batch.
const batchIDHeader = "Nats-Batch-Id"

// cutShort reports whether an event after the state, with headers h,
// is one of a commit that lost its state: stored by an atomic batch, and
// not a lean commit (lean.go), which leaves the state alone and may share
// a batch with other accounts' commits. A lean commit's message is the
// only one that names the account's events as the subject of its
// expected sequence.
func cutShort(h nats.Header) bool {
	return h.Get(batchIDHeader) != "" && h.Get(jetstream.ExpectedLastSubjSeqSubjHeader) == ""
}

// tailPage is how many events one read of a tail asks for.
const tailPage = 256

// tailAfter reads the account's events stored after its state at seq. It
// reports moved, and reads nothing, when the state is no longer at seq:
// another commit came first.
func (s *Store) tailAfter(ctx context.Context, acct string, seq uint64) (t tail, moved bool, err error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, contract.StateSubject(acct))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		if seq != 0 {
			return tail{}, true, nil
		}
	case err != nil:
		return tail{}, false, fmt.Errorf("load state: %w", err)
	case m.Sequence != seq:
		return tail{}, true, nil
	}
	name := s.stream.CachedInfo().Config.Name
	filter := contract.AccountEvents(acct)
	t.ids = map[string]bool{}
	for from := seq + 1; ; {
		page, err := jetstreamext.GetBatch(ctx, s.js, name, tailPage,
			jetstreamext.GetBatchSeq(from), jetstreamext.GetBatchSubject(filter))
		if err != nil {
			return tail{}, false, fmt.Errorf("read events after the state: %w", err)
		}
		n := 0
		for m, err := range page {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break
			}
			if err != nil {
				return tail{}, false, fmt.Errorf("read events after the state: %w", err)
			}
			n++
			t.ids[m.Header.Get(jetstream.MsgIDHeader)] = true
			if cutShort(m.Header) {
				t.cut++
			}
			t.last, from = m.Sequence, m.Sequence+1
		}
		if n < tailPage {
			break
		}
	}
	// A commit that came first may have landed while the tail was read
	// (its events before its state): then the state has moved.
	if m, err := s.stream.GetLastMsgForSubject(ctx, contract.StateSubject(acct)); err == nil && m.Sequence != seq {
		return tail{}, true, nil
	}
	if t.last == 0 {
		// Nothing after the state: the last event is before it, where
		// the state did not say (a commit that stored no event, or
		// events removed by the stream's limits).
		if t.last, err = s.lastEvent(ctx, name, filter); err != nil {
			return tail{}, false, err
		}
	}
	return t, false, nil
}

// lastEvent returns the sequence of the last message matching filter, 0
// when there is none.
func (s *Store) lastEvent(ctx context.Context, stream, filter string) (uint64, error) {
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, s.js, stream, []string{filter})
	if err != nil {
		return 0, fmt.Errorf("read the last event: %w", err)
	}
	var last uint64
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read the last event: %w", err)
		}
		last = max(last, m.Sequence)
	}
	return last, nil
}

// answersRound reports whether the tail holds the lean answer of a
// request of c's round of several (of its lead, or of a member): another
// replica that held the request too answered it since c's state was
// read. Storing c on top would answer it twice, or, when it is c's lead,
// drop c's closing event (its id is there already) and leave the other
// members unanswered. A request alone whose answer is there is c's own
// earlier attempt (a lost reply): c is stored on top without it.
func (t *tail) answersRound(c *Commit) bool {
	if len(c.coalesced) == 0 {
		return false
	}
	if t.ids[c.closing.ID] {
		return true
	}
	for _, id := range c.coalesced {
		if t.ids[FetchCompletedID(c.closing.Subject, id)] {
			return true
		}
	}
	return false
}

// repeated counts the events of evs whose ids t holds.
func (t *tail) repeated(evs []Event) int {
	n := 0
	for i := range evs {
		if t.ids[evs[i].ID] {
			n++
		}
	}
	return n
}
