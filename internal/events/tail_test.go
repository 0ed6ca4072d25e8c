package events

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
)

// restartable is a store on a server that can be restarted on the same
// port and store directory, as after a power loss.
type restartable struct {
	cfg   natsserver.Config
	srv   *server.Server
	store *Store
	js    jetstream.JetStream

	mu    sync.Mutex
	stale []StaleState
}

func newRestartable(t *testing.T, dup time.Duration) *restartable {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &restartable{cfg: natsserver.Config{StoreDir: t.TempDir(), Port: port}}
	if r.srv, err = natsserver.Start(r.cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.srv.Shutdown(); r.srv.WaitForShutdown() })
	_, r.js = natstest.Connect(t, r.srv)
	r.store, err = NewStore(context.Background(), r.js, StoreConfig{Duplicates: dup, OnStaleState: func(s StaleState) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.stale = append(r.stale, s)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.store.Close)
	return r
}

// restart stops the server and starts it again on the same store: it
// recovers the streams from disk and rebuilds de-duplication from the
// messages younger than the window.
func (r *restartable) restart(t *testing.T) {
	t.Helper()
	r.srv.Shutdown()
	r.srv.WaitForShutdown()
	var err error
	if r.srv, err = natsserver.Start(r.cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := RetrySetup(ctx, func(ctx context.Context) error {
		_, err := r.js.AccountInfo(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func (r *restartable) staleStates() []StaleState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]StaleState(nil), r.stale...)
}

// cut stores the first n of evs as a batch without its state: what a
// power loss leaves of a commit it cut short on disk.
func cut(t *testing.T, js jetstream.JetStream, evs []Event, n int) {
	t.Helper()
	msgs := make([]*nats.Msg, 0, n)
	for i := range evs[:n] {
		m, err := evs[i].Msg()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if _, err := jetstreamext.PublishMsgBatch(context.Background(), js, msgs); err != nil {
		t.Fatal(err)
	}
}

// TestCommitOverEventsAfterTheState commits on a state that the stream has
// events after: the commit stores every event once and its state, and
// tells of a stale state only when a batch lost its state.
func TestCommitOverEventsAfterTheState(t *testing.T) {
	tests := []struct {
		name string
		// cut stores the first cut events of the next commit without
		// its state; other adds an event of another change; alone
		// publishes a FetchFailed alone (a request given up).
		cut          int
		other, alone bool
		// forget restarts the server after the de-duplication window,
		// so that JetStream no longer knows the ids cut.
		forget    bool
		wantStale []StaleState
	}{
		{name: "a cut batch, ids known", cut: 2,
			wantStale: []StaleState{{Account: acct, After: 2, Repeated: 2}}},
		{name: "a cut batch, ids forgotten", cut: 3, forget: true,
			wantStale: []StaleState{{Account: acct, After: 3, Repeated: 3}}},
		{name: "a cut batch of another change", other: true,
			wantStale: []StaleState{{Account: acct, After: 1, Repeated: 0}}},
		{name: "an event published alone", alone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRestartable(t, time.Second)
			res := Diff(State{}, snapshotWith(rows(3)), time.Now(), Options{})
			seq, err := r.store.Commit(ctx, Changes(0, &res, nil, closing("f1")))
			if err != nil {
				t.Fatal(err)
			}
			st, _, err := r.store.Load(ctx, acct)
			if err != nil {
				t.Fatal(err)
			}
			next := Diff(st, snapshotWith(rows(6)), time.Now(), Options{})
			if next.NewTransactions() != 3 {
				t.Fatalf("next diff: %d new transactions, want 3", next.NewTransactions())
			}
			extra := 0
			if tc.cut > 0 {
				cut(t, r.js, next.Events, tc.cut)
			}
			if tc.other {
				other := Diff(st, Snapshot{Omfragad: acct, Saldo: saldo(-5, 0)}, time.Now(), Options{})
				cut(t, r.js, other.Events, 1)
				extra++
			}
			if tc.alone {
				failed := closing("given-up")
				failed.ID, failed.Type = NewID(acct, TypeFetchFailed, "given-up"), TypeFetchFailed
				if err := r.store.PublishAlone(ctx, &failed); err != nil {
					t.Fatal(err)
				}
				extra++
			}
			if tc.forget {
				time.Sleep(1100 * time.Millisecond) // past the window
				r.restart(t)
			}
			if _, err := r.store.Commit(ctx, Changes(seq, &next, nil, closing("f2"))); err != nil {
				t.Fatalf("commit over the events after the state: %v", err)
			}
			got, _, err := r.store.Load(ctx, acct)
			if err != nil {
				t.Fatal(err)
			}
			if !got.HasFetch("f2") || got.Known.Len() != 6 {
				t.Errorf("state: fetches %v, known %d; want f2 and 6", got.Fetches, got.Known.Len())
			}
			ids := streamIDs(t, r.js)
			want := len(res.Events) + 1 + len(next.Events) + 1 + extra
			if len(ids) != want {
				t.Errorf("stream holds %d ids, want %d", len(ids), want)
			}
			for id, n := range ids {
				if n != 1 {
					t.Errorf("id %s stored %d times", id, n)
				}
			}
			stale := r.staleStates()
			for i := range stale {
				stale[i].StateSeq = 0 // not the point
			}
			if len(stale) != len(tc.wantStale) || (len(stale) > 0 && stale[0] != tc.wantStale[0]) {
				t.Errorf("stale states: got %+v, want %+v", stale, tc.wantStale)
			}
			// The next commit finds the account where its state says.
			st, seq, err = r.store.Load(ctx, acct)
			if err != nil {
				t.Fatal(err)
			}
			again := Diff(st, snapshotWith(rows(7)), time.Now(), Options{})
			if _, err := r.store.Commit(ctx, Changes(seq, &again, nil, closing("f3"))); err != nil {
				t.Fatal(err)
			}
			if n := len(r.staleStates()); n != len(tc.wantStale) {
				t.Errorf("after a clean commit: %d stale states, want %d", n, len(tc.wantStale))
			}
		})
	}
}

// TestCommitWithNoStateOverEvents commits an account's first fetch when
// the stream holds part of an earlier first fetch but no state at all.
func TestCommitWithNoStateOverEvents(t *testing.T) {
	ctx := context.Background()
	r := newRestartable(t, 0)
	res := Diff(State{}, snapshotWith(rows(4)), time.Now(), Options{})
	cut(t, r.js, res.Events, 2)
	if _, err := r.store.Commit(ctx, Changes(0, &res, nil, closing("f1"))); err != nil {
		t.Fatal(err)
	}
	for id, n := range streamIDs(t, r.js) {
		if n != 1 {
			t.Errorf("id %s stored %d times", id, n)
		}
	}
	if got := r.staleStates(); len(got) != 1 || got[0].After != 2 || got[0].Repeated != 2 {
		t.Errorf("stale states: got %+v, want one with 2 after, 2 repeated", got)
	}
}
