package events

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
)

func TestOnlyBookkeeping(t *testing.T) {
	base := State{Generation: 4, Seen: SeenSaldo | SeenTransaktioner, SenastUppdaterad: "2026-11-20T10:00:00",
		Fetches: []byte("12345678"), FetchedAt: map[string]int64{"saldo": 1, "transaktioner": 1, "utbetalningskonto": 7}}
	for _, tc := range []struct {
		name string
		edit func(s *State)
		want bool
	}{
		{"nothing", func(s *State) {}, true},
		{"generation, fetch ids, balance and transactions call times", func(s *State) {
			s.Generation++
			s.recordFetch([]string{"f9"})
			s.FetchedAt = map[string]int64{"saldo": 2, "transaktioner": 2, "utbetalningskonto": 7}
		}, true},
		{"an empty list for none", func(s *State) { s.Upcoming, s.Problems = []Upcoming{}, map[string]string{} }, true},
		{"a slow operation's call time", func(s *State) { s.FetchedAt = mergeMap(s.FetchedAt, map[string]int64{"utbetalningskonto": 8}) }, false},
		{"a first call time of a slow operation", func(s *State) {
			s.FetchedAt = mergeMap(s.FetchedAt, map[string]int64{"utbetalningssparrar": 8})
		}, false},
		{"senastUppdaterad", func(s *State) { s.SenastUppdaterad = "2026-11-21T10:00:00" }, false},
		{"a problem recorded", func(s *State) { s.Problems = map[string]string{"api-drift": "2026-11-21"} }, false},
		{"a fingerprint", func(s *State) { s.Known = s.Known.with([]fp{{hash: 1, day: 9000}}, 0) }, false},
		{"the forecast level", func(s *State) { s.ForecastLevel = "none" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := base
			next.FetchedAt = mergeMap(base.FetchedAt, nil)
			tc.edit(&next)
			if got := onlyBookkeeping(&base, &next); got != tc.want {
				t.Errorf("onlyBookkeeping = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFetchCompletedID(t *testing.T) {
	ev := NewFetchCompleted(Origin{Omfragad: acct, FetchID: "f7", Time: time.Now()}, FetchCompleted{}, &Snapshot{})
	if got := FetchCompletedID(acct, "f7"); got != ev.ID {
		t.Errorf("FetchCompletedID = %s, the event's id %s", got, ev.ID)
	}
}

// TestLeanCommit: a fetch that changes nothing but bookkeeping stores its
// FetchCompleted alone and leaves the state as it was; it is refused on a
// state that moved; Answered finds it; a change is a full commit again.
func TestLeanCommit(t *testing.T) {
	ctx := context.Background()
	s, js := newTestStore(t)
	since := time.Now().Add(-time.Minute)
	// Every fetch of the test at one moment: a transactions call a second
	// later is news for the state (when the transactions were last
	// fetched), and its commit is no longer lean.
	now := time.Now()
	first := Diff(State{}, snapshotWith(rows(3)), now, Options{})
	seq, err := s.Commit(ctx, Changes(0, &first, map[string]int64{"saldo": 1}, closing("f1")))
	if err != nil {
		t.Fatal(err)
	}
	st, seq1, err := s.Load(ctx, acct)
	if err != nil || seq1 != seq {
		t.Fatalf("Load = %d, %v; want %d", seq1, err, seq)
	}

	same := Diff(st, snapshotWith(rows(3)), now, Options{})
	if len(same.Events) != 0 {
		t.Fatalf("a repeat of the same answers has %d events", len(same.Events))
	}
	for _, id := range []string{"f2", "f3"} { // two lean commits on the same state
		got, err := s.Commit(ctx, Changes(seq, &same, map[string]int64{"saldo": 2, "transaktioner": 2}, closing(id)))
		if err != nil || got != seq {
			t.Fatalf("lean commit %s = %d, %v; want the state's sequence %d", id, got, err, seq)
		}
	}
	if _, err := s.Commit(ctx, Unchanged(seq, st, closing("f4"))); err != nil {
		t.Fatalf("lean commit from the state: %v", err)
	}
	st2, seq2, err := s.Load(ctx, acct)
	if err != nil || seq2 != seq || st2.Generation != st.Generation || st2.HasFetch("f2") {
		t.Fatalf("after lean commits: seq %d (want %d), generation %d (want %d), err %v", seq2, seq, st2.Generation, st.Generation, err)
	}
	for _, id := range []string{"f2", "f3", "f4"} {
		if ok, err := s.Answered(ctx, acct, FetchCompletedID(acct, id), since); err != nil || !ok {
			t.Errorf("Answered(%s) = %v, %v; want true", id, ok, err)
		}
	}
	if ok, err := s.Answered(ctx, acct, FetchCompletedID(acct, "f5"), since); err != nil || ok {
		t.Errorf("Answered(never stored) = %v, %v; want false", ok, err)
	}
	if ok, err := s.Answered(ctx, acct, FetchCompletedID(acct, "f2"), time.Now().Add(time.Minute)); err != nil || ok {
		t.Errorf("Answered(stored before since) = %v, %v; want false", ok, err)
	}

	// A change moves the state; a lean commit on the old one is refused.
	more := Diff(st, snapshotWith(rows(4)), now, Options{})
	seq3, err := s.Commit(ctx, Changes(seq, &more, nil, closing("f6")))
	if err != nil || seq3 <= seq {
		t.Fatalf("full commit = %d, %v", seq3, err)
	}
	if _, err := s.Commit(ctx, Changes(seq, &same, nil, closing("f7"))); !errors.Is(err, ErrConflict) {
		t.Fatalf("lean commit on a moved state: %v, want ErrConflict", err)
	}
	for id, n := range streamIDs(t, js) {
		if n != 1 {
			t.Errorf("id %s stored %d times", id, n)
		}
	}
	if n := streamIDs(t, js)[FetchCompletedID(acct, "f7")]; n != 0 {
		t.Errorf("the refused lean commit's FetchCompleted stored %d times", n)
	}
}

// TestLeanCommitNotForCoalescedOrProblems: a round of several requests
// and a commit that reports a problem record them in the state, so they
// are never lean.
func TestLeanCommitNotForCoalescedOrProblems(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	first := Diff(State{}, snapshotWith(rows(2)), time.Now(), Options{})
	seq, err := s.Commit(ctx, Changes(0, &first, nil, closing("f1")))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := s.Load(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	seq2, err := s.Commit(ctx, Unchanged(seq, st, closing("f2"), "f2b"))
	if err != nil || seq2 == seq {
		t.Fatalf("coalesced round: %d, %v; want a new state", seq2, err)
	}
	st2, _, err := s.Load(ctx, acct)
	if err != nil || !st2.HasFetch("f2b") {
		t.Fatalf("the member's fetch id is not recorded: %v", err)
	}
	prob := NewAccessProblem(Origin{Omfragad: acct, Time: time.Now()}, Problem{Kind: "api-drift", Since: time.Now()}, "2026-11-21")
	seq3, err := s.Commit(ctx, Failed(seq2, st2, closing("f3"), &prob))
	if err != nil || seq3 == seq2 {
		t.Fatalf("commit with a problem: %d, %v; want a new state", seq3, err)
	}
}

// TestFullCommitAfterLeanCommits: lean answers follow the state in the
// stream; a full commit finds the account where they left it, whether the
// cache knows it or not, and raises no stale-state alert for them.
func TestFullCommitAfterLeanCommits(t *testing.T) {
	for _, known := range []bool{true, false} {
		t.Run(map[bool]string{true: "position known", false: "position unknown"}[known], func(t *testing.T) {
			ctx := context.Background()
			srv := natstest.RunTest(t)
			_, js := natstest.Connect(t, srv)
			var alerts []StaleState
			s, err := NewStore(ctx, js, StoreConfig{OnStaleState: func(st StaleState) { alerts = append(alerts, st) }})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now() // every fetch at one moment, as in TestLeanCommit
			first := Diff(State{}, snapshotWith(rows(2)), now, Options{})
			seq, err := s.Commit(ctx, Changes(0, &first, nil, closing("f1")))
			if err != nil {
				t.Fatal(err)
			}
			st, _, err := s.Load(ctx, acct)
			if err != nil {
				t.Fatal(err)
			}
			same := Diff(st, snapshotWith(rows(2)), now, Options{})
			for _, id := range []string{"f2", "f3"} {
				if _, err := s.Commit(ctx, Changes(seq, &same, nil, closing(id))); err != nil {
					t.Fatal(err)
				}
			}
			st, seq2, err := s.Load(ctx, acct)
			if err != nil || seq2 != seq {
				t.Fatalf("Load = %d, %v; want the unmoved state %d", seq2, err, seq)
			}
			if !known {
				s.cache.drop(acct) // the commit takes the last event to be just before the state
			}
			more := Diff(st, snapshotWith(rows(3)), now, Options{})
			if _, err := s.Commit(ctx, Changes(seq, &more, nil, closing("f4"))); err != nil {
				t.Fatalf("full commit after lean commits: %v", err)
			}
			if len(alerts) != 0 {
				t.Errorf("stale-state alerts for lean answers: %+v", alerts)
			}
			for id, n := range streamIDs(t, js) {
				if n != 1 {
					t.Errorf("id %s stored %d times", id, n)
				}
			}
		})
	}
}

// TestCommitAfterAnotherReplicasLeanAnswer: a replica's lean commit
// answers a request x while another replica, which read the account
// before it, commits a round that holds x too (redelivered to it while
// the first still held it), as a member or as its lead. The second
// commit is refused as a conflict, not stored on top of the lean answer,
// so that its fetch reads again which of its requests are answered:
// else x had two answers, or (x leading) y had none.
func TestCommitAfterAnotherReplicasLeanAnswer(t *testing.T) {
	for _, xLeads := range []bool{false, true} {
		t.Run(map[bool]string{false: "x a member", true: "x the lead"}[xLeads], func(t *testing.T) {
			ctx := context.Background()
			a, js := newTestStore(t)
			b, err := NewStore(ctx, js, StoreConfig{})
			if err != nil {
				t.Fatal(err)
			}
			first := Diff(State{}, snapshotWith(rows(2)), time.Now(), Options{})
			seq, err := a.Commit(ctx, Changes(0, &first, nil, closing("f1")))
			if err != nil {
				t.Fatal(err)
			}
			st, _, err := b.Load(ctx, acct) // b reads the account first
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Commit(ctx, Unchanged(seq, st, closing("x"))); err != nil { // a answers x, lean
				t.Fatal(err)
			}
			round := Unchanged(seq, st, closing("y"), "x")
			if xLeads {
				round = Unchanged(seq, st, closing("x"), "y")
			}
			if _, err := b.Commit(ctx, round); !IsConflict(err) {
				t.Fatalf("b's round of x and y after a's lean answer to x: %v, want a conflict", err)
			}
			st, seq2, err := b.Load(ctx, acct)
			if err != nil || seq2 != seq {
				t.Fatalf("Load = %d, %v; want the unmoved state %d", seq2, err, seq)
			}
			if _, err := b.Commit(ctx, Unchanged(seq, st, closing("y"))); err != nil {
				t.Fatalf("b's round of y alone, read again: %v", err)
			}
			ids := streamIDs(t, js)
			for id, n := range ids {
				if n != 1 {
					t.Errorf("id %s stored %d times", id, n)
				}
			}
			if ids[FetchCompletedID(acct, "y")] != 1 {
				t.Errorf("y unanswered")
			}
		})
	}
}
