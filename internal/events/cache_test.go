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
// store's own commit; when another worker's commit made the cached state
// stale, the commit built on it is refused and the entry dropped, so the
// next Load reads the stream.
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

	// Another worker moves the state.
	stB, seqB, err := b.Load(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	more := Diff(stB, snapshotWith(rows(4)), time.Now(), Options{})
	seq2, err := b.Commit(ctx, Changes(seqB, &more, nil, closing("f2")))
	if err != nil {
		t.Fatal(err)
	}
	// The cache still holds the old state: a commit built on it is refused.
	stale, staleSeq, err := a.Load(ctx, acct)
	if err != nil || staleSeq != seq {
		t.Fatalf("Load from the cache: seq %d (want the stale %d), err %v", staleSeq, seq, err)
	}
	again := Diff(stale, snapshotWith(rows(5)), time.Now(), Options{})
	if _, err := a.Commit(ctx, Changes(staleSeq, &again, nil, closing("f3"))); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit on a stale cached state: %v, want ErrConflict", err)
	}
	st, got, err = a.Load(ctx, acct)
	if err != nil || got != seq2 || !st.HasFetch("f2") {
		t.Fatalf("Load after the conflict: seq %d (want %d), err %v", got, seq2, err)
	}
	for id, n := range streamIDs(t, js) {
		if n != 1 {
			t.Errorf("id %s stored %d times", id, n)
		}
	}
}

// TestStateCacheBounded: a full cache makes room.
func TestStateCacheBounded(t *testing.T) {
	c := &stateCache{max: 2, entries: map[string]*cached{}}
	for _, a := range []string{"a", "b", "c"} {
		c.put(a, State{}, 1, found{})
	}
	if n := len(c.entries); n != 2 {
		t.Errorf("%d entries, want 2", n)
	}
	if _, _, ok := c.get("c"); !ok {
		t.Error("the newest entry is missing")
	}
	var none *stateCache
	none.put("a", State{}, 1, found{})
	if _, _, ok := none.get("a"); ok {
		t.Error("a nil cache holds something")
	}
}
