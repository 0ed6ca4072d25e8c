package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestGroupCommit commits many accounts at once, over three rounds, one of
// them from a stale state in the first round: every other commit lands
// with the right state sequence, the stale one alone gets ErrConflict, and
// every id is stored once. (The later rounds have no stale commit: a
// group holding it fails as a whole, and with fsync before ack nearly all
// of a round's commits can fall into one group.)
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s, js := newTestStore(t)
	const n = 60
	accts := make([]string, n)
	for i := range accts {
		accts[i] = fmt.Sprintf("16556677%04d", i)
	}
	// The stale account: committed once, then in the first round again from seq 0.
	stale := accts[0]
	res := Diff(State{}, Snapshot{Omfragad: stale, Saldo: saldo(1, 1)}, time.Now(), Options{})
	if _, err := s.Commit(ctx, Changes(0, &res, nil, closingFor(stale, "first"))); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	seqs := make([]uint64, n)
	errs := make([]error, n)
	for round := 0; round < 3; round++ {
		for i, a := range accts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, seq, err := s.Load(ctx, a)
				if err != nil {
					errs[i] = err
					return
				}
				if a == stale && round == 0 {
					seq = 0
				}
				res := Diff(st, Snapshot{Omfragad: a, Saldo: saldo(int64(round), 0)}, time.Now(), Options{})
				id := fmt.Sprintf("r%d", round)
				seqs[i], errs[i] = s.Commit(ctx, Changes(seq, &res, nil, closingFor(a, id)))
			}()
		}
		wg.Wait()
		for i, a := range accts {
			if a == stale && round == 0 {
				if !errors.Is(errs[i], ErrConflict) {
					t.Fatalf("round %d: stale commit: %v, want ErrConflict", round, errs[i])
				}
				continue
			}
			if errs[i] != nil {
				t.Fatalf("round %d: %s: %v", round, a, errs[i])
			}
			st, seq, err := s.Load(ctx, a)
			if err != nil || seq != seqs[i] || !st.HasFetch(fmt.Sprintf("r%d", round)) {
				t.Fatalf("round %d: %s: state seq %d, commit said %d (%v)", round, a, seq, seqs[i], err)
			}
		}
	}
	if s.group.grouped.Load() == 0 {
		t.Error("no commit was grouped")
	}
	for id, k := range streamIDs(t, js) {
		if k != 1 {
			t.Errorf("id %s stored %d times", id, k)
		}
	}
}

func closingFor(acct, fetchID string) Event {
	return Event{ID: NewID(acct, TypeFetchCompleted, fetchID), Type: TypeFetchCompleted, Subject: acct, Time: time.Now(), FetchID: fetchID,
		Data: FetchCompleted{Header: Header{Omfragad: acct}}}
}
