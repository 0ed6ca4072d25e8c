package audit

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// Proof is the evidence behind an event: a call of its fetch and the
// answer it brought, its hash checked.
type Proof struct {
	Call events.Call
	// Body is the answer as received; Err says why it cannot be shown
	// (ErrNotKept, ErrTampered, a call that brought no answer).
	Body []byte
	Err  error
}

// Shown is an event with the evidence behind it.
type Shown struct {
	Event   Event
	Closing Event
	// Proofs are the answers that showed the event: the call whose
	// correlation id the event carries, or for an event without one (the
	// fetch's closing event) every call of the fetch.
	Proofs []Proof
}

// Show finds the event with id (among acct's events, or every account's
// when acct is ""), the event that closed its fetch, and the answers
// behind it.
func (s *Store) Show(ctx context.Context, js jetstream.JetStream, stream, id, acct string) (Shown, error) {
	ev, err := FindEvent(ctx, js, stream, id, acct)
	if err != nil {
		return Shown{}, err
	}
	sh := Shown{Event: ev}
	if ev.closing() {
		sh.Closing = ev
	} else {
		err := readEvents(ctx, js, stream, accountFilter(ev.Subject), func(e *Event) bool {
			if e.FetchID == ev.FetchID && e.closing() {
				sh.Closing = *e
				return false
			}
			return true
		})
		if err != nil {
			return Shown{}, err
		}
		if sh.Closing.ID == "" {
			return sh, fmt.Errorf("event %s: fetch %s has no closing event", id, ev.FetchID)
		}
	}
	calls, err := sh.Closing.calls()
	if err != nil {
		return Shown{}, err
	}
	for _, c := range calls {
		if ev.CorrelationID != "" && c.CorrelationID != ev.CorrelationID {
			continue
		}
		p := Proof{Call: c}
		if c.Sha256 == "" {
			p.Err = fmt.Errorf("call %s: %w: no answer was kept", c.CorrelationID, ErrNotKept)
		} else {
			p.Body, _, p.Err = s.Answer(ctx, c.Sha256)
		}
		sh.Proofs = append(sh.Proofs, p)
	}
	if len(sh.Proofs) == 0 {
		return sh, fmt.Errorf("event %s: its call %s is not among its fetch's calls: %w", id, ev.CorrelationID, ErrNotKept)
	}
	return sh, nil
}
