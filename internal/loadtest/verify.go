package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// storedEvent is what the checks read of each event in the stream.
type storedEvent struct {
	Seq     uint64
	MsgID   string
	ID      string
	Type    string // without the "skattekonto." prefix
	Subject string
	// RequestIDs are requestid and data.requestIds of an answer.
	RequestIDs    []string
	TransaktionID string
	Current       *balance
	// Reason is a FetchFailed's reason.
	Reason string
}

type balance struct {
	SaldoSkatteverket *int64 `json:"saldoSkatteverket"`
	SaldoKronofogden  *int64 `json:"saldoKronofogden"`
}

func parseEvent(seq uint64, msgID string, body []byte) (storedEvent, error) {
	var ce struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Subject   string          `json:"subject"`
		RequestID string          `json:"requestid"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ce); err != nil {
		return storedEvent{}, fmt.Errorf("event %d: %w", seq, err)
	}
	ev := storedEvent{Seq: seq, MsgID: msgID, ID: ce.ID, Type: strings.TrimPrefix(ce.Type, contract.TypePrefix), Subject: ce.Subject}
	var data struct {
		TransaktionID string   `json:"transaktionId"`
		Current       *balance `json:"current"`
		RequestIDs    []string `json:"requestIds"`
		Reason        string   `json:"reason"`
	}
	switch events.Type(ev.Type) {
	case events.TypeNewTransaction, events.TypeBalanceChanged, events.TypeFetchCompleted, events.TypeFetchFailed:
		if err := json.Unmarshal(ce.Data, &data); err != nil {
			return storedEvent{}, fmt.Errorf("event %d (%s): data: %w", seq, ev.Type, err)
		}
	}
	switch events.Type(ev.Type) {
	case events.TypeNewTransaction:
		ev.TransaktionID = data.TransaktionID
	case events.TypeBalanceChanged:
		ev.Current = data.Current
	case events.TypeFetchCompleted, events.TypeFetchFailed:
		ev.RequestIDs, ev.Reason = data.RequestIDs, data.Reason
		if ce.RequestID != "" && !slices.Contains(ev.RequestIDs, ce.RequestID) {
			ev.RequestIDs = append(ev.RequestIDs, ce.RequestID)
		}
	}
	return ev, nil
}

// readEvents reads every message on skattekonto.events.> with an ordered
// consumer, as many as the stream says it holds there.
func readEvents(ctx context.Context, js jetstream.JetStream) ([]storedEvent, error) {
	st, err := js.Stream(ctx, contract.EventsStream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(contract.AllEvents))
	if err != nil {
		return nil, err
	}
	var want uint64
	for _, n := range info.State.Subjects {
		want += n
	}
	c, err := js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contract.AllEvents}})
	if err != nil {
		return nil, err
	}
	out := make([]storedEvent, 0, want)
	for uint64(len(out)) < want {
		if ctx.Err() != nil {
			return out, fmt.Errorf("read %d of %d events: %w", len(out), want, ctx.Err())
		}
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return out, err
		}
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				return out, err
			}
			ev, err := parseEvent(meta.Sequence.Stream, m.Headers().Get(nats.MsgIdHdr), m.Data())
			if err != nil {
				return out, err
			}
			out = append(out, ev)
		}
		if err := batch.Error(); err != nil && err != jetstream.ErrNoMessages && err != nats.ErrTimeout {
			return out, err
		}
	}
	return out, nil
}

// Verdict is the outcome of the checks after a crash run.
type Verdict struct {
	EventsChecked int `json:"eventsChecked"`
	// Duplicates counts surplus copies of an event id, MsgIDMismatch
	// events whose Nats-Msg-Id differs from their id.
	Duplicates    int `json:"duplicates"`
	MsgIDMismatch int `json:"msgIdMismatch"`
	// NewTransaction events expected, missing and not expected.
	ExpectedTransactions int `json:"expectedTransactions"`
	Missing              int `json:"missing"`
	Unexpected           int `json:"unexpected"`
	// Requests published; Unanswered, AnsweredTwice and Failed of them.
	Requests       int `json:"requests"`
	Unanswered     int `json:"unanswered"`
	AnsweredTwice  int `json:"answeredTwice"`
	Failed         int `json:"failed"`
	UnknownAnswers int `json:"unknownAnswers"`
	// BalanceWrong counts accounts whose last BalanceChanged differs from
	// the simulator's final balance (or that have none).
	BalanceWrong int      `json:"balanceWrong"`
	Problems     []string `json:"problems,omitempty"`
}

// OK reports whether every check passed.
func (v *Verdict) OK() bool {
	return v.Duplicates == 0 && v.MsgIDMismatch == 0 && v.Missing == 0 && v.Unexpected == 0 &&
		v.Unanswered == 0 && v.AnsweredTwice == 0 && v.Failed == 0 && v.UnknownAnswers == 0 && v.BalanceWrong == 0
}

func (v *Verdict) problem(format string, args ...any) {
	if len(v.Problems) < 20 {
		v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
	}
}

// verify checks the stored events against the simulator's accounts and
// the requests published.
func verify(evs []storedEvent, accounts []sim.Account, requests []string, now time.Time) Verdict {
	v := Verdict{EventsChecked: len(evs), Requests: len(requests)}
	t := v.tally(evs)
	v.checkAccounts(t, accounts, now)
	v.checkRequests(t, requests)
	return v
}

// tally is what verify counts of the events.
type tally struct {
	byID    map[string]int      // copies of each event id
	txSeen  map[string]int      // NewTransaction ids
	answers map[string]int      // answers per request id (each answer event once)
	failed  map[string]bool     // request ids answered with FetchFailed
	last    map[string]*balance // each account's last BalanceChanged
}

// tally counts the events and checks each event's Nats-Msg-Id and that
// no id is stored twice.
func (v *Verdict) tally(evs []storedEvent) tally {
	t := tally{byID: map[string]int{}, txSeen: map[string]int{}, answers: map[string]int{}, failed: map[string]bool{}, last: map[string]*balance{}}
	for _, ev := range evs {
		t.byID[ev.ID]++
		if ev.MsgID != ev.ID {
			v.MsgIDMismatch++
			v.problem("event %d: Nats-Msg-Id %q, id %q", ev.Seq, ev.MsgID, ev.ID)
		}
		switch events.Type(ev.Type) {
		case events.TypeNewTransaction:
			t.txSeen[ev.ID]++
		case events.TypeBalanceChanged:
			t.last[ev.Subject] = ev.Current
		case events.TypeFetchCompleted, events.TypeFetchFailed:
			if t.byID[ev.ID] > 1 {
				break // a second stored copy: a duplicate event, counted below, not a second answer
			}
			for _, id := range ev.RequestIDs {
				t.answers[id]++
				if ev.Type == string(events.TypeFetchFailed) {
					t.failed[id] = true
				}
			}
		}
	}
	for id, n := range t.byID {
		if n > 1 {
			v.Duplicates += n - 1
			v.problem("event id %s stored %d times", id, n)
		}
	}
	return t
}

// checkAccounts checks every account's last balance and that its booked
// rows, and only those, produced a NewTransaction.
func (v *Verdict) checkAccounts(t tally, accounts []sim.Account, now time.Time) {
	expected := map[string]bool{}
	for _, a := range accounts {
		for _, id := range expectedNewTransactions(a, now) {
			expected[id] = true
		}
		b := t.last[a.Omfragad]
		if b == nil || b.SaldoSkatteverket == nil || b.SaldoKronofogden == nil ||
			*b.SaldoSkatteverket != a.SaldoSkatteverket || *b.SaldoKronofogden != a.SaldoKronofogden {
			v.BalanceWrong++
			got := "none"
			if b != nil {
				j, _ := json.Marshal(b)
				got = string(j)
			}
			v.problem("account %s: last BalanceChanged current %s, simulator has %d/%d", a.Omfragad, got, a.SaldoSkatteverket, a.SaldoKronofogden)
		}
	}
	v.ExpectedTransactions = len(expected)
	for id := range expected {
		if t.txSeen[id] == 0 {
			v.Missing++
			v.problem("NewTransaction %s missing", id)
		}
	}
	for id := range t.txSeen {
		if !expected[id] {
			v.Unexpected++
			v.problem("NewTransaction %s not expected", id)
		}
	}
}

// checkRequests checks that every request published has exactly one
// answer and that no answer names a request never published.
func (v *Verdict) checkRequests(t tally, requests []string) {
	published := map[string]bool{}
	for _, id := range requests {
		published[id] = true
		switch n := t.answers[id]; {
		case n == 0:
			v.Unanswered++
			v.problem("request %s unanswered", id)
		case n > 1:
			v.AnsweredTwice++
			v.problem("request %s answered %d times", id, n)
		}
		if t.failed[id] {
			v.Failed++
			v.problem("request %s answered with FetchFailed", id)
		}
	}
	for id := range t.answers {
		if !published[id] {
			v.UnknownAnswers++
			v.problem("answer for request %s that was never published", id)
		}
	}
}
