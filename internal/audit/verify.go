package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// Answer is a kept answer to replay: its operation, its bytes as
// received and the correlation id of the call that brought it.
type Answer struct {
	Operation     string
	Body          []byte
	CorrelationID string
}

// SnapshotFunc decodes a fetch's kept answers as the worker does
// (jobs.Snapshot).
type SnapshotFunc func(acct string, answers []Answer) (events.Snapshot, error)

// Finding is an event that does not follow from the kept answers, or a
// change the answers show that no stored event reports (EventID "").
type Finding struct {
	EventID, Type, FetchID string
	Problem                string
}

// Report is what Verify found.
type Report struct {
	// Fetches replayed, change events checked.
	Fetches, Checked int
	Findings         []Finding
}

// Verify replays acct's fetches in stream order: it decodes the answers
// each FetchCompleted names (checking their hashes), diffs them with
// events.Diff against the state the replay has reached, from the empty
// state, and compares the change events it gets with those stored (by
// type and data; the booking proposal, a matter of configuration, is
// left out). The replay starts from the oldest event kept: an account
// whose older events have expired shows findings at its start.
func (s *Store) Verify(ctx context.Context, js jetstream.JetStream, stream, acct string, snapshot SnapshotFunc, opt events.Options) (Report, error) {
	evs, err := AccountEvents(ctx, js, stream, acct)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	var prev events.State
	changes := map[string][]Event{} // of each fetch not yet closed
	for _, ev := range evs {
		switch {
		case ev.Type == string(events.TypeAccessProblem):
			continue // the service's own news, not the API's
		case !ev.closing():
			changes[ev.FetchID] = append(changes[ev.FetchID], ev)
			continue
		}
		stored := changes[ev.FetchID]
		delete(changes, ev.FetchID)
		if ev.Type == string(events.TypeFetchFailed) {
			rep.flag(stored, "a failed fetch published it")
			continue
		}
		rep.Fetches++
		rep.Checked += len(stored)
		answers, err := s.answersOf(ctx, &ev)
		if err != nil {
			if errors.Is(err, ErrTampered) || errors.Is(err, ErrNotKept) {
				rep.flag(stored, err.Error())
				continue
			}
			return rep, err
		}
		if len(answers) == 0 {
			rep.flag(stored, "its fetch asked the API nothing")
			continue
		}
		snap, err := snapshot(acct, answers)
		if err != nil {
			rep.flag(stored, fmt.Sprintf("its answers do not decode: %v", err))
			continue
		}
		res := events.Diff(prev, snap, ev.Time, opt)
		prev = res.Next
		if err := rep.compare(stored, res.Events, ev.FetchID); err != nil {
			return rep, err
		}
	}
	for _, open := range changes {
		rep.flag(open, "its fetch has no closing event")
	}
	return rep, nil
}

// answersOf reads the answers a FetchCompleted names: of each operation,
// the last call's, the one the fetch used.
func (s *Store) answersOf(ctx context.Context, closing *Event) ([]Answer, error) {
	calls, err := closing.calls()
	if err != nil {
		return nil, err
	}
	last := map[string]events.Call{}
	var order []string
	for _, c := range calls {
		if _, ok := last[c.Operation]; !ok {
			order = append(order, c.Operation)
		}
		last[c.Operation] = c
	}
	var out []Answer
	for _, op := range order {
		c := last[op]
		if c.Sha256 == "" {
			return nil, fmt.Errorf("call %s of %s names no answer: %w", c.CorrelationID, op, ErrNotKept)
		}
		b, _, err := s.Answer(ctx, c.Sha256)
		if err != nil {
			return nil, err
		}
		out = append(out, Answer{Operation: op, Body: b, CorrelationID: c.CorrelationID})
	}
	return out, nil
}

// flag reports each event with problem.
func (r *Report) flag(evs []Event, problem string) {
	for _, e := range evs {
		r.Findings = append(r.Findings, Finding{EventID: e.ID, Type: e.Type, FetchID: e.FetchID, Problem: problem})
	}
}

// compare matches the stored change events of a fetch with the replay's.
func (r *Report) compare(stored []Event, replayed []events.Event, fetchID string) error {
	want := map[string][]int{} // replayed events by key
	for i := range replayed {
		b, err := json.Marshal(replayed[i].Data)
		if err != nil {
			return fmt.Errorf("audit: encode replayed %s: %w", replayed[i].Type, err)
		}
		k := key(string(replayed[i].Type), b)
		want[k] = append(want[k], i)
	}
	used := make([]bool, len(replayed))
	for _, e := range stored {
		k := key(e.Type, e.Data)
		if idx := want[k]; len(idx) > 0 {
			used[idx[0]], want[k] = true, idx[1:]
			continue
		}
		r.flag([]Event{e}, "does not follow from the answers of its fetch")
	}
	for i, u := range used {
		if !u {
			r.Findings = append(r.Findings, Finding{Type: string(replayed[i].Type), FetchID: fetchID, Problem: "the answers show it, but no such event is stored"})
		}
	}
	return nil
}

// key is an event's type with its data in a canonical form, the booking
// proposal left out.
func key(typ string, data []byte) string {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return typ + "\x00" + string(data) // no match unless identical
	}
	delete(m, "voucher")
	b, _ := json.Marshal(m) // map keys sorted
	return typ + "\x00" + string(bytes.TrimSpace(b))
}
