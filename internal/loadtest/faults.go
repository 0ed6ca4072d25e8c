package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Fault kinds a burst run can inject (Config.Fault), each on real
// connections through Toxiproxy or on a real NATS server.
const (
	// FaultNATSCut cuts the workers' connections to NATS while commits
	// flow, in turn: reset as the server's next bytes (a commit's ack)
	// arrive, or the server's bytes dropped for 1.5 s and then the
	// connection closed. The worker cannot tell whether its commit landed.
	FaultNATSCut = "nats-cut"
	// FaultLatency delays what NATS or (in turn) the API sends the
	// workers by 2 to 5 seconds, in windows of 4 seconds.
	FaultLatency = "latency"
	// FaultBandwidth slows the workers' links to NATS and the API to
	// 4 KB/s each way, in windows of 8 seconds.
	FaultBandwidth = "bandwidth"
	// FaultAPIReset resets the workers' connections to the API, on the
	// request or (in turn) on the response, in windows of 1.5 seconds.
	FaultAPIReset = "api-reset"
	// FaultPartition cuts every route of the events stream's leader from
	// and to the other two servers (cluster only) for FaultHold, longer
	// than an election.
	FaultPartition = "partition"
	// FaultStorageFull fills the servers' JetStream storage (capped at
	// storageLimit) with a filler stream until NATS refuses to store,
	// keeps it full for FaultHold, then frees the space by purging the
	// filler (or, when the purge does not go through, by growing every
	// server's limit).
	FaultStorageFull = "storage-full"
)

// FaultKinds are the fault kinds, in the order a run of all of them takes.
var FaultKinds = []string{FaultNATSCut, FaultLatency, FaultBandwidth, FaultAPIReset, FaultPartition, FaultStorageFull}

// storageLimit is each server's JetStream file storage in a storage-full
// run: room for the run's streams, quickly filled.
const storageLimit = 32 << 20

// fillerStream is the stream a storage-full run fills the storage with.
const fillerStream = "LOADTEST_FILLER"

// codeInsufficientResources is JetStream's error code for a server out of
// storage.
const codeInsufficientResources jetstream.ErrorCode = 10023

// inject injects cfg.Fault while the rounds go on (roundsCtx) and returns
// with the network whole and the space free again. A window of fault that
// has begun runs its course after the rounds end (it ends early only when
// ctx does).
func (b *burstRunner) inject(roundsCtx, ctx context.Context) error {
	rng := rand.New(rand.NewPCG(uint64(b.e.cfg.Seed), 6))
	switch b.e.cfg.Fault {
	case FaultNATSCut:
		return b.repeat(roundsCtx, ctx, rng, b.cutNATS)
	case FaultLatency:
		return b.repeat(roundsCtx, ctx, rng, b.latency)
	case FaultBandwidth:
		return b.repeat(roundsCtx, ctx, rng, b.crawl)
	case FaultAPIReset:
		return b.repeat(roundsCtx, ctx, rng, b.resetAPI)
	case FaultPartition:
		return b.once(roundsCtx, ctx, b.partition)
	case FaultStorageFull:
		return b.once(roundsCtx, ctx, b.fillStorage)
	}
	return fmt.Errorf("fault %q: unknown", b.e.cfg.Fault)
}

// repeat opens a window of fault after a pause of 1 to 3 seconds, again
// and again until the rounds end.
func (b *burstRunner) repeat(roundsCtx, ctx context.Context, rng *rand.Rand, window func(ctx context.Context, n int, rng *rand.Rand) error) error {
	for n := 0; ; n++ {
		sleepCtx(roundsCtx, time.Second+time.Duration(rng.Int64N(int64(2*time.Second))))
		if roundsCtx.Err() != nil {
			return nil
		}
		if err := window(ctx, n, rng); err != nil {
			return err
		}
	}
}

// once injects a fault once, a quarter of the way through the rounds
// (after two at least).
func (b *burstRunner) once(roundsCtx, ctx context.Context, fault func(ctx context.Context) error) error {
	cfg := b.e.cfg
	sleepCtx(roundsCtx, time.Duration(max(2, cfg.Rounds/4))*cfg.RoundInterval)
	if roundsCtx.Err() != nil {
		return nil
	}
	return fault(ctx)
}

// window puts toxics on proxies for hold, then takes them off.
func (b *burstRunner) window(ctx context.Context, what string, hold time.Duration, ts []toxic, proxies ...*toxiproxy.Proxy) error {
	var removes []func()
	defer func() {
		for _, remove := range removes {
			remove()
		}
	}()
	for _, t := range ts {
		remove, err := b.e.net.add(t, proxies...)
		if err != nil {
			return err
		}
		removes = append(removes, remove)
	}
	b.fault(what)
	sleepCtx(ctx, hold)
	return nil
}

// fault counts a fault injected and logs what it is.
func (b *burstRunner) fault(what string) {
	b.note(what)
	b.faultMu.Lock()
	b.rep.Faults++
	b.faultMu.Unlock()
}

// note adds a line to the fault log, with the time and round.
func (b *burstRunner) note(what string) {
	line := fmt.Sprintf("%.1fs round %d: %s", time.Since(b.start).Seconds(), b.round.Load(), what)
	b.faultMu.Lock()
	if len(b.rep.FaultLog) < 200 {
		b.rep.FaultLog = append(b.rep.FaultLog, line)
	}
	b.faultMu.Unlock()
	b.e.logf("fault: %s", line)
}

func (b *burstRunner) cutNATS(ctx context.Context, n int, _ *rand.Rand) error {
	if n%2 == 0 {
		return b.window(ctx, "worker→NATS: connections reset as NATS next sends (a commit's ack)", time.Second,
			[]toxic{{Type: "reset_peer", Stream: "downstream", Attributes: map[string]any{"timeout": 0}}}, b.e.net.nats...)
	}
	return b.window(ctx, "worker→NATS: what NATS sends dropped for 1.5 s, then the connections closed", 2*time.Second,
		[]toxic{{Type: "timeout", Stream: "downstream", Attributes: map[string]any{"timeout": 1500}}}, b.e.net.nats...)
}

func (b *burstRunner) latency(ctx context.Context, n int, rng *rand.Rand) error {
	ms := 2000 + rng.IntN(3001)
	t := []toxic{{Type: "latency", Stream: "downstream", Attributes: map[string]any{"latency": ms}}}
	if n%2 == 0 {
		return b.window(ctx, fmt.Sprintf("worker→NATS: %.1f s latency for 4 s", float64(ms)/1000), 4*time.Second, t, b.e.net.nats...)
	}
	return b.window(ctx, fmt.Sprintf("worker→API: %.1f s latency for 4 s", float64(ms)/1000), 4*time.Second, t, b.e.net.api)
}

func (b *burstRunner) crawl(ctx context.Context, _ int, _ *rand.Rand) error {
	const rate = 4 // KB/s
	ts := []toxic{
		{Type: "bandwidth", Stream: "upstream", Attributes: map[string]any{"rate": rate}},
		{Type: "bandwidth", Stream: "downstream", Attributes: map[string]any{"rate": rate}},
	}
	proxies := append([]*toxiproxy.Proxy{b.e.net.api}, b.e.net.nats...)
	return b.window(ctx, fmt.Sprintf("worker→NATS and worker→API: %d KB/s each way for 8 s", rate), 8*time.Second, ts, proxies...)
}

func (b *burstRunner) resetAPI(ctx context.Context, n int, _ *rand.Rand) error {
	stream, what := "downstream", "worker→API: connections reset as the API answers, for 1.5 s"
	if n%2 == 1 {
		stream, what = "upstream", "worker→API: connections reset as the worker asks, for 1.5 s"
	}
	return b.window(ctx, what, 1500*time.Millisecond,
		[]toxic{{Type: "reset_peer", Stream: stream, Attributes: map[string]any{"timeout": 0}}}, b.e.net.api)
}

// hold is how long a partition or a full storage lasts.
func (b *burstRunner) hold(def time.Duration) time.Duration {
	if b.e.cfg.FaultHold > 0 {
		return b.e.cfg.FaultHold
	}
	return def
}

// partition cuts the events stream's leader off from the other servers
// for longer than an election, then heals the cut.
func (b *burstRunner) partition(ctx context.Context) error {
	hold := b.hold(15 * time.Second)
	leader, err := streamLeader(ctx, b.js)
	if err != nil {
		return fmt.Errorf("partition: %w", err)
	}
	i := b.e.nats.index(leader)
	if i < 0 {
		return fmt.Errorf("partition: leader %q is not one of ours", leader)
	}
	b.moveOff(ctx, leader)
	heal := b.e.net.isolate(i)
	b.fault(fmt.Sprintf("partition: %s, the events stream's leader, cut off from the other servers for %s", leader, hold))
	sleepCtx(ctx, hold)
	routes := "no server running"
	if s := b.e.nats.server(i); s != nil {
		routes = plural(s.NumRoutes(), "route")
	}
	b.note(fmt.Sprintf("partition ends: %s has %s; the other side says the events stream's leader is %s",
		leader, routes, b.leaderSeenFrom(ctx, (i+1)%len(b.e.nats.urls))))
	if err := heal(); err != nil {
		return fmt.Errorf("partition: heal: %w", err)
	}
	return nil
}

// moveOff reconnects the tool until it is on another server than name,
// so that it goes on publishing requests while name is cut off (the
// workers stay where they are).
func (b *burstRunner) moveOff(ctx context.Context, name string) {
	for try := 0; try < 20 && b.e.nc.ConnectedServerName() == name && ctx.Err() == nil; try++ {
		_ = b.e.nc.ForceReconnect()
		deadline := time.Now().Add(5 * time.Second)
		for !b.e.nc.IsConnected() && time.Now().Before(deadline) {
			sleepCtx(ctx, 50*time.Millisecond)
		}
	}
	if got := b.e.nc.ConnectedServerName(); got == name {
		b.note("the tool could not move off " + name + ": its requests wait for the partition to end")
	}
}

// leaderSeenFrom names the events stream's leader as server i sees it.
func (b *burstRunner) leaderSeenFrom(ctx context.Context, i int) string {
	nc, js, err := connect(b.e.nats.urls[i])
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer nc.Close()
	leader, err := streamLeader(ctx, js)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return leader
}

// streamLeader names the events stream's leader.
func streamLeader(ctx context.Context, js jetstream.JetStream) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, contract.EventsStream)
	if err != nil {
		return "", err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", errors.New("events stream has no leader")
	}
	return info.Cluster.Leader, nil
}

// fillStorage fills JetStream's storage until NATS refuses to store,
// keeps it full, then purges the filler.
func (b *burstRunner) fillStorage(ctx context.Context) error {
	hold := b.hold(10 * time.Second)
	st, err := b.js.CreateStream(ctx, jetstream.StreamConfig{Name: fillerStream, Subjects: []string{"loadtest.filler"},
		Storage: jetstream.FileStorage, Replicas: b.e.cfg.servers()})
	if err != nil {
		return fmt.Errorf("storage full: create the filler stream: %w", err)
	}
	filled, err := fill(ctx, b.js)
	if err != nil {
		return err
	}
	b.fault(fmt.Sprintf("storage full: NATS refuses to store after %d MiB of filler; full for %s", filled>>20, hold))
	sleepCtx(ctx, hold)
	return b.freeSpace(ctx, st)
}

// freeSpace frees the storage: it purges the filler or, when that does
// not go through within 20 s (in a cluster whose every server is full
// the stream leaders keep stepping down), grows every server's storage,
// one server after the other, as an operator would grow the volume.
func (b *burstRunner) freeSpace(ctx context.Context, st jetstream.Stream) error {
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var err error
	for {
		if err = st.Purge(pctx); err == nil {
			b.note("storage free again: the filler purged")
			return nil
		}
		if pctx.Err() != nil {
			break
		}
		sleepCtx(pctx, 500*time.Millisecond)
	}
	const grown = 8 * storageLimit
	b.note(fmt.Sprintf("the filler cannot be purged (%v): every server's storage grown to %d MiB, one after the other", err, grown>>20))
	n := b.e.nats
	for i := range n.cfgs {
		n.stop(i)
		n.setMaxStore(i, grown)
		if err := n.start(i); err != nil {
			return fmt.Errorf("storage full: grow the storage: %w", err)
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
			if s := n.server(i); s != nil && s.Healthz(nil).Error == "" {
				break
			}
			sleepCtx(ctx, 250*time.Millisecond)
		}
	}
	b.note("storage free again: every server has room")
	return nil
}

// fill publishes filler to the filler stream until NATS refuses it for
// want of storage and returns how many bytes it stored.
func fill(ctx context.Context, js jetstream.JetStream) (int, error) {
	chunk := make([]byte, 256<<10)
	filled, failures := 0, 0
	for filled <= 4*storageLimit {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.Publish(pctx, "loadtest.filler", chunk)
		cancel()
		switch {
		case err == nil:
			filled += len(chunk)
			failures = 0
		case storageFull(err):
			return filled, nil
		case ctx.Err() != nil:
			return filled, ctx.Err()
		default:
			if failures++; failures > 20 {
				return filled, fmt.Errorf("storage full: filler refused %d times without NATS saying the storage is full: %w", failures, err)
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
	return filled, fmt.Errorf("storage full: %d MiB of filler stored and NATS still takes more", filled>>20)
}

// storageFull reports whether err is NATS refusing to store for want of
// storage.
func storageFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == codeInsufficientResources
}
