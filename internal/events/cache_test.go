package events

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
)

// TestStateClone: a clone shares no list or map with its original, for
// every such field of State (a field added later is covered too).
func TestStateClone(t *testing.T) {
	var s State
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Map:
			m := reflect.MakeMap(f.Type())
			m.SetMapIndex(reflect.Zero(f.Type().Key()), reflect.Zero(f.Type().Elem()))
			f.Set(m)
		}
	}
	c := s.clone()
	if !reflect.DeepEqual(s, c) {
		t.Fatalf("clone differs: %+v, %+v", s, c)
	}
	for i := range v.NumField() {
		f, g := v.Field(i), reflect.ValueOf(c).Field(i)
		switch f.Kind() {
		case reflect.Slice:
			if f.Pointer() == g.Pointer() {
				t.Errorf("%s: the clone shares the list", v.Type().Field(i).Name)
			}
		case reflect.Map:
			if f.UnsafePointer() == g.UnsafePointer() {
				t.Errorf("%s: the clone shares the map", v.Type().Field(i).Name)
			}
		}
	}
}

// TestStateCache: a second Load comes from the cache, also after this
// store's own commit; another process's commit drops the entry; a commit
// on a stale cached state is refused and drops it too.
func TestStateCache(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	_, js2 := natstest.Connect(t, srv)
	a, err := NewStore(ctx, js, StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewStore(ctx, js2, StoreConfig{StateCache: -1}) // another worker, no cache
	if err != nil {
		t.Fatal(err)
	}
	first := Diff(State{}, snapshotWith(rows(3)), time.Now(), Options{})
	seq, err := a.Commit(ctx, Changes(0, &first, nil, closing("f1")))
	if err != nil {
		t.Fatal(err)
	}
	hits := a.cache.hits.Load()
	st, got, err := a.Load(ctx, acct)
	if err != nil || got != seq || !st.HasFetch("f1") || a.cache.hits.Load() != hits+1 {
		t.Fatalf("Load after its own commit: seq %d (want %d), err %v, hits %d → %d", got, seq, err, hits, a.cache.hits.Load())
	}
	// Let the echo of the store's own state message arrive: it keeps the entry.
	time.Sleep(100 * time.Millisecond)
	if _, _, ok := a.cache.get(acct); !ok {
		t.Fatal("the store's own commit dropped its entry")
	}

	// Another worker moves the state: the entry goes.
	stB, seqB, err := b.Load(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	more := Diff(stB, snapshotWith(rows(4)), time.Now(), Options{})
	seq2, err := b.Commit(ctx, Changes(seqB, &more, nil, closing("f2")))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, _, ok := a.cache.get(acct); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("another worker's commit left the entry cached")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, got, err = a.Load(ctx, acct)
	if err != nil || got != seq2 || !st.HasFetch("f2") {
		t.Fatalf("Load after another worker's commit: seq %d (want %d), err %v", got, seq2, err)
	}

	// A stale entry (as if the notice were lost): the commit is refused
	// and the entry dropped, so the next Load reads the stream.
	a.cache.put(acct, st, seq, found{at: storedAt(seq)}, false, 0)
	again := Diff(st, snapshotWith(rows(5)), time.Now(), Options{})
	if _, err := a.Commit(ctx, Changes(seq, &again, nil, closing("f3"))); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit on a stale cached state: %v, want ErrConflict", err)
	}
	if _, got, err := a.Load(ctx, acct); err != nil || got != seq2 {
		t.Fatalf("Load after the conflict: seq %d (want %d), err %v", got, seq2, err)
	}
}

// TestStateCacheBounded: a full cache makes room.
func TestStateCacheBounded(t *testing.T) {
	c := &stateCache{max: 2, entries: map[string]*cached{}}
	for _, a := range []string{"a", "b", "c"} {
		c.put(a, State{}, 1, found{}, false, 0)
	}
	if n := len(c.entries); n != 2 {
		t.Errorf("%d entries, want 2", n)
	}
	if _, _, ok := c.get("c"); !ok {
		t.Error("the newest entry is missing")
	}
	var none *stateCache
	none.put("a", State{}, 1, found{}, false, 0)
	if _, _, ok := none.get("a"); ok {
		t.Error("a nil cache holds something")
	}
}
