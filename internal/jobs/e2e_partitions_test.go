package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// servedBy records which replica ran the rounds of which account, and how
// many partitions each replica held at its last check.
type servedBy struct {
	mu     sync.Mutex
	rounds map[string]map[int]int // account → replica → rounds
	held   map[int]int
}

func newServedBy() *servedBy {
	return &servedBy{rounds: map[string]map[int]int{}, held: map[int]int{}}
}

// hooks returns the setup that makes replica i report to s.
func (s *servedBy) hooks(i int) func(*Worker) {
	return func(w *Worker) {
		w.hooks.rounds = func(acct string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.rounds[acct] == nil {
				s.rounds[acct] = map[int]int{}
			}
			s.rounds[acct][i]++
		}
		w.hooks.held = func(n int) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.held[i] = n
		}
	}
}

func (s *servedBy) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rounds = map[string]map[int]int{}
}

// replicasOf returns, per account, the replicas that ran its rounds.
func (s *servedBy) replicasOf() map[string][]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]int{}
	for a, by := range s.rounds {
		for r := range by {
			out[a] = append(out[a], r)
		}
	}
	return out
}

// heldBy returns the partitions each replica held at its last check.
func (s *servedBy) heldBy() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	for r, n := range s.held {
		out[r] = n
	}
	return out
}

// conflicts reads the commit conflicts a replica's metrics counted.
func conflicts(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == metrics.Namespace+"_commit_conflicts_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// partitionAccounts returns n simulated accounts.
func partitionAccounts(t *testing.T, e *env, n int) []string {
	t.Helper()
	var accts []string
	for i := range n {
		a := sim.WithCheckDigit(fmt.Sprintf("165566130%02d", i))
		if err := e.sim.PutAccount(sim.RealisticAccount(a, int64(i), 5, time.Now())); err != nil {
			t.Fatal(err)
		}
		accts = append(accts, a)
	}
	return accts
}

// burst sends every account burst requests at once, with ids tag-<n>, and
// returns the ids.
func (e *env) burst(accts []string, burst int, tag string) []string {
	var ids []string
	var wg sync.WaitGroup
	for _, a := range accts {
		for i := range burst {
			id := fmt.Sprintf("%s-%s-%d", tag, a[len(a)-4:], i)
			ids = append(ids, id)
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.request(a, fmt.Sprintf(`{"requestId":%q,"operations":["saldo"]}`, id))
			}()
		}
	}
	wg.Wait()
	return ids
}

// waitBalanced waits until no replica holds more than its share of the
// partitions and the holdings stayed so for three checks of each.
func waitBalanced(t *testing.T, s *servedBy, live func() []int, share func() int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last map[int]int
	steady := 0
	for steady < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("partitions never settled within the share %d: held %v", share(), s.heldBy())
		}
		time.Sleep(time.Second)
		held := s.heldBy()
		ok := true
		for _, r := range live() {
			if held[r] > share() {
				ok = false
			}
		}
		same := len(held) == len(last)
		for r, n := range held {
			same = same && last[r] == n
		}
		if ok && same {
			steady++
		} else {
			steady = 0
		}
		last = held
	}
}

// TestE2EPartitionsOneReplicaPerAccount runs two and three workers on the
// partitioned fetch stream. Once the partitions are spread (each replica
// holds at most its share), bursts of concurrent requests for each
// account are all served by one replica per account, with no commit
// conflict anywhere, and more than one replica does the work. Then one
// replica is killed (two with three replicas: one killed, one stopped):
// its partitions move to the others, and every request of every burst is
// answered exactly once.
func TestE2EPartitionsOneReplicaPerAccount(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-replica partitions: slow")
	}
	const (
		accounts = 12
		burst    = 5
	)
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d replicas", n), func(t *testing.T) {
			e := newEnv(t)
			accts := partitionAccounts(t, e, accounts)
			s := newServedBy()
			var alive atomic.Int32
			alive.Store(int32(n))
			peers := func() int { return int(alive.Load()) }
			var (
				reps []*replica
				regs []*prometheus.Registry
				dead = map[int]bool{}
			)
			for i := range n {
				reg := prometheus.NewRegistry()
				regs = append(regs, reg)
				cfg := Config{AckWait: 2 * time.Second, PinnedTTL: 4 * time.Second, Concurrency: 8, Peers: peers, Metrics: metrics.New(reg)}
				reps = append(reps, e.replica(cfg, s.hooks(i)))
			}
			live := func() []int {
				var out []int
				for i := range n {
					if !dead[i] {
						out = append(out, i)
					}
				}
				return out
			}
			share := func() int { return (contract.DefaultPartitions + peers() - 1) / peers() }

			// Warm up: every account's partition gets pinned, the pins spread.
			ids := e.burst(accts, 1, "warm")
			e.waitAnswered(ids, 60*time.Second)
			waitBalanced(t, s, live, share)
			var before float64
			for _, reg := range regs {
				before += conflicts(t, reg)
			}

			// Bursts with every replica alive: one replica per account.
			s.reset()
			for r := range 4 {
				ids = append(ids, e.burst(accts, burst, fmt.Sprintf("b%d", r))...)
			}
			e.waitAnswered(ids, 90*time.Second)
			working := map[int]bool{}
			for a, rs := range s.replicasOf() {
				if len(rs) != 1 {
					t.Errorf("account %s served by replicas %v, want one", a[len(a)-4:], rs)
				}
				for _, r := range rs {
					working[r] = true
				}
			}
			if len(working) < 2 {
				t.Errorf("only replicas %v did any work; held %v", working, s.heldBy())
			}
			var after float64
			for _, reg := range regs {
				after += conflicts(t, reg)
			}
			if after != before {
				t.Errorf("%v commit conflicts while every account had one replica", after-before)
			}

			// A replica killed in the middle of a burst: its partitions
			// move once the pinned TTL has passed; with three, another
			// stops as SIGTERM does and hands its partitions over.
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(100 * time.Millisecond)
				reps[0].kill()
				dead[0] = true
				alive.Add(-1)
			}()
			ids = append(ids, e.burst(accts, burst, "kill")...)
			wg.Wait()
			if n == 3 {
				ids = append(ids, e.burst(accts, burst, "pre-stop")...)
				reps[1].stop()
				dead[1] = true
				alive.Add(-1)
			}
			ids = append(ids, e.burst(accts, burst, "after")...)
			e.waitAnswered(ids, 120*time.Second)
			e.settled()
			e.answeredOnce(ids...)
			// Every account's last burst was served by a live replica.
			for _, a := range accts {
				if got := answeredIDs(e.all())[fmt.Sprintf("after-%s-0", a[len(a)-4:])]; got != 1 {
					t.Errorf("account %s: its last request answered %d times", a[len(a)-4:], got)
				}
			}
		})
	}
}

// TestE2EPartitionsUpgradeFromOneConsumer: a deployment from before
// partitions (the fetch stream without the transform, one consumer
// skattekonto-worker on skattekonto.fetch.>) has requests stored when the
// new workers start. They narrow the old consumer to those requests,
// partition the stream, serve the old requests and the new ones, each
// exactly once, and delete the old consumer once it is empty.
func TestE2EPartitionsUpgradeFromOneConsumer(t *testing.T) {
	e := newEnv(t)
	accts := partitionAccounts(t, e, 4)
	ctx := context.Background()
	old := contract.FetchStreamConfig(1)
	old.SubjectTransform = nil
	if _, err := e.js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	oldCons := contract.LegacyConsumerConfig(contract.ConsumerSettings{Durable: contract.Durable, AckWait: 30 * time.Second, MaxDeliver: -1, Concurrency: 128})
	oldCons.FilterSubject = contract.FetchPrefix + ">"
	if _, err := e.js.CreateConsumer(ctx, contract.FetchStream, oldCons); err != nil {
		t.Fatal(err)
	}
	ids := e.burst(accts, 3, "stored")
	st, err := e.js.Stream(ctx, contract.FetchStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != uint64(len(ids)) {
		t.Fatalf("%d requests stored before the upgrade, want %d", got, len(ids))
	}

	for range 2 {
		e.replica(Config{AckWait: 2 * time.Second, PinnedTTL: 4 * time.Second, Concurrency: 8})
	}
	ids = append(ids, e.burst(accts, 3, "new")...)
	e.waitAnswered(ids, 60*time.Second)
	e.settled()
	e.answeredOnce(ids...)

	st, err = e.js.Stream(ctx, contract.FetchStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := contract.StreamPartitions(st.CachedInfo().Config); got != contract.DefaultPartitions {
		t.Errorf("the upgraded stream has %d partitions, want %d", got, contract.DefaultPartitions)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.js.Consumer(ctx, contract.FetchStream, contract.Durable)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old consumer is still there once empty: %v\n%s", err, e.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The stored requests came through the old consumer, the new ones
	// through the partitions'.
	b, err := ReadBacklog(ctx, e.js, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Consumers) != contract.DefaultPartitions || b.Acked == 0 {
		t.Errorf("after the upgrade: consumers %v, %d acknowledged by the partitions'", b.Consumers, b.Acked)
	}
}

// TestE2EPartitionsKeepTheStreamsCount: a worker configured for another
// number of partitions than the stream has keeps the stream's (changing
// it would strand the requests stored in the partitions it drops), says
// so, and serves every partition.
func TestE2EPartitionsKeepTheStreamsCount(t *testing.T) {
	e := newEnv(t)
	accts := partitionAccounts(t, e, 8)
	first := e.worker(Config{Partitions: 4}, nil)
	second := e.worker(Config{Partitions: 2}, nil)
	st, err := e.js.Stream(t.Context(), contract.FetchStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := contract.StreamPartitions(st.CachedInfo().Config); n != 4 {
		t.Fatalf("the stream has %d partitions after a worker configured for 2, want the 4 it had", n)
	}
	if len(first.parts) != 4 || len(second.parts) != 4 {
		t.Errorf("the workers serve %d and %d partitions, want 4 each", len(first.parts), len(second.parts))
	}
	if !strings.Contains(e.logs.String(), "the fetch stream keeps its partitions") {
		t.Error("no warning that WORKER_PARTITIONS was not applied")
	}
	for _, id := range e.burst(accts, 1, "kept") {
		e.wait(id)
	}
}
