package jobs

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// answeredIDs maps each request id to the number of answers naming it.
func answeredIDs(evs []stored) map[string]int {
	out := map[string]int{}
	for _, s := range evs {
		if s.Type != "FetchCompleted" && s.Type != "FetchFailed" {
			continue
		}
		ids := toStrings(s.Data["requestIds"])
		if s.RequestID != "" && !slices.Contains(ids, s.RequestID) {
			ids = append(ids, s.RequestID)
		}
		for _, id := range ids {
			out[id]++
		}
	}
	return out
}

// TestE2ECoalescesABurst sends 100 requests for one account at once: every
// request gets exactly one answer, and the API is called for one round.
func TestE2ECoalescesABurst(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	if _, err := e.js.CreateStream(context.Background(), contract.FetchStreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		e.request(acctA, fmt.Sprintf(`{"requestId":"burst-%d"}`, i))
	}
	e.worker(Config{Concurrency: 16}, nil)
	deadline := time.Now().Add(30 * time.Second)
	var got map[string]int
	for time.Now().Before(deadline) {
		got = answeredIDs(e.all())
		if len(got) == 100 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := 0; i < 100; i++ {
		if n := got[fmt.Sprintf("burst-%d", i)]; n != 1 {
			t.Errorf("burst-%d answered %d times", i, n)
		}
	}
	for _, op := range []string{sim.OpSaldo, sim.OpTransaktioner, sim.OpUtbetalningskonto, sim.OpUtbetalningssparrar} {
		if n := e.sim.CallCount(op); n != 1 {
			t.Errorf("%s called %d times for a burst of 100, want 1", op, n)
		}
	}
	e.checkOnce()
}

// TestE2ESkipsCallsThatCannotShowAnythingNew checks the call budget.
func TestE2ESkipsCallsThatCannotShowAnythingNew(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	e.worker(Config{}, nil)
	ask := func(id, body string) stored {
		t.Helper()
		e.request(acctA, body)
		return only(e.wait(id), "FetchCompleted")
	}
	first := ask("b1", `{"requestId":"b1"}`)
	if first.Data["apiCalls"] != float64(4) || len(toStrings(first.Data["skipped"])) != 0 {
		t.Fatalf("first fetch: apiCalls %v skipped %v", first.Data["apiCalls"], first.Data["skipped"])
	}
	tests := []struct {
		name    string
		change  func() error
		body    string
		calls   float64
		skipped []string
	}{
		{"unchanged: one call", nil, `{"requestId":"%s"}`, 1, []string{"transaktioner", "utbetalningskonto", "utbetalningssparrar"}},
		{"force calls everything", nil, `{"requestId":"%s","force":true}`, 4, []string{}},
		{"named operations are called", nil, `{"requestId":"%s","operations":["saldo","utbetalningskonto"]}`, 2, []string{}},
		{"changed balance: transactions called", func() error { return e.sim.SetBalance(acctA, 5, 5) }, `{"requestId":"%s"}`, 2, []string{"utbetalningskonto", "utbetalningssparrar"}},
		{"changed data, same balance: transactions called", func() error {
			d := time.Now().AddDate(0, 0, 30).Format(time.DateOnly)
			return e.sim.AddUpcoming(acctA, sim.Transaction{Transaktionsdatum: d, Forfallodatum: d, Transaktionstext: "Moms november 2026", BeloppSkatteverket: amount(-10)})
		}, `{"requestId":"%s"}`, 2, []string{"utbetalningskonto", "utbetalningssparrar"}},
	}
	for i, tc := range tests {
		if tc.change != nil {
			if err := tc.change(); err != nil {
				t.Fatal(err)
			}
		}
		id := fmt.Sprintf("b%d", i+2)
		fc := ask(id, fmt.Sprintf(tc.body, id))
		if fc.Data["apiCalls"] != tc.calls || !slices.Equal(toStrings(fc.Data["skipped"]), tc.skipped) {
			t.Errorf("%s: apiCalls %v skipped %v, want %v %v", tc.name, fc.Data["apiCalls"], fc.Data["skipped"], tc.calls, tc.skipped)
		}
	}
}

// TestE2EScheduledTickInServiceWindowIsSkipped: a scheduled request inside
// 03:00–05:00 makes no API call and leaves the queue.
func TestE2EScheduledTickInServiceWindowIsSkipped(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	loc, _ := time.LoadLocation("Europe/Stockholm")
	e.worker(Config{Now: func() time.Time { return time.Date(2026, 11, 25, 3, 30, 0, 0, loc) }}, nil)
	// A real schedule firing every second.
	m := nats.NewMsg(contract.ScheduleSubject(acctA, "test"))
	m.Header.Set("Nats-Schedule", "@every 1s")
	m.Header.Set("Nats-Schedule-Target", contract.FetchSubject(acctA))
	if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	// Wait for at least two ticks to be fired and consumed.
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := ReadBacklog(context.Background(), e.js, "")
		if err != nil {
			t.Fatal(err)
		}
		if b.Acked >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scheduled ticks were not consumed: ack floor %d", b.Acked)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := e.sim.CallCount(sim.OpSaldo); n != 0 {
		t.Errorf("%d saldo calls inside the service window", n)
	}
	if evs := e.all(); len(evs) != 0 {
		t.Errorf("events inside the service window: %v", types(evs))
	}
}
