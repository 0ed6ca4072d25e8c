package natstest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestSnapshotRestoreLosesTheTail shows what a restored snapshot is: the
// stream, its consumer's acknowledgements and its de-duplication as they
// were when the snapshot was taken; later messages are gone, their ids
// forgotten, and the sequence continues from the restored last message.
func TestSnapshotRestoreLosesTheTail(t *testing.T) {
	cfg := natsserver.Config{StoreDir: t.TempDir(), Port: freePort(t)}
	s, err := natsserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, js := Connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "S", Subjects: []string{"s.>"}, Storage: jetstream.FileStorage,
		Duplicates: 10 * time.Minute, AllowAtomicPublish: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(id string) *jetstream.PubAck {
		t.Helper()
		ack, err := js.Publish(ctx, "s."+id, []byte(id), jetstream.WithMsgID(id))
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	ackNext := func(n int) {
		t.Helper()
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		publish(id)
	}
	ackNext(2)
	snap := Snapshot(t, nc, "S")
	for _, id := range []string{"d", "e"} {
		publish(id)
	}
	ackNext(3)

	Restore(t, nc, snap)
	// What a server finds on disk at start after a power loss: the
	// restored stream, recovered (which rebuilds de-duplication).
	s.Shutdown()
	s.WaitForShutdown()
	if s, err = natsserver.Start(cfg); err != nil {
		t.Fatal(err)
	}

	st, err = js.Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State; got.Msgs != 3 || got.LastSeq != 3 {
		t.Errorf("stream: got %d messages up to %d, want 3 up to 3", got.Msgs, got.LastSeq)
	}
	cons, err = st.Consumer(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if got := cons.CachedInfo().AckFloor.Stream; got != 2 {
		t.Errorf("consumer ack floor: got %d, want 2", got)
	}
	tests := []struct {
		id      string
		wantDup bool
		wantSeq uint64
	}{
		{"b", true, 2},  // restored: still known
		{"d", false, 4}, // lost: forgotten, stored again at the next sequence
	}
	for _, tc := range tests {
		ack := publish(tc.id)
		if ack.Duplicate != tc.wantDup || ack.Sequence != tc.wantSeq {
			t.Errorf("publish %s: got duplicate %v at %d, want %v at %d", tc.id, ack.Duplicate, ack.Sequence, tc.wantDup, tc.wantSeq)
		}
	}
}

// TestConsumerAheadOfALostTail leaves a durable consumer's state ahead of
// its stream, as a power loss can (the consumer's state file written, the
// stream's last blocks not): the server moves the consumer back to the
// stream's end, so messages stored at the lost sequences again reach it.
func TestConsumerAheadOfALostTail(t *testing.T) {
	cfg := natsserver.Config{StoreDir: t.TempDir(), Port: freePort(t)}
	s, err := natsserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	_, js := Connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	publish := func(subj string) {
		t.Helper()
		if _, err := js.Publish(ctx, subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(n int) []string {
		t.Helper()
		cons, err := js.Consumer(ctx, "S", "c")
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for m := range batch.Messages() {
			got = append(got, m.Subject())
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	stop := func() {
		s.Shutdown()
		s.WaitForShutdown()
	}
	start := func() {
		t.Helper()
		if s, err = natsserver.Start(cfg); err != nil {
			t.Fatal(err)
		}
	}
	msgs := filepath.Join(cfg.StoreDir, "jetstream", "$G", "streams", "S", "msgs")
	publish("s.1")
	stop()
	if err := os.CopyFS(msgs+".t1", os.DirFS(msgs)); err != nil {
		t.Fatal(err)
	}
	start()
	publish("s.2")
	publish("s.3")
	if got := read(3); len(got) != 3 {
		t.Fatalf("read %v, want 3 messages", got)
	}
	// The power loss: the stream's blocks as at t1, the consumer's state
	// as now.
	stop()
	if err := os.RemoveAll(msgs); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(msgs+".t1", msgs); err != nil {
		t.Fatal(err)
	}
	start()
	publish("s.2-again")
	if got := read(1); len(got) != 1 || got[0] != "s.2-again" {
		t.Errorf("after the lost tail the consumer read %v, want [s.2-again]", got)
	}
}
