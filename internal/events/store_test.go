package events

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
)

const acct = "165566778899"

func newTestStore(t *testing.T) (*Store, jetstream.JetStream) {
	t.Helper()
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	st, err := NewStore(context.Background(), js, StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return st, js
}

// streamIDs returns the Nats-Msg-Id of every event message in the stream, counted.
func streamIDs(t *testing.T, js jetstream.JetStream) map[string]int {
	t.Helper()
	ctx := context.Background()
	c, err := js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contract.AllEvents}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.Stream(ctx, contract.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	total := 0
	for _, n := range info.CachedInfo().State.Subjects {
		total += int(n)
	}
	_ = total
	for {
		batch, err := c.FetchNoWait(500)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			ids[m.Headers().Get("Nats-Msg-Id")]++
			got++
		}
		if got == 0 {
			return ids
		}
	}
}

func closing(fetchID string) Event {
	return Event{ID: NewID(acct, TypeFetchCompleted, fetchID), Type: TypeFetchCompleted, Subject: acct, Time: time.Now(), FetchID: fetchID,
		Data: FetchCompleted{Header: Header{Omfragad: acct}}}
}

func TestStoreCommitAndConflict(t *testing.T) {
	ctx := context.Background()
	s, js := newTestStore(t)

	st, seq, err := s.Load(ctx, acct)
	if err != nil || seq != 0 || st.Generation != 0 {
		t.Fatalf("Load empty = %+v, %d, %v", st, seq, err)
	}
	res := Diff(st, snapshotWith(rows(5)), time.Now(), Options{})
	seq1, err := s.Commit(ctx, Changes(seq, &res, nil, closing("f1")))
	if err != nil {
		t.Fatal(err)
	}
	// A second commit from the same starting point conflicts.
	_, err = s.Commit(ctx, Changes(seq, &res, nil, closing("f2")))
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("stale commit: got %v, want ErrConflict", err)
	}
	st2, seq2, err := s.Load(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if seq2 != seq1 || !st2.HasFetch("f1") || st2.Known.Len() != 5 {
		t.Fatalf("after commit: seq %d (want %d), fetches %v, known %d", seq2, seq1, st2.Fetches, st2.Known.Len())
	}
	ids := streamIDs(t, js)
	if len(ids) != 5+1+1 { // 5 NewTransaction, 1 reconciliation date, FetchCompleted
		t.Fatalf("stream holds %d ids: %v", len(ids), ids)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("id %s stored %d times", id, n)
		}
	}
	// The state subject keeps one message (rollup).
	info, err := js.Stream(ctx, contract.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(ctx, jetstream.WithSubjectFilter(contract.StatePrefix+">"))
	if err != nil {
		t.Fatal(err)
	}
	if n := si.State.Subjects[contract.StateSubject(acct)]; n != 1 {
		t.Fatalf("state messages = %d, want 1", n)
	}
}

func TestStoreLargeFirstFetchSplits(t *testing.T) {
	ctx := context.Background()
	s, js := newTestStore(t)
	res := Diff(State{}, snapshotWith(rows(2500)), time.Now(), Options{})
	if _, err := s.Commit(ctx, Changes(0, &res, nil, closing("big"))); err != nil {
		t.Fatal(err)
	}
	st, _, err := s.Load(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if st.Known.Len() != 2500 || !st.HasFetch("big") || st.Generation != 3 {
		t.Fatalf("state: known %d, fetches %v, generation %d", st.Known.Len(), st.Fetches, st.Generation)
	}
	if ids := streamIDs(t, js); len(ids) != 2500+2 {
		t.Fatalf("stream holds %d ids, want %d", len(ids), 2502)
	}
}

func rows(n int) []APIRow {
	out := make([]APIRow, n)
	for i := range out {
		amt := int64(-100 - i)
		out[i] = APIRow{
			Transaktionsidentitet: fmt.Sprint(1000 + i),
			Transaktionsdatum:     time.Now().AddDate(0, 0, -i%400).Format(time.DateOnly),
			Ranteberakningsdatum:  time.Now().AddDate(0, 0, -i%400).Format(time.DateOnly),
			Transaktionstext:      "Debiterad preliminärskatt",
			BeloppSkatteverket:    &amt,
		}
	}
	return out
}

func snapshotWith(booked []APIRow) Snapshot {
	return Snapshot{Omfragad: acct, Transaktioner: &TransaktionerAnswer{
		Answer:   Answer{CorrelationID: "c-tx", NastaAvstamningsdatum: "2026-12-05", SenastUppdaterad: "2026-11-25T04:00:00"},
		Tidigare: booked,
	}}
}

// TestStoreLargeFirstFetchCrashBetweenBatches kills a first fetch of 2,500
// transactions after its first batch: the retry, diffing against the
// partial state, stores the rest, and every id is in the stream once.
func TestStoreLargeFirstFetchCrashBetweenBatches(t *testing.T) {
	ctx := context.Background()
	s, js := newTestStore(t)
	snap := snapshotWith(rows(2500))
	dead := errors.New("killed")
	s.hooks.beforeBatch = func(gen int) error {
		if gen == 2 {
			return dead
		}
		return nil
	}
	res := Diff(State{}, snap, time.Now(), Options{})
	if _, err := s.Commit(ctx, Changes(0, &res, nil, closing("big"))); !errors.Is(err, dead) {
		t.Fatalf("commit: %v", err)
	}
	s.hooks.beforeBatch = nil
	st, seq, err := s.Load(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if st.HasFetch("big") || st.Known.Len() != 999 || st.Seen&SeenTransaktioner != 0 {
		t.Fatalf("partial state: fetches %v, known %d, seen %b", st.Fetches, st.Known.Len(), st.Seen)
	}
	res = Diff(st, snap, time.Now(), Options{})
	if res.NewTransactions() != 2500-999 {
		t.Fatalf("retry finds %d new", res.NewTransactions())
	}
	for _, e := range res.Events {
		if e.Type == TypeNewTransaction && !e.Data.(NewTransaction).Baseline {
			t.Fatal("the rest of a first fetch must still be baseline")
		}
	}
	if _, err := s.Commit(ctx, Changes(seq, &res, nil, closing("big"))); err != nil {
		t.Fatal(err)
	}
	ids := streamIDs(t, js)
	if len(ids) != 2500+2 {
		t.Fatalf("stream holds %d ids, want %d", len(ids), 2502)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("id %s stored %d times", id, n)
		}
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		filter, want string
		covers       bool
	}{
		{"a.b.>", "a.b.>", true},
		{">", "a.b.>", true},
		{"a.>", "a.c.>", true},
		{"a.*.>", "a.c.>", true},
		{"a.*", "a.b", true},
		{"a.b.*", "a.b.>", false},
		{"a.b.>", "a.c.>", false},
		{"a.b", "a.b.>", false},
		{"a.b.c.>", "a.b.>", false},
		{"a.b", "a.*", false},
	} {
		if got := covers(tc.filter, tc.want); got != tc.covers {
			t.Errorf("covers(%q, %q) = %v, want %v", tc.filter, tc.want, got, tc.covers)
		}
	}
}
