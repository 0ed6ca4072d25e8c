package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// ErrEventNotFound is returned when no stored event has the id asked for.
var ErrEventNotFound = errors.New("audit: event not found")

// Event is a stored event as the audit reads it.
type Event struct {
	Seq           uint64
	ID            string          `json:"id"`
	Type          string          `json:"type"` // without contract.TypePrefix
	Subject       string          `json:"subject"`
	FetchID       string          `json:"fetchid"`
	CorrelationID string          `json:"correlationid"`
	Time          time.Time       `json:"time"`
	Data          json.RawMessage `json:"data"`
}

// closing reports whether the event closes a fetch.
func (e *Event) closing() bool {
	return e.Type == string(events.TypeFetchCompleted) || e.Type == string(events.TypeFetchFailed)
}

// calls are the calls a closing event lists.
func (e *Event) calls() ([]events.Call, error) {
	var d struct {
		Calls []events.Call `json:"calls"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return nil, fmt.Errorf("audit: calls of event %s: %w", e.ID, err)
	}
	return d.Calls, nil
}

// readEvents calls fn with each event stored on filter when it starts, in
// stream order, until fn returns false.
func readEvents(ctx context.Context, js jetstream.JetStream, stream, filter string, fn func(*Event) bool) error {
	if stream == "" {
		stream = contract.EventsStream
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return fmt.Errorf("audit: read %s: %w", stream, err)
	}
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			return fmt.Errorf("audit: read %s: %w", stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("audit: read %s: %w", stream, err)
			}
			var e Event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				return fmt.Errorf("audit: event at sequence %d: %w", meta.Sequence.Stream, err)
			}
			e.Seq = meta.Sequence.Stream
			e.Type = strings.TrimPrefix(e.Type, contract.TypePrefix)
			if !fn(&e) {
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("audit: read %s: %w", stream, err)
		}
		if n == 0 {
			return ctx.Err()
		}
	}
}

// AccountEvents returns the events of account acct stored when it
// starts, in stream order.
func AccountEvents(ctx context.Context, js jetstream.JetStream, stream, acct string) ([]Event, error) {
	var out []Event
	err := readEvents(ctx, js, stream, contract.AccountEvents(acct), func(e *Event) bool {
		out = append(out, *e)
		return true
	})
	return out, err
}

// FindEvent returns the stored event with id, searching the events of
// acct, or every account's when acct is "".
func FindEvent(ctx context.Context, js jetstream.JetStream, stream, id, acct string) (Event, error) {
	filter := contract.AllEvents
	if acct != "" {
		filter = contract.AccountEvents(acct)
	}
	var found *Event
	err := readEvents(ctx, js, stream, filter, func(e *Event) bool {
		if e.ID == id {
			found = e
			return false
		}
		return true
	})
	if err != nil {
		return Event{}, err
	}
	if found == nil {
		return Event{}, fmt.Errorf("event %s: %w", id, ErrEventNotFound)
	}
	return *found, nil
}

// accountFilter is the filter of the events of the account an event's
// subject names.
func accountFilter(subject string) string { return contract.AccountEvents(subject) }
