package jobs

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// crashOnce kills processing at step the first time each fetch reaches it.
func crashOnce(step string) (func(string, string) bool, func() int) {
	var mu sync.Mutex
	crashed := map[string]bool{}
	return func(s, fetchID string) bool {
			mu.Lock()
			defer mu.Unlock()
			if s != step || crashed[fetchID] {
				return false
			}
			crashed[fetchID] = true
			return true
		}, func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(crashed)
		}
}

// TestE2ECrashBetweenSteps kills the processing of each request between
// every pair of steps (after reading the state, after the API calls, after
// the diff, after the commit but before the ack): the request is delivered
// again and the stream ends up with each expected event exactly once.
func TestE2ECrashBetweenSteps(t *testing.T) {
	for _, step := range []string{"loaded", "called", "diffed", "committed"} {
		t.Run(step, func(t *testing.T) {
			e := newEnv(t)
			putAccount(t, e.sim, acctA)
			crash, crashes := crashOnce(step)
			e.worker(Config{AckWait: time.Second}, crash)

			first := e.fetch(acctA, "r1")
			if n := count(first, "NewTransaction"); n != 2 {
				t.Errorf("baseline: %d NewTransaction, want 2", n)
			}
			if err := e.sim.PostTransaction(acctA, sim.Transaction{Transaktionsdatum: time.Now().Format(time.DateOnly), Transaktionstext: "Kostnadsränta", BeloppSkatteverket: amount(-40)}); err != nil {
				t.Fatal(err)
			}
			second := e.fetch(acctA, "r2")
			if got := types(second); fmt.Sprint(got) != "[BalanceChanged FetchCompleted NewTransaction]" {
				t.Errorf("after a change: %v", got)
			}
			// A redelivery may race the answer's arrival; let it settle, then check.
			time.Sleep(1500 * time.Millisecond)
			all := e.checkOnce()
			if c := crashes(); c != 2 {
				t.Errorf("%d crashes, want 2", c)
			}
			if n := count(all, "FetchCompleted"); n != 2 {
				t.Errorf("%d FetchCompleted, want 2", n)
			}
			if n := count(all, "NewTransaction"); n != 3 {
				t.Errorf("%d NewTransaction, want 3", n)
			}
		})
	}
}

// TestE2ENATSRestartMidRun restarts the NATS server while requests are
// queued and in flight: every request is answered and no event is lost or
// stored twice.
func TestE2ENATSRestartMidRun(t *testing.T) {
	e := newEnv(t)
	var accts []string
	for i := 0; i < 6; i++ {
		a := sim.WithCheckDigit(fmt.Sprintf("1655661100%d", i))
		if err := e.sim.PutAccount(sim.RealisticAccount(a, int64(i), 40, time.Now())); err != nil {
			t.Fatal(err)
		}
		accts = append(accts, a)
	}
	e.worker(Config{Concurrency: 3, AckWait: time.Second}, nil)
	for _, a := range accts {
		e.request(a, fmt.Sprintf(`{"requestId":"%s-0"}`, a))
	}
	e.restartNATS()
	for _, a := range accts {
		e.request(a, fmt.Sprintf(`{"requestId":"%s-1"}`, a))
	}
	for _, a := range accts {
		e.wait(a + "-0")
		e.wait(a + "-1")
	}
	all := e.checkOnce()
	for _, a := range accts {
		acc, _ := e.sim.Account(a)
		if n := count(filter(all, a), "NewTransaction"); n != len(acc.Tidigare) {
			t.Errorf("%s: %d NewTransaction, want %d", sim.Mask(a), n, len(acc.Tidigare))
		}
	}
}
