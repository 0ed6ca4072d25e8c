package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
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

// TestGroupedLeanCommits sends many accounts' lean commits at once, so
// they share atomic batches: every one lands once at its state's
// sequence; a stale one (another store moved its account after this
// store cached it) is refused with ErrConflict; a lean commit repeated
// after it landed (its ack lost) is success without a second copy; and
// a lean commit stored by a batch is not taken for a commit a power loss
// cut short when another store reads the account's tail.
func TestGroupedLeanCommits(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	var alarms atomic.Int64
	s, err := NewStore(ctx, js, StoreConfig{OnStaleState: func(StaleState) { alarms.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewStore(ctx, js, StoreConfig{OnStaleState: func(StaleState) { alarms.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	accts := make([]string, n)
	seqs := make([]uint64, n)
	states := make([]State, n)
	for i := range accts {
		accts[i] = fmt.Sprintf("16556677%04d", i)
		res := Diff(State{}, Snapshot{Omfragad: accts[i], Saldo: saldo(1, 1)}, time.Now(), Options{})
		if _, err := s.Commit(ctx, Changes(0, &res, nil, closingFor(accts[i], "first"))); err != nil {
			t.Fatal(err)
		}
		if states[i], seqs[i], err = s.Load(ctx, accts[i]); err != nil {
			t.Fatal(err)
		}
	}
	stale := accts[0]
	moved := Diff(states[0], Snapshot{Omfragad: stale, Saldo: saldo(2, 2)}, time.Now(), Options{})
	if _, err := other.Commit(ctx, Changes(seqs[0], &moved, nil, closingFor(stale, "moved"))); err != nil {
		t.Fatal(err)
	}
	// The other store reads every account now: where their last events
	// are will be stale after this store's lean commits.
	for _, a := range accts {
		if _, _, err := other.Load(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	grouped := s.group.grouped.Load()
	errs := make([]error, n)
	got := make([]uint64, n)
	var wg sync.WaitGroup
	// The committer waits while the commits queue up: the first is taken
	// alone, the others go in groups.
	s.group.sending.Lock()
	for i, a := range accts {
		if a == stale {
			continue // alone, below: it would fail its group as a whole
		}
		wg.Go(func() {
			same := Diff(states[i], Snapshot{Omfragad: a, Saldo: saldo(1, 1)}, time.Now(), Options{})
			got[i], errs[i] = s.Commit(ctx, Changes(seqs[i], &same, nil, closingFor(a, "lean")))
		})
	}
	for deadline := time.Now().Add(30 * time.Second); len(s.group.queue) < n-2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			s.group.sending.Unlock()
			t.Fatalf("%d commits queued, want %d", len(s.group.queue), n-2)
		}
	}
	s.group.sending.Unlock()
	wg.Wait()
	same0 := Diff(states[0], Snapshot{Omfragad: stale, Saldo: saldo(1, 1)}, time.Now(), Options{})
	got[0], errs[0] = s.Commit(ctx, Changes(seqs[0], &same0, nil, closingFor(stale, "lean")))
	for i, a := range accts {
		if a == stale {
			if !errors.Is(errs[i], ErrConflict) {
				t.Errorf("stale lean commit: %v, want ErrConflict", errs[i])
			}
			continue
		}
		if errs[i] != nil || got[i] != seqs[i] {
			t.Errorf("%s: lean commit = %d, %v; want the state's sequence %d", a, got[i], errs[i], seqs[i])
		}
	}
	if s.group.grouped.Load() == grouped {
		t.Error("no lean commit shared a batch")
	}
	// Account 1's lean commit again (a redelivery whose ack was lost).
	same := Diff(states[1], Snapshot{Omfragad: accts[1], Saldo: saldo(1, 1)}, time.Now(), Options{})
	if _, err := s.Commit(ctx, Changes(seqs[1], &same, nil, closingFor(accts[1], "lean"))); err != nil && !errors.Is(err, ErrConflict) {
		t.Errorf("the repeated lean commit: %v", err)
	}
	// The other store's lean commit of an account whose lean commit here
	// shared a batch expects the last event before it: refused, the tail
	// read (holding that batch's message), and stored after it.
	str, err := js.Stream(ctx, contract.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	batched := -1
	for i := 1; i < n && batched < 0; i++ {
		m, err := str.GetLastMsgForSubject(ctx, contract.EventSubject(accts[i], string(TypeFetchCompleted)))
		if err == nil && m.Header.Get(batchIDHeader) != "" {
			batched = i
		}
	}
	if batched < 0 {
		t.Fatal("no lean commit was stored by a batch")
	}
	same2 := Diff(states[batched], Snapshot{Omfragad: accts[batched], Saldo: saldo(1, 1)}, time.Now(), Options{})
	if _, err := other.Commit(ctx, Changes(seqs[batched], &same2, nil, closingFor(accts[batched], "other-lean"))); err != nil {
		t.Errorf("a lean commit after another store's: %v", err)
	}
	ids := streamIDs(t, js)
	for id, k := range ids {
		if k != 1 {
			t.Errorf("id %s stored %d times", id, k)
		}
	}
	for _, a := range accts[1:] {
		if ids[FetchCompletedID(a, "lean")] != 1 {
			t.Errorf("%s: its lean FetchCompleted is not stored", a)
		}
	}
	if ids[FetchCompletedID(stale, "lean")] != 0 {
		t.Error("the stale lean commit's FetchCompleted was stored")
	}
	// Lean commits stored by a batch are not commits a power loss cut short.
	if n := alarms.Load(); n != 0 {
		t.Errorf("%d stale-state alarms, want none", n)
	}
}
