package webhooks

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Delivery is an event Replay delivered.
type Delivery struct {
	ID       string
	Subject  string
	Sequence uint64 // in the events stream
	Stored   time.Time
	Answer   Answer
}

// ReplayError is the delivery a replay stopped at: a new replay from
// Stored resumes there.
type ReplayError struct {
	Delivery
	Err error
}

func (e *ReplayError) Error() string {
	return fmt.Sprintf("event %s (stored %s): %v", e.ID, e.Stored.UTC().Format(time.RFC3339Nano), e.Err)
}

func (e *ReplayError) Unwrap() error { return e.Err }

// Replay delivers again, to ep and in the order stored, the events of
// ep's subjects stored since since, each signed as the worker signs it.
// It reads the stream through an ephemeral ordered consumer, so the
// endpoint's durable consumer is left alone. It stops after the last
// event stored when it began, or at the first attempt that fails (a
// *ReplayError); each is called after every delivery. It returns the
// number delivered.
func Replay(ctx context.Context, js jetstream.JetStream, client *http.Client, ep *Endpoint, since time.Time, each func(Delivery)) (int, error) {
	cons, err := js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: ep.Subjects,
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &since,
	})
	if err != nil {
		return 0, fmt.Errorf("replay %s: read %s: %w", ep.Name, contract.EventsStream, err)
	}
	pending := cons.CachedInfo().NumPending
	n := 0
	for uint64(n) < pending {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			return n, fmt.Errorf("replay %s: %w", ep.Name, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return n, fmt.Errorf("replay %s: %w", ep.Name, err)
		}
		d := Delivery{ID: eventID(msg), Subject: msg.Subject(), Sequence: md.Sequence.Stream, Stored: md.Timestamp}
		if d.ID == "" {
			return n, &ReplayError{Delivery: d, Err: fmt.Errorf("%w: the event has no id", errUndeliverable)}
		}
		d.Answer, err = Send(ctx, client, ep, d.ID, msg.Data(), time.Now())
		if err != nil {
			return n, &ReplayError{Delivery: d, Err: err}
		}
		n++
		if each != nil {
			each(d)
		}
	}
	return n, nil
}

// Find returns the endpoint called name, or nil.
func Find(eps []Endpoint, name string) *Endpoint {
	for i := range eps {
		if eps[i].Name == name {
			return &eps[i]
		}
	}
	return nil
}
