package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// A comparison run (Compare) measures the worker side by side with the
// peer (peer.go) in one run, on the same NATS server, API fake and
// accounts: every round publishes one request per account to each
// contender in turn (the order alternates from round to round) and
// measures each alone, so that the ratio holds however busy the machine
// is. The first round is every account's first fetch; before the third,
// a share of the accounts (-change-rate, default 10 %) get a new payment.
//
// Both contenders are measured the same way: a request counts as answered
// when its contender acknowledges it (each does so once its answer is
// stored), seen on the stream's ack subjects — the tool reads no answer,
// so that its own work, which shares the NATS server's process, is the
// same for both. Our events are counted in the events stream (its
// messages less the accounts' state messages).

// PeerConfig says how to run the peer.
type PeerConfig struct {
	// Bin and Args run the peer: an executable that calls RunPeer
	// (cmd/loadtest with -peer-mode).
	Bin  string
	Args []string
	// Env is added to the peer's environment (which is the worker's).
	Env []string
	// Concurrency is the peer's number of handlers; default PeerConcurrency.
	Concurrency int
}

// compareOps are the operations of every request of a comparison: the
// two calls the peer makes.
const compareOps = `,"operations":["saldo","transaktioner"]`

// payRound is the round before which the changed accounts get a payment.
const payRound = 3

// CompareReport is the result of a comparison run (the JSON summary).
type CompareReport struct {
	Accounts     int     `json:"accounts"`
	Transactions int     `json:"transactionsPerAccount"`
	Rounds       int     `json:"rounds"`
	ChangeRate   float64 `json:"changeRate"`
	// Concurrency is the worker's WORKER_CONCURRENCY (0: its default).
	Concurrency     int `json:"concurrency,omitempty"`
	PeerConcurrency int `json:"peerConcurrency"`
	// LoadAverage at the start and at the end (1, 5, 15 minutes).
	LoadAverageStart [3]float64 `json:"loadAverageStart"`
	LoadAverageEnd   [3]float64 `json:"loadAverageEnd"`

	Ours Contender `json:"ours"`
	Peer Contender `json:"peer"`
	// Ratios of refreshes per second, ours over the peer's: per round,
	// over rounds 2 to the last (steady) and over all rounds.
	RoundRatios  []float64 `json:"roundRatios"`
	SteadyRatio  float64   `json:"steadyRatio"`
	OverallRatio float64   `json:"overallRatio"`
	// FirstRoundEventsPerSecond is our events per second in the first round.
	FirstRoundEventsPerSecond float64 `json:"firstRoundEventsPerSecond"`
}

// Contender is one side's figures.
type Contender struct {
	Rounds  []ComparePhase `json:"rounds"`
	Steady  ComparePhase   `json:"steady"`
	Overall ComparePhase   `json:"overall"`
	// PeakRSSBytes is the highest VmHWM of the contender's process.
	PeakRSSBytes int64 `json:"peakRssBytes"`
}

// ComparePhase is one contender's round (or a sum of rounds).
type ComparePhase struct {
	Phase
	// RanFirst is set when the contender ran first in the round.
	RanFirst bool        `json:"ranFirst,omitempty"`
	NATS     NATSFigures `json:"nats"`
	// ToolCPUSeconds is the CPU time of the load tool's own process
	// meanwhile: the embedded NATS server, the API fake and the tool.
	ToolCPUSeconds          float64 `json:"toolCpuSeconds"`
	ToolCPUMicrosPerRefresh float64 `json:"toolCpuMicrosPerRefresh"`
}

func sumCompare(name string, ps []ComparePhase) ComparePhase {
	phases := make([]Phase, len(ps))
	var out ComparePhase
	for i, p := range ps {
		phases[i] = p.Phase
		out.NATS = out.NATS.add(p.NATS)
		out.ToolCPUSeconds += p.ToolCPUSeconds
	}
	out.Phase = sumPhases(name, phases)
	out.finishCompare()
	return out
}

func (p *ComparePhase) finishCompare() {
	p.NATS.perRefresh(p.Answered)
	if p.Answered > 0 {
		p.ToolCPUMicrosPerRefresh = p.ToolCPUSeconds * 1e6 / float64(p.Answered)
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// comparison is a running comparison.
type comparison struct {
	e     *env
	pjs   jetstream.JetStream
	nonce string
	ours  *contender
	peer  *contender
	// failed counts our FetchFailed answers.
	failed atomic.Int64
}

// contender is one side of a comparison.
type contender struct {
	name            string
	conn            string // its NATS connection's name
	stream, durable string // its request queue
	subject         func(omfragad string) string
	procs           *workerSet
	tracker         *ackTracker
	tap             *ackTap
	countsOwnEvents bool // ours: events counted in the stream; the peer: one message per answer
}

// Compare runs the worker and the peer side by side and returns the
// report. Zero values of cfg mean the comparison's defaults: 1,000
// accounts, 4 rounds after the first, 10 % of the accounts paid before
// the third round.
func Compare(ctx context.Context, cfg Config, pc PeerConfig) (*CompareReport, error) {
	if cfg.Accounts == 0 {
		cfg.Accounts = 1000
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = 4
	}
	if cfg.ChangeRate == 0 {
		cfg.ChangeRate = 0.1
	}
	cfg, err := cfg.withDefaults(false)
	if err != nil {
		return nil, err
	}
	if pc.Bin == "" {
		return nil, errors.New("compare: no peer executable")
	}
	if pc.Concurrency <= 0 {
		pc.Concurrency = PeerConcurrency
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	rep := &CompareReport{Accounts: cfg.Accounts, Transactions: cfg.Transactions, Rounds: cfg.Rounds + 1, ChangeRate: cfg.ChangeRate,
		Concurrency: cfg.Concurrency, PeerConcurrency: pc.Concurrency, LoadAverageStart: loadAverage()}
	c, err := startComparison(ctx, cfg, pc)
	if c != nil {
		defer c.close()
	}
	if err != nil {
		return nil, err
	}

	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 3))
	for round := 1; round <= cfg.Rounds+1; round++ {
		paid := 0
		if round == payRound {
			n := int(cfg.ChangeRate*float64(len(c.e.accounts)) + 0.5)
			paid = n
			for _, i := range rng.Perm(len(c.e.accounts))[:n] {
				omf := c.e.accounts[i]
				if err := pay(c.e.sim, rng, omf, time.Now()); err != nil {
					return rep, fmt.Errorf("pay into account %s: %w", omf, err)
				}
			}
			c.e.logf("round-%d: %d accounts paid into", round, n)
		}
		name := "round-" + strconv.Itoa(round)
		sides := []struct {
			k   *contender
			out *[]ComparePhase
		}{{c.ours, &rep.Ours.Rounds}, {c.peer, &rep.Peer.Rounds}}
		if round%2 == 0 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for i, s := range sides {
			p, err := c.phase(ctx, s.k, name)
			p.RanFirst, p.Changed = i == 0, paid
			*s.out = append(*s.out, p)
			if err != nil {
				return rep, err
			}
		}
	}
	rep.finish()
	_, rep.Ours.PeakRSSBytes = c.ours.procs.totals()
	_, rep.Peer.PeakRSSBytes = c.peer.procs.totals()
	rep.LoadAverageEnd = loadAverage()
	return rep, nil
}

// finish sums the rounds and derives the ratios.
func (rep *CompareReport) finish() {
	for _, side := range []*Contender{&rep.Ours, &rep.Peer} {
		side.Overall = sumCompare("overall", side.Rounds)
		if len(side.Rounds) > 1 {
			side.Steady = sumCompare("steady", side.Rounds[1:])
		}
	}
	rep.RoundRatios = nil
	for i := range min(len(rep.Ours.Rounds), len(rep.Peer.Rounds)) {
		rep.RoundRatios = append(rep.RoundRatios, ratio(rep.Ours.Rounds[i].RefreshesPerSecond, rep.Peer.Rounds[i].RefreshesPerSecond))
	}
	rep.SteadyRatio = ratio(rep.Ours.Steady.RefreshesPerSecond, rep.Peer.Steady.RefreshesPerSecond)
	rep.OverallRatio = ratio(rep.Ours.Overall.RefreshesPerSecond, rep.Peer.Overall.RefreshesPerSecond)
	if len(rep.Ours.Rounds) > 0 {
		rep.FirstRoundEventsPerSecond = rep.Ours.Rounds[0].EventsPerSecond
	}
}

// startComparison sets up NATS, the API fake and the accounts, starts the
// worker and the peer, and waits until both pull requests.
func startComparison(ctx context.Context, cfg Config, pc PeerConfig) (*comparison, error) {
	e, err := setup(ctx, cfg, envOptions{servers: 1})
	if err != nil {
		return nil, err
	}
	c := &comparison{e: e, nonce: strconv.FormatInt(time.Now().UnixNano()%1e9, 36)}
	peerDir := filepath.Join(e.dir, "peer")
	if err := os.MkdirAll(peerDir, 0o755); err != nil {
		return c, err
	}
	c.ours = &contender{name: "ours", conn: contract.ConnectionName, stream: contract.FetchStream, durable: contract.Durable,
		subject: contract.FetchSubject, procs: e.workers, countsOwnEvents: true}
	c.peer = &contender{name: "peer", conn: PeerConnectionName, stream: peerRequests, durable: peerDurable,
		subject: func(omf string) string { return peerFetchPrefix + omf },
		procs: &workerSet{bin: pc.Bin, logDir: peerDir,
			args: func(int, int) []string { return pc.Args },
			env: func(i int) []string {
				return append(append(e.workers.env(i), pc.Env...), "PEER_CONCURRENCY="+strconv.Itoa(pc.Concurrency))
			}}}
	e.logf("creating %d accounts × %d transactions", cfg.Accounts, cfg.Transactions)
	if err := e.createAccounts(time.Now()); err != nil {
		return c, err
	}
	for _, k := range []*contender{c.ours, c.peer} {
		k.tracker = &ackTracker{}
		k.tap = &ackTap{onAck: k.tracker.acked}
		sub, err := e.nc.Subscribe(ackSubject(k.stream), k.tap.handle)
		if err != nil {
			return c, err
		}
		_ = sub.SetPendingLimits(-1, -1)
	}
	sub, err := e.nc.Subscribe(contract.EventSubject("*", string(events.TypeFetchFailed)), func(*nats.Msg) { c.failed.Add(1) })
	if err != nil {
		return c, err
	}
	_ = sub.SetPendingLimits(-1, -1)
	c.pjs, err = jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		return c, err
	}
	if err := e.startWorkers(ctx, contract.Durable); err != nil {
		return c, err
	}
	if err := c.peer.procs.start(0); err != nil {
		return c, err
	}
	if err := waitConsumer(ctx, e.js, peerRequests, peerDurable); err != nil {
		return c, fmt.Errorf("peer not pulling (see %s): %w", c.peer.procs.logPath(0), err)
	}
	return c, nil
}

func (c *comparison) close() {
	if c.peer != nil {
		c.peer.procs.stop(10 * time.Second)
	}
	c.e.close()
}

// waitConsumer waits until the durable consumer has a pull request waiting.
func waitConsumer(ctx context.Context, js jetstream.JetStream, stream, durable string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		if cons, err := js.Consumer(ctx, stream, durable); err == nil {
			if info, err := cons.Info(ctx); err == nil && info.NumWaiting > 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settle waits (up to 5 s) until the consumer holds nothing unacknowledged,
// so that a phase's last acks are counted in it, and lets the server
// finish writing before the next phase.
func (c *comparison) settle(ctx context.Context, k *contender) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		if idle(ctx, c.e.js, k.stream, k.durable) {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	time.Sleep(300 * time.Millisecond)
}

// figures are the counters a phase is measured between.
type figures struct {
	nats     NATSFigures
	toolCPU  time.Duration
	procCPU  time.Duration
	calls    map[string]int
	events   int64
	failed   int64
	eventsOK bool
}

func (c *comparison) figures(ctx context.Context, k *contender) figures {
	f := figures{calls: c.e.sim.Calls(), failed: c.failed.Load()}
	f.nats, _ = c.e.nats.connFigures(k.conn)
	f.nats.Acks, f.nats.OneWayAcks = k.tap.n.Load(), k.tap.oneWay.Load()
	if st, err := readProc(os.Getpid()); err == nil {
		f.toolCPU = st.CPU
	}
	f.procCPU, _ = k.procs.totals()
	if k.countsOwnEvents {
		f.events, f.eventsOK = c.storedEvents(ctx)
	}
	return f
}

// storedEvents is the number of events in the events stream: its
// messages less the accounts' states (one message each).
func (c *comparison) storedEvents(ctx context.Context) (int64, bool) {
	st, err := c.e.js.Stream(ctx, contract.EventsStream)
	if err != nil {
		return 0, false
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(contract.StatePrefix+">"))
	if err != nil {
		return 0, false
	}
	n := int64(info.State.Msgs)
	for _, k := range info.State.Subjects {
		n -= int64(k)
	}
	return n, true
}

// phase publishes one request per account to the contender and waits
// until each is acknowledged.
func (c *comparison) phase(ctx context.Context, k *contender, name string) (ComparePhase, error) {
	e := c.e
	f0 := c.figures(ctx, k)
	e.logf("%s: %d requests to %s", name, len(e.accounts), k.name)
	p := k.tracker.begin(len(e.accounts))
	type pending struct {
		f  jetstream.PubAckFuture
		at time.Time
	}
	acks := make(chan pending, 1024)
	var wg sync.WaitGroup
	wg.Go(func() {
		for a := range acks {
			select {
			case ack := <-a.f.Ok():
				k.tracker.stored(ack.Sequence, a.at)
			case <-a.f.Err():
				k.tracker.forget()
			}
		}
	})
	var err error
	for i, omf := range e.accounts {
		if ctx.Err() != nil {
			break
		}
		id := c.nonce + "-" + k.name + "-" + name + "-" + strconv.Itoa(i)
		m := nats.NewMsg(k.subject(omf))
		m.Data = []byte(`{"requestId":"` + id + `"` + compareOps + `}`)
		m.Header.Set(nats.MsgIdHdr, id)
		at := time.Now()
		k.tracker.published(at)
		f, perr := c.pjs.PublishMsgAsync(m)
		if perr != nil {
			err = fmt.Errorf("publish request: %w", perr)
			k.tracker.forget()
			break
		}
		acks <- pending{f, at}
	}
	close(acks)
	wg.Wait()
	k.tracker.seal()
	if err == nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			err = fmt.Errorf("%s: %s answered %d of %d requests: %w", name, k.name, p.count(), p.requests, ctx.Err())
		}
	}
	c.settle(ctx, k)
	f1 := c.figures(ctx, k)
	out := k.tracker.phase(name)
	out.WorkerCPUSeconds = (f1.procCPU - f0.procCPU).Seconds()
	for op, n := range f1.calls {
		if op == sim.OpToken {
			out.TokenCalls += n - f0.calls[op]
		} else {
			out.APICalls += n - f0.calls[op]
		}
	}
	if k.countsOwnEvents {
		out.Failed = int(f1.failed - f0.failed)
		if f0.eventsOK && f1.eventsOK {
			out.Events = int(f1.events - f0.events)
		}
	}
	out.finish()
	cp := ComparePhase{Phase: out, NATS: f1.nats.sub(f0.nats), ToolCPUSeconds: (f1.toolCPU - f0.toolCPU).Seconds()}
	cp.finishCompare()
	return cp, err
}

// pay books a new payment on the account, as a customer's transfer would.
func pay(s simulator, rng *rand.Rand, omf string, now time.Time) error {
	amount := int64(100 * (1 + rng.IntN(200)))
	return s.PostTransaction(omf, sim.Transaction{
		Transaktionstext:   "Inbetalning bokförd " + now.In(contract.Stockholm).Format("060102"),
		BeloppSkatteverket: &amount,
	})
}

// ackTracker matches a contender's acks to the requests published: an ack
// names the request's stream sequence, which the request's publish ack
// tells (and which may come after the contender's ack).
type ackTracker struct {
	mu    sync.Mutex
	cur   *ackPhase
	bySeq map[uint64]time.Time // publish time of requests stored, not yet acked
	early map[uint64]time.Time // time of acks whose request's sequence is not known yet
}

type ackPhase struct {
	requests, answered int
	sealed, closed     bool
	first, last        time.Time
	latencies          []time.Duration
	done               chan struct{}
	mu                 *sync.Mutex
}

func (p *ackPhase) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answered
}

func (t *ackTracker) begin(requests int) *ackPhase {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur = &ackPhase{requests: requests, done: make(chan struct{}), mu: &t.mu, latencies: make([]time.Duration, 0, requests)}
	t.bySeq, t.early = map[uint64]time.Time{}, map[uint64]time.Time{}
	return t.cur
}

func (t *ackTracker) published(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur.first.IsZero() {
		t.cur.first = at
	}
}

// forget drops a request whose publish failed.
func (t *ackTracker) forget() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.requests--
	t.check()
}

// stored records a request's stream sequence.
func (t *ackTracker) stored(seq uint64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ackAt, ok := t.early[seq]; ok {
		delete(t.early, seq)
		t.answer(at, ackAt)
		return
	}
	t.bySeq[seq] = at
}

// acked records the peer's ack of the request at stream sequence seq.
func (t *ackTracker) acked(seq uint64) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == nil {
		return
	}
	if at, ok := t.bySeq[seq]; ok {
		delete(t.bySeq, seq)
		t.answer(at, now)
		return
	}
	t.early[seq] = now
}

func (t *ackTracker) answer(published, acked time.Time) {
	p := t.cur
	p.answered++
	if acked.After(p.last) {
		p.last = acked
	}
	p.latencies = append(p.latencies, acked.Sub(published))
	t.check()
}

// seal marks the phase's publishing done.
func (t *ackTracker) seal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.sealed = true
	t.check()
}

func (t *ackTracker) check() {
	p := t.cur
	if p.sealed && !p.closed && p.answered >= p.requests {
		p.closed = true
		close(p.done)
	}
}

// phase returns the current phase's figures (without the rates).
func (t *ackTracker) phase(name string) Phase {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.cur
	out := Phase{Name: name, Requests: p.requests, Answered: p.answered, Events: p.answered, latencies: append([]time.Duration(nil), p.latencies...)}
	if !p.last.IsZero() {
		out.Seconds = p.last.Sub(p.first).Seconds()
	}
	return out
}
