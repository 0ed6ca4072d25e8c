package jobs

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// replica is a worker with its own NATS connection, as in its own process.
type replica struct {
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

// replica starts a worker on its own connection; setup, when given, may
// set the worker's hooks before it runs.
func (e *env) replica(cfg Config, setup ...func(*Worker)) *replica {
	e.t.Helper()
	nc, err := nats.Connect(e.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	store, err := events.NewStore(context.Background(), js, events.StoreConfig{})
	if err != nil {
		e.t.Fatal(err)
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 100 * time.Millisecond
	}
	cfg.Logger = zerolog.New(e.logs)
	w, err := New(context.Background(), js, e.api, store, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range setup {
		f(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{nc: nc, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := w.Run(ctx); err != nil {
			e.t.Errorf("worker: %v", err)
		}
	}()
	e.t.Cleanup(r.kill)
	return r
}

// kill ends the replica as a crash would: its connection is gone at once,
// nothing it held is acknowledged or given back.
func (r *replica) kill() {
	r.nc.Close()
	r.cancel()
	<-r.done
}

// stop ends the replica as SIGTERM does: it drains, hands its partitions
// over, and closes its connection.
func (r *replica) stop() {
	r.cancel()
	<-r.done
	r.nc.Close()
}

// TestE2EReplicasBurst runs two and three workers on one NATS server
// and sends rounds of bursts, five requests per account each with its
// requestId, with a short and the default ack wait, with and without a
// worker killed mid-run: every request is answered exactly once, and no
// event is stored twice.
func TestE2EReplicasBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-replica burst: slow")
	}
	const (
		accounts = 6
		rounds   = 8
		burst    = 5
	)
	tests := []struct {
		replicas int
		ackWait  time.Duration // 0: the default
		kill     bool
	}{
		{2, 2 * time.Second, false},
		{2, 0, false},
		{3, 2 * time.Second, false},
		{3, 0, false},
		{2, 2 * time.Second, true},
		{3, 2 * time.Second, true},
		{2, 0, true},
		{3, 0, true},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("%d replicas, ack wait %v, kill %v", tc.replicas, tc.ackWait, tc.kill)
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			var accts []string
			for i := range accounts {
				a := sim.WithCheckDigit(fmt.Sprintf("1655661200%d", i))
				if err := e.sim.PutAccount(sim.RealisticAccount(a, int64(i), 20, time.Now())); err != nil {
					t.Fatal(err)
				}
				accts = append(accts, a)
			}
			var reps []*replica
			for range tc.replicas {
				reps = append(reps, e.replica(Config{AckWait: tc.ackWait, Concurrency: 8}))
			}
			var ids []string
			var wg sync.WaitGroup
			for r := range rounds {
				if tc.kill && r == rounds/2 {
					reps[0].kill()
				}
				for _, a := range accts {
					for i := range burst {
						id := fmt.Sprintf("%s-%d-%d", a[len(a)-4:], r, i)
						ids = append(ids, id)
						wg.Add(1)
						go func() {
							defer wg.Done()
							e.request(a, fmt.Sprintf(`{"requestId":%q}`, id))
						}()
					}
				}
				wg.Wait()
				time.Sleep(50 * time.Millisecond)
			}
			e.waitAnswered(ids, 90*time.Second)
			e.settled()
			e.answeredOnce(ids...)
		})
	}
}

// waitAnswered waits until every id has an answer.
func (e *env) waitAnswered(ids []string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := answeredIDs(e.all())
		missing := 0
		for _, id := range ids {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d of %d requests unanswered; worker log:\n%s", missing, len(ids), e.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
