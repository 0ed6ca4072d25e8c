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
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// A comparison run (Compare) measures the worker side by side with the
// peer (peer.go) in one run, on the same NATS server, API fake and
// accounts: every round publishes one request per account to each
// contender in turn (the order alternates from round to round) and
// measures each alone, so that the ratio holds however busy the machine
// is. The first round is every account's first fetch; before the third,
// a share of the accounts (-change-rate, default 10 %) get a new payment.

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
	UnknownAnswers            int     `json:"unknownAnswers"`
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
	e       *env
	r       *loadRunner
	peers   *workerSet
	pjs     jetstream.JetStream
	pt      *peerTracker
	oursTap *ackTap
	peerTap *ackTap
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
	stopProgress := c.r.progress()
	defer stopProgress()

	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 3))
	for round := 1; round <= cfg.Rounds+1; round++ {
		changed := map[string]bool{}
		if round == payRound {
			n := int(cfg.ChangeRate*float64(len(c.e.accounts)) + 0.5)
			for _, i := range rng.Perm(len(c.e.accounts))[:n] {
				omf := c.e.accounts[i]
				if err := pay(c.e.sim, rng, omf, time.Now()); err != nil {
					return rep, fmt.Errorf("pay into account %s: %w", omf, err)
				}
				changed[omf] = true
			}
		}
		name := "round-" + strconv.Itoa(round)
		ours := func(first bool) error {
			p, err := c.oursPhase(ctx, name, changed)
			p.RanFirst = first
			rep.Ours.Rounds = append(rep.Ours.Rounds, p)
			return err
		}
		peer := func(first bool) error {
			p, err := c.peerPhase(ctx, name)
			p.RanFirst = first
			rep.Peer.Rounds = append(rep.Peer.Rounds, p)
			return err
		}
		first, second := ours, peer
		if round%2 == 0 {
			first, second = peer, ours
		}
		if err := first(true); err != nil {
			return rep, err
		}
		if err := second(false); err != nil {
			return rep, err
		}
	}
	rep.finish()
	_, rep.Ours.PeakRSSBytes = c.e.workers.totals()
	_, rep.Peer.PeakRSSBytes = c.peers.totals()
	c.r.tr.mu.Lock()
	rep.UnknownAnswers = c.r.tr.unknown
	c.r.tr.mu.Unlock()
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
	c := &comparison{e: e, pt: &peerTracker{}, oursTap: &ackTap{}}
	c.peerTap = &ackTap{onAck: c.pt.acked}
	e.logf("creating %d accounts × %d transactions", cfg.Accounts, cfg.Transactions)
	if err := e.createAccounts(time.Now()); err != nil {
		return c, err
	}
	if c.r, err = newLoadRunner(e); err != nil {
		return c, err
	}
	c.r.ops = compareOps
	for _, t := range []struct {
		stream string
		tap    *ackTap
	}{{contract.FetchStream, c.oursTap}, {peerRequests, c.peerTap}} {
		sub, err := e.nc.Subscribe(ackSubject(t.stream), t.tap.handle)
		if err != nil {
			return c, err
		}
		_ = sub.SetPendingLimits(-1, -1)
	}
	c.pjs, err = jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		return c, err
	}
	peerDir := filepath.Join(e.dir, "peer")
	if err := os.MkdirAll(peerDir, 0o755); err != nil {
		return c, err
	}
	c.peers = &workerSet{bin: pc.Bin, logDir: peerDir,
		args: func(int, int) []string { return pc.Args },
		env: func(i int) []string {
			return append(append(e.workers.env(i), pc.Env...), "PEER_CONCURRENCY="+strconv.Itoa(pc.Concurrency))
		}}
	if err := e.startWorkers(ctx, contract.Durable); err != nil {
		return c, err
	}
	if err := c.peers.start(0); err != nil {
		return c, err
	}
	if err := waitConsumer(ctx, e.js, peerRequests, peerDurable); err != nil {
		return c, fmt.Errorf("peer not pulling (see %s): %w", c.peers.logPath(0), err)
	}
	return c, nil
}

func (c *comparison) close() {
	if c.peers != nil {
		c.peers.stop(10 * time.Second)
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
func (c *comparison) settle(ctx context.Context, stream, durable string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		if cons, err := c.e.js.Consumer(ctx, stream, durable); err == nil {
			if info, err := cons.Info(ctx); err == nil && info.NumAckPending == 0 && info.NumPending == 0 {
				break
			}
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
	nats    NATSFigures
	toolCPU time.Duration
}

func (c *comparison) figures(conn string, tap *ackTap) figures {
	f, _ := c.e.nats.connFigures(conn)
	f.Acks = tap.n.Load()
	var cpu time.Duration
	if st, err := readProc(os.Getpid()); err == nil {
		cpu = st.CPU
	}
	return figures{nats: f, toolCPU: cpu}
}

func (c *comparison) wrap(p Phase, f0, f1 figures) ComparePhase {
	out := ComparePhase{Phase: p, NATS: f1.nats.sub(f0.nats), ToolCPUSeconds: (f1.toolCPU - f0.toolCPU).Seconds()}
	out.finishCompare()
	return out
}

// oursPhase runs a round of the worker.
func (c *comparison) oursPhase(ctx context.Context, name string, changed map[string]bool) (ComparePhase, error) {
	f0 := c.figures(contract.ConnectionName, c.oursTap)
	p, err := c.r.phase(ctx, name, c.e.accounts, changed, nil)
	c.r.cur.Store(nil)
	c.settle(ctx, contract.FetchStream, contract.Durable)
	return c.wrap(p, f0, c.figures(contract.ConnectionName, c.oursTap)), err
}

// peerPhase publishes one request per account to the peer and waits
// until each is acknowledged (the peer acknowledges a request once its
// answer is stored).
func (c *comparison) peerPhase(ctx context.Context, name string) (ComparePhase, error) {
	e := c.e
	calls0 := e.sim.Calls()
	cpu0, _ := c.peers.totals()
	f0 := c.figures(PeerConnectionName, c.peerTap)
	e.logf("%s: %d requests to the peer", name, len(e.accounts))
	p := c.pt.begin(len(e.accounts))
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
				c.pt.stored(ack.Sequence, a.at)
			case <-a.f.Err():
				c.pt.forget()
			}
		}
	})
	var err error
	for i, omf := range e.accounts {
		if ctx.Err() != nil {
			break
		}
		id := c.r.nonce + "-peer-" + name + "-" + strconv.Itoa(i)
		m := nats.NewMsg(peerFetchPrefix + omf)
		m.Data = []byte(`{"requestId":"` + id + `"` + compareOps + `}`)
		m.Header.Set(nats.MsgIdHdr, id)
		at := time.Now()
		c.pt.published(at)
		f, perr := c.pjs.PublishMsgAsync(m)
		if perr != nil {
			err = fmt.Errorf("publish peer request: %w", perr)
			c.pt.forget()
			break
		}
		acks <- pending{f, at}
	}
	close(acks)
	wg.Wait()
	c.pt.seal()
	if err == nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			err = fmt.Errorf("%s: the peer answered %d of %d requests: %w", name, p.count(), p.requests, ctx.Err())
		}
	}
	c.settle(ctx, peerRequests, peerDurable)
	cpu1, _ := c.peers.totals()
	calls1 := e.sim.Calls()
	out := c.pt.phase(name)
	out.WorkerCPUSeconds = (cpu1 - cpu0).Seconds()
	for op, n := range calls1 {
		if op == sim.OpToken {
			out.TokenCalls += n - calls0[op]
		} else {
			out.APICalls += n - calls0[op]
		}
	}
	out.finish()
	return c.wrap(out, f0, c.figures(PeerConnectionName, c.peerTap)), err
}

// pay books a new payment on the account, as a customer's transfer would.
func pay(s simulator, rng *rand.Rand, omf string, now time.Time) error {
	amount := int64(100 * (1 + rng.IntN(200)))
	return s.PostTransaction(omf, sim.Transaction{
		Transaktionstext:   "Inbetalning bokförd " + now.In(contract.Stockholm).Format("060102"),
		BeloppSkatteverket: &amount,
	})
}

// peerTracker matches the peer's acks to the requests published: an ack
// names the request's stream sequence, which the request's publish ack
// tells (and which may come after the peer's ack).
type peerTracker struct {
	mu    sync.Mutex
	cur   *peerPhase
	bySeq map[uint64]time.Time // publish time of requests stored, not yet acked
	early map[uint64]time.Time // time of acks whose request's sequence is not known yet
}

type peerPhase struct {
	requests, answered int
	sealed, closed     bool
	first, last        time.Time
	latencies          []time.Duration
	done               chan struct{}
	mu                 *sync.Mutex
}

func (p *peerPhase) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answered
}

func (t *peerTracker) begin(requests int) *peerPhase {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur = &peerPhase{requests: requests, done: make(chan struct{}), mu: &t.mu, latencies: make([]time.Duration, 0, requests)}
	t.bySeq, t.early = map[uint64]time.Time{}, map[uint64]time.Time{}
	return t.cur
}

func (t *peerTracker) published(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur.first.IsZero() {
		t.cur.first = at
	}
}

// forget drops a request whose publish failed.
func (t *peerTracker) forget() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.requests--
	t.check()
}

// stored records a request's stream sequence.
func (t *peerTracker) stored(seq uint64, at time.Time) {
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
func (t *peerTracker) acked(seq uint64) {
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

func (t *peerTracker) answer(published, acked time.Time) {
	p := t.cur
	p.answered++
	if acked.After(p.last) {
		p.last = acked
	}
	p.latencies = append(p.latencies, acked.Sub(published))
	t.check()
}

// seal marks the phase's publishing done.
func (t *peerTracker) seal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.sealed = true
	t.check()
}

func (t *peerTracker) check() {
	p := t.cur
	if p.sealed && !p.closed && p.answered >= p.requests {
		p.closed = true
		close(p.done)
	}
}

// phase returns the current phase's figures (without the rates).
func (t *peerTracker) phase(name string) Phase {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.cur
	out := Phase{Name: name, Requests: p.requests, Answered: p.answered, Events: p.answered, latencies: append([]time.Duration(nil), p.latencies...)}
	if !p.last.IsZero() {
		out.Seconds = p.last.Sub(p.first).Seconds()
	}
	return out
}
