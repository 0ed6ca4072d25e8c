package jobs

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// Power-loss tests: a JetStream snapshot of the events stream, restored
// after later commits, is what a power loss that took the stream's tail
// leaves (natstest.Restore); the server is then restarted, as after a
// power loss, so that de-duplication knows what the disk holds.

// lostTail restores snap over its stream and restarts NATS.
func (e *env) lostTail(snap *natstest.StreamSnapshot) {
	e.t.Helper()
	natstest.Restore(e.t, e.nc, snap)
	e.restartNATS()
	e.waitStreams()
}

// waitStreams waits until the restarted server serves both streams.
func (e *env) waitStreams() {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := e.js.Stream(ctx, contract.EventsStream)
		if err == nil {
			_, err = e.js.Stream(ctx, contract.FetchStream)
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("streams not back after a restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ids returns the ids of the events of type typ, in stream order.
func ids(evs []stored, typ string) []string {
	var out []string
	for _, s := range evs {
		if s.Type == typ {
			out = append(out, s.ID)
		}
	}
	return out
}

// last returns the last event of type typ.
func last(evs []stored, typ string) stored {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == typ {
			return evs[i]
		}
	}
	return stored{}
}

// answered reports whether requestID has a closing event in evs.
func answered(evs []stored, requestID string) bool {
	for _, s := range evs {
		if (s.Type == "FetchCompleted" || s.Type == "FetchFailed") && s.RequestID == requestID {
			return true
		}
	}
	return false
}

// sameState compares what two stores remember of an account, but for
// what records the fetches themselves (their ids, times, the generation).
func sameState(t *testing.T, a, b *events.Store) {
	t.Helper()
	ctx := context.Background()
	sa, _, err := a.Load(ctx, acctA)
	if err != nil {
		t.Fatal(err)
	}
	sb, _, err := b.Load(ctx, acctA)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sa, sb, cmpopts.IgnoreFields(events.State{}, "Generation", "Fetches", "FetchedAt", "TxAt")); diff != "" {
		t.Errorf("final state (-without loss +after the lost tail):\n%s", diff)
	}
}

// TestE2ELostTailHeals runs the same fetches on two setups that share
// one simulated API; the second loses the last two commits of its events
// stream (events and states together, their requests already
// acknowledged). The account's next fetch publishes the lost
// transactions again with their ids and brings the state to where the
// first setup's is; the lost answers stay lost until their requests are
// asked again.
func TestE2ELostTailHeals(t *testing.T) {
	a := newEnv(t) // loses nothing
	b := newEnv(t) // loses its tail
	b.sim, b.api = a.sim, a.api
	putAccount(t, a.sim, acctA)
	a.worker(Config{}, nil)
	b.worker(Config{}, nil)
	both := func(requestID string) {
		t.Helper()
		a.fetch(acctA, requestID)
		b.fetch(acctA, requestID)
	}
	post := func(text string, skv int64) {
		t.Helper()
		if err := a.sim.PostTransaction(acctA, sim.Transaction{Transaktionstext: text, BeloppSkatteverket: amount(skv)}); err != nil {
			t.Fatal(err)
		}
	}

	both("r1")
	snap := natstest.Snapshot(t, b.nc, contract.EventsStream)
	post("Kostnadsränta", -40)
	both("r2")
	readUpToR2 := b.all() // what a consumer had read of b when r3 came
	post("Inbetalning bokförd", 300)
	if err := a.sim.SetInterest(acctA, -30, -10); err != nil {
		t.Fatal(err)
	}
	both("r3")
	lost := a.all()
	b.lostTail(snap)

	// The lost answers are not given again: their requests were
	// acknowledged and are gone from the queue.
	after := b.all()
	for _, r := range []string{"r2", "r3"} {
		if answered(after, r) {
			t.Errorf("%s: answered after the lost tail", r)
		}
	}
	if n := count(after, "NewTransaction"); n != 2 {
		t.Fatalf("after the lost tail: %d NewTransaction, want the baseline's 2", n)
	}

	healing := b.fetch(acctA, "r4")
	a.fetch(acctA, "r4")
	want := slices.Concat(ids(filterRequest(lost, "r2"), "NewTransaction"), ids(filterRequest(lost, "r3"), "NewTransaction"))
	if got := ids(healing, "NewTransaction"); !slices.Equal(got, want) {
		t.Errorf("the healing fetch published NewTransaction %v, want the lost ones %v", got, want)
	}
	withoutLoss, withLoss := a.checkOnce(), b.checkOnce()
	if got, want := ids(withLoss, "NewTransaction"), ids(withoutLoss, "NewTransaction"); !slices.Equal(got, want) {
		t.Errorf("NewTransaction ids: after the lost tail %v, without loss %v", got, want)
	}
	for _, typ := range []string{"BalanceChanged", "InterestChanged"} {
		got, want := last(withLoss, typ).Data["current"], last(withoutLoss, typ).Data["current"]
		if !cmp.Equal(got, want) {
			t.Errorf("last %s: after the lost tail %v, without loss %v", typ, got, want)
		}
	}
	sameState(t, a.store, b.store)

	// A consumer that had read up to r2 and de-duplicates by id ends
	// with the final values too: the changes re-derived to other values
	// than the lost ones came with new ids.
	seen := map[string]bool{}
	for _, s := range readUpToR2 {
		seen[s.ID] = true
	}
	view := slices.Clone(readUpToR2)
	for _, s := range withLoss {
		if !seen[s.ID] {
			view = append(view, s)
		}
	}
	for _, typ := range []string{"BalanceChanged", "InterestChanged"} {
		got, want := last(view, typ).Data["current"], last(withoutLoss, typ).Data["current"]
		if !cmp.Equal(got, want) {
			t.Errorf("a consumer that read up to r2: last %s %v, want %v", typ, got, want)
		}
	}

	// A requester that asks again gets its answer.
	if again := b.fetch(acctA, "r2"); count(again, "FetchCompleted") != 1 || count(again, "NewTransaction") != 0 {
		t.Errorf("r2 asked again: %v, want one FetchCompleted and no change", types(again))
	}
}

// filterRequest returns the events that answered requestID.
func filterRequest(evs []stored, requestID string) []stored {
	var out []stored
	for _, s := range evs {
		if s.RequestID == requestID {
			out = append(out, s)
		}
	}
	return out
}

// commitOf reads the messages of the commit that answered requestID, in
// stream order, as they were published: a power loss that cut that
// commit short on disk leaves a prefix of them without the state.
func (e *env) commitOf(requestID string) []*nats.Msg {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contract.AllEvents}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*nats.Msg
	for {
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			e.t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var ev struct {
				RequestID string `json:"requestid"`
			}
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				e.t.Fatal(err)
			}
			if ev.RequestID != requestID {
				continue
			}
			msg := nats.NewMsg(m.Subject())
			msg.Data = m.Data()
			for _, h := range []string{nats.MsgIdHdr, "Content-Type"} {
				msg.Header.Set(h, m.Headers().Get(h))
			}
			out = append(out, msg)
		}
		if n == 0 {
			return out
		}
	}
}

// TestE2ECutCommitHeals leaves the first events of a commit in the stream
// without its state, as a power loss that cut the commit short on disk
// does: one event, or all of them (the request answered, the state
// missing). The account's next fetch stores each of the commit's events
// once (those already there are not published again) with a state that
// accounts for all of them, and the fetch after it commits as usual.
func TestE2ECutCommitHeals(t *testing.T) {
	for _, tc := range []struct {
		name string
		kept int // events of the commit kept; -1: all
	}{{"one event kept", 1}, {"every event kept", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			putAccount(t, e.sim, acctA)
			e.worker(Config{}, nil)
			e.fetch(acctA, "r1")
			snap := natstest.Snapshot(t, e.nc, contract.EventsStream)
			for _, text := range []string{"Kostnadsränta", "Intäktsränta", "Inbetalning bokförd"} {
				if err := e.sim.PostTransaction(acctA, sim.Transaction{Transaktionstext: text, BeloppSkatteverket: amount(-40)}); err != nil {
					t.Fatal(err)
				}
			}
			full := e.fetch(acctA, "r2")
			if n := count(full, "NewTransaction"); n != 3 {
				t.Fatalf("r2: %d NewTransaction, want 3", n)
			}
			cut := e.commitOf("r2")
			if tc.kept >= 0 {
				cut = cut[:tc.kept]
			}
			e.lostTail(snap)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := jetstreamext.PublishMsgBatch(ctx, e.js, cut); err != nil {
				t.Fatal(err)
			}
			e.restartNATS() // de-duplication as after a power loss: it knows the ids kept
			e.waitStreams()

			healed := e.fetch(acctA, "r3")
			all := e.checkOnce()
			for _, id := range ids(full, "NewTransaction") {
				if !slices.Contains(ids(all, "NewTransaction"), id) {
					t.Errorf("NewTransaction %s of r2 missing after the healing", id)
				}
			}
			if got, want := count(all, "NewTransaction"), 2+3; got != want {
				t.Errorf("%d NewTransaction in the stream, want %d", got, want)
			}
			wantNew := 3 - min(len(cut), 3)
			if n := count(healed, "NewTransaction"); n != wantNew {
				t.Errorf("r3 published %d NewTransaction, want the %d not kept", n, wantNew)
			}
			if again := e.fetch(acctA, "r4"); len(again) != 1 || again[0].Type != "FetchCompleted" {
				t.Errorf("r4 after the healing: %v, want only FetchCompleted", types(again))
			}
		})
	}
}

// TestE2EFetchStreamBehindEvents brings the fetch stream's files back to
// a moment when a request was delivered and committed but not yet
// acknowledged, while the events stream keeps the commit: the request is
// delivered again, its fetch id is in the account's state, and it is
// acknowledged without publishing anything again. (The files are copied
// with the server stopped rather than through the restore API, which
// deletes the stream and with it the workers' consumer.)
func TestE2EFetchStreamBehindEvents(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	crash, _ := crashOnce("committed")
	e.worker(Config{AckWait: 5 * time.Second}, crash)
	e.fetch(acctA, "r1")
	// r1 is committed and, killed before its acknowledgement, pending.
	e.stopNATS()
	saved := natstest.CopyStreamFiles(t, e.dir, contract.FetchStream)
	e.startNATS()
	e.waitDrained()
	e.stopNATS()
	natstest.PutBackStreamFiles(t, e.dir, contract.FetchStream, saved)
	e.startNATS()
	e.waitStreams()
	e.waitDrained()
	if n := strings.Count(e.logs.String(), `"reason":"`+string(OutcomeAlreadyDone)+`"`); n != 2 {
		t.Errorf("%d deliveries of r1 found it done, want 2 (after the kill, after the files went back)\n%s", n, e.logs.String())
	}
	all := e.checkOnce()
	if n := count(all, "FetchCompleted"); n != 1 {
		t.Errorf("%d FetchCompleted, want 1", n)
	}
}

// stopNATS stops the server and waits until it is gone.
func (e *env) stopNATS() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// waitDrained waits until the workers' consumer has nothing pending or
// unacknowledged.
func (e *env) waitDrained() {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		b, err := ReadBacklog(ctx, e.js, "")
		cancel()
		if err == nil && b.Pending == 0 && b.AckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("requests still pending: %v\n%s", err, e.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
