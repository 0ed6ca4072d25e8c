package audit

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

func call(cid string, body []byte) skv.Call {
	return skv.Call{Operation: skv.OpSaldo, CorrelationID: cid, HTTPStatus: 200, At: time.Now(), Body: body}
}

// TestKeepStoresOnceAndRemembers keeps the same answer from two calls:
// it is stored once, its metadata name the first call, and the second
// Keep sends nothing to the server (the store remembers it).
func TestKeepStoresOnceAndRemembers(t *testing.T) {
	srv := natstest.RunTest(t)
	nc, js := natstest.Connect(t, srv)
	st, err := Open(t.Context(), js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"saldoSkatteverket":-1200}`)
	if err := st.Keep(t.Context(), []skv.Call{call("cid-1", body), {Operation: skv.OpSaldo, CorrelationID: "cid-none"}}); err != nil {
		t.Fatal(err)
	}
	before := nc.Stats().OutMsgs
	if err := st.Keep(t.Context(), []skv.Call{call("cid-2", body)}); err != nil {
		t.Fatal(err)
	}
	if sent := nc.Stats().OutMsgs - before; sent != 0 {
		t.Errorf("keeping a remembered answer sent %d messages, want 0", sent)
	}
	got, meta, err := st.Answer(t.Context(), skv.Sha256(body))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) || meta[MetaCorrelationID] != "cid-1" {
		t.Errorf("kept %q by %q, want %q by cid-1", got, meta[MetaCorrelationID], body)
	}
	list, err := st.obj.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("%d objects in the bucket, want 1 (the answer, once)", len(list))
	}
}

// TestKeepWithoutMemoryLooksInTheBucket: a store that remembers nothing
// (another replica, a restart) finds an answer kept before and does not
// store it again; an answer deleted from the bucket is stored anew.
func TestKeepWithoutMemoryLooksInTheBucket(t *testing.T) {
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	first, err := Open(t.Context(), js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(t.Context(), js, Config{KeptCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"transaktioner":[]}`)
	sum := skv.Sha256(body)
	if err := first.Keep(t.Context(), []skv.Call{call("cid-1", body)}); err != nil {
		t.Fatal(err)
	}
	info, err := first.obj.GetInfo(t.Context(), sum)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Keep(t.Context(), []skv.Call{call("cid-2", body)}); err != nil {
		t.Fatal(err)
	}
	again, err := other.obj.GetInfo(t.Context(), sum)
	if err != nil {
		t.Fatal(err)
	}
	if !again.ModTime.Equal(info.ModTime) || again.Metadata[MetaCorrelationID] != "cid-1" {
		t.Errorf("an answer already in the bucket was stored again (kept %v by %q, was %v by cid-1)",
			again.ModTime, again.Metadata[MetaCorrelationID], info.ModTime)
	}
	if err := first.obj.Delete(t.Context(), sum); err != nil {
		t.Fatal(err)
	}
	if err := other.Keep(t.Context(), []skv.Call{call("cid-3", body)}); err != nil {
		t.Fatal(err)
	}
	if _, meta, err := other.Answer(t.Context(), sum); err != nil || meta[MetaCorrelationID] != "cid-3" {
		t.Errorf("after a delete: %v, kept by %q, want kept anew by cid-3", err, meta[MetaCorrelationID])
	}
}

func TestKeptCache(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		maxAge time.Duration
		stored time.Time
		at     time.Time
		want   bool
	}{
		{"just seen", 0, t0.Add(-time.Hour), t0, true},
		{"seen before the recheck", 0, t0, t0.Add(KeptRecheck - time.Second), true},
		{"seen a recheck ago: look again", 0, t0, t0.Add(KeptRecheck), false},
		{"young within the retention", 48 * time.Hour, t0.Add(-23 * time.Hour), t0, true},
		{"half the retention old: store anew", 48 * time.Hour, t0.Add(-24 * time.Hour), t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKeptCache(4, tt.maxAge)
			k.add("a", tt.stored, t0)
			if got := k.fresh("a", tt.at); got != tt.want {
				t.Errorf("fresh = %v, want %v", got, tt.want)
			}
			if k.fresh("b", t0) {
				t.Error("an answer never added is fresh")
			}
		})
	}
}

func TestKeptCacheForgetsTheOldestWhenFull(t *testing.T) {
	t0 := time.Now()
	k := newKeptCache(2, 0)
	k.add("a", t0, t0)
	k.add("b", t0, t0)
	k.add("a", t0, t0) // seen again: still one entry
	k.add("c", t0, t0)
	if k.fresh("a", t0) || !k.fresh("b", t0) || !k.fresh("c", t0) {
		t.Errorf("after a, b, a, c in a cache of 2: a %v b %v c %v, want false true true",
			k.fresh("a", t0), k.fresh("b", t0), k.fresh("c", t0))
	}
	if len(k.byHash) != 2 || len(k.order) != 2 {
		t.Errorf("%d entries, ring of %d, want 2 and 2", len(k.byHash), len(k.order))
	}
	var none *keptCache = newKeptCache(-1, 0)
	none.add("a", t0, t0)
	if none.fresh("a", t0) {
		t.Error("a cache of no entries remembers")
	}
}

// TestKeepChunks: a small answer is one chunk of its own size (no 128 KiB
// buffer per answer), a large one is split and reads back whole.
func TestKeepChunks(t *testing.T) {
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	st, err := Open(t.Context(), js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	small := []byte(`{"saldoSkatteverket":0}`)
	large := bytes.Repeat([]byte(`{"transaktionstext":"Debiterad preliminärskatt"},`), 6000) // ~290 KB
	if err := st.Keep(t.Context(), []skv.Call{call("cid-s", small), call("cid-l", large)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		body   []byte
		chunks uint32
	}{{small, 1}, {large, uint32((len(large) + maxChunk - 1) / maxChunk)}} {
		info, err := st.obj.GetInfo(t.Context(), skv.Sha256(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if info.Chunks != tc.chunks || info.Size != uint64(len(tc.body)) {
			t.Errorf("%d bytes kept in %d chunks of %d bytes (size %d), want %d chunks", len(tc.body), info.Chunks, info.Opts.ChunkSize, info.Size, tc.chunks)
		}
		got, _, err := st.Answer(t.Context(), skv.Sha256(tc.body))
		if err != nil || !bytes.Equal(got, tc.body) {
			t.Errorf("%d bytes read back as %d bytes: %v", len(tc.body), len(got), err)
		}
	}
}

// TestKeepWritesWhatObjectStoreClientsRead: answers written by Keep (its
// own writes, not the Object Store's Put) read back through the Object
// Store's client with their digest checked, and writing one again, as an
// old answer is, leaves one chunk and one meta, nothing behind.
func TestKeepWritesWhatObjectStoreClientsRead(t *testing.T) {
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	st, err := Open(t.Context(), js, Config{})
	if err != nil {
		t.Fatal(err)
	}
	bodies := [][]byte{[]byte(`{"saldoSkatteverket":-1200}`), []byte(`{"tidigareTransaktioner":[]}`), {}}
	var calls []skv.Call
	for i, b := range bodies {
		calls = append(calls, call("cid-"+string(rune('a'+i)), b))
	}
	if err := st.Keep(t.Context(), calls); err != nil {
		t.Fatal(err)
	}
	for i, b := range bodies {
		got, err := st.obj.GetBytes(t.Context(), skv.Sha256(b)) // verifies size and digest
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("answer %d read back as %q: %v, want %q", i, got, err, b)
		}
	}
	// Written again by force, as an answer past half its retention is.
	p, err := st.write(skv.Sha256(bodies[0]), answerMeta(skv.Sha256(bodies[0]), calls[0]), bodies[0], true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(t.Context(), "OBJ_"+st.bucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Two messages for each non-empty answer (chunk, meta), one for the empty one.
	if want := uint64(2*2 + 1); info.State.Msgs != want {
		t.Errorf("%d messages in the bucket's stream, want %d", info.State.Msgs, want)
	}
	if got, err := st.obj.GetBytes(t.Context(), skv.Sha256(bodies[0])); err != nil || !bytes.Equal(got, bodies[0]) {
		t.Errorf("answer written again read back as %q: %v", got, err)
	}
}

// TestKeepAfterAnOlderVersion: an answer an older version kept through
// the Object Store's Put (chunks named by a random NUID) is left as it is
// when it comes again, and the chunk written meanwhile is not left behind.
func TestKeepAfterAnOlderVersion(t *testing.T) {
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	st, err := Open(t.Context(), js, Config{KeptCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"utbetalningskonto":"1234"}`)
	sum := skv.Sha256(body)
	old, err := st.obj.Put(t.Context(), answerMeta(sum, call("cid-old", body)), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Keep(t.Context(), []skv.Call{call("cid-new", body)}); err != nil {
		t.Fatal(err)
	}
	info, err := st.obj.GetInfo(t.Context(), sum)
	if err != nil {
		t.Fatal(err)
	}
	if info.NUID != old.NUID || info.Metadata[MetaCorrelationID] != "cid-old" {
		t.Errorf("kept as %s by %q, want left as %s by cid-old", info.NUID, info.Metadata[MetaCorrelationID], old.NUID)
	}
	stream, err := js.Stream(t.Context(), "OBJ_"+st.bucket)
	if err != nil {
		t.Fatal(err)
	}
	si, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != 2 {
		t.Errorf("%d messages in the bucket's stream, want 2 (the old chunk and meta): a chunk was left behind", si.State.Msgs)
	}
	if got, err := st.obj.GetBytes(t.Context(), sum); err != nil || !bytes.Equal(got, body) {
		t.Errorf("read back %q: %v", got, err)
	}
}

// TestKeepFromTwoReplicasAtOnce: two replicas keeping the same answer at
// the same moment both succeed, and the bucket holds it once, readable,
// its metadata naming one of the two calls.
func TestKeepFromTwoReplicasAtOnce(t *testing.T) {
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	var stores [2]*Store
	for i := range stores {
		st, err := Open(t.Context(), js, Config{})
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = st
	}
	for round := range 20 {
		body := []byte(`{"saldoSkatteverket":` + strconv.Itoa(-round) + `}`)
		errs := make(chan error, 2)
		for i, st := range stores {
			go func() { errs <- st.Keep(t.Context(), []skv.Call{call("cid-"+strconv.Itoa(i), body)}) }()
		}
		for range stores {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		got, meta, err := stores[0].Answer(t.Context(), skv.Sha256(body))
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("round %d: read back %q: %v", round, got, err)
		}
		if cid := meta[MetaCorrelationID]; cid != "cid-0" && cid != "cid-1" {
			t.Errorf("round %d: kept by %q", round, cid)
		}
	}
	stream, err := js.Stream(t.Context(), "OBJ_"+stores[0].bucket)
	if err != nil {
		t.Fatal(err)
	}
	si, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if si.State.Msgs != 2*20 {
		t.Errorf("%d messages in the bucket's stream, want 40 (a chunk and a meta for each of 20 answers)", si.State.Msgs)
	}
}
