package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// Report is the result of a load run (the JSON summary).
type Report struct {
	Accounts     int     `json:"accounts"`
	Transactions int     `json:"transactionsPerAccount"`
	Workers      int     `json:"workers"`
	Concurrency  int     `json:"concurrency,omitempty"`
	ChangeRate   float64 `json:"changeRate"`
	Rate         float64 `json:"ratePerSecond"`
	LatencyMs    float64 `json:"apiLatencyMs"`
	// RateLimit is SKV_RATE_LIMIT: calls per second for the whole
	// deployment, shared by the workers (the JSON name is older).
	RateLimit    float64 `json:"workerRateLimit"`
	SimRateLimit float64 `json:"simRateLimit"`
	QueueFirst   bool    `json:"queueFirst,omitempty"`

	Baseline Phase   `json:"baseline"`
	Rounds   []Phase `json:"rounds"`
	// Steady sums the rounds after the baseline.
	Steady Phase `json:"steady"`

	Storage Storage `json:"storage"`
	// WorkerCPUSeconds is the CPU time of all worker processes over the run.
	WorkerCPUSeconds float64 `json:"workerCpuSeconds"`
	// WorkerPeakRSSBytes is the highest VmHWM of any worker process.
	WorkerPeakRSSBytes int64 `json:"workerPeakRssBytes"`
	// TooManyRequests is the number of 429 answers the simulator gave (-1: unknown).
	TooManyRequests int64 `json:"tooManyRequests"`
	// UnknownAnswers counts answers naming no outstanding request: a
	// request answered by a second event (a second copy of the same
	// event, sent again after a rejected group commit, is not counted).
	UnknownAnswers int     `json:"unknownAnswers"`
	SetupSeconds   float64 `json:"setupSeconds"`
}

// Phase is the figures of one phase: the baseline or a refresh round.
type Phase struct {
	Name     string `json:"name"`
	Requests int    `json:"requests"`
	Answered int    `json:"answered"`
	Failed   int    `json:"failed"`
	Changed  int    `json:"changedAccounts"`
	// Seconds runs from the first publish to the last answer.
	Seconds            float64 `json:"seconds"`
	RefreshesPerSecond float64 `json:"refreshesPerSecond"`
	Latency            Latency `json:"latencyMs"`
	Events             int     `json:"events"`
	EventsPerSecond    float64 `json:"eventsPerSecond"`
	// APICalls is the simulator's count of API calls (token calls apart).
	APICalls           int     `json:"apiCalls"`
	TokenCalls         int     `json:"tokenCalls"`
	APICallsPerRefresh float64 `json:"apiCallsPerRefresh"`
	// From the FetchCompleted events' apiCalls, by whether the account changed.
	APICallsPerUnchanged float64 `json:"apiCallsPerUnchangedRefresh"`
	APICallsPerChanged   float64 `json:"apiCallsPerChangedRefresh"`
	// APICallsPerSecond is the sustained call rate.
	APICallsPerSecond float64 `json:"apiCallsPerSecond"`
	TooManyRequests   int64   `json:"tooManyRequests"`
	WorkerCPUSeconds  float64 `json:"workerCpuSeconds"`
	// WorkerCPUMicrosPerRefresh is worker CPU time per answered request.
	WorkerCPUMicrosPerRefresh float64 `json:"workerCpuMicrosPerRefresh"`

	latencies []time.Duration
	calls     [2]int // unchanged, changed sums
	nCalls    [2]int
}

// Latency is publish-to-answer latency in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Storage is what NATS holds per account.
type Storage struct {
	StreamBytes     uint64  `json:"streamBytes"`
	StreamMessages  uint64  `json:"streamMessages"`
	BytesPerAccount float64 `json:"streamBytesPerAccount"`
	// State messages (skattekonto.state.<acct>) of a sample of accounts.
	StateSampled                  int     `json:"stateSampled"`
	StateBytesAvg                 float64 `json:"stateBytesAvg"`
	KnownTransactionsAvg          float64 `json:"knownTransactionsAvg"`
	StateBytesPerKnownTransaction float64 `json:"stateBytesPerKnownTransaction"`
	// Average bytes of the state's parts as encoded: the fingerprints of
	// known transactions, upcoming rows, recent fetch ids, recent request ids.
	StateParts map[string]float64 `json:"statePartsBytesAvg"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Run runs the load test and returns its report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults(false)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	e, err := setup(ctx, cfg, envOptions{servers: 1})
	if err != nil {
		return nil, err
	}
	defer e.close()
	now := time.Now()
	e.logf("creating %d accounts × %d transactions", cfg.Accounts, cfg.Transactions)
	if err := e.createAccounts(now); err != nil {
		return nil, err
	}

	rep := &Report{Accounts: cfg.Accounts, Transactions: cfg.Transactions, Workers: cfg.Workers, Concurrency: cfg.Concurrency,
		ChangeRate: cfg.ChangeRate, Rate: cfg.Rate, LatencyMs: ms(cfg.Latency), RateLimit: cfg.RateLimit,
		SimRateLimit: cfg.SimRateLimit, QueueFirst: cfg.QueueFirst, TooManyRequests: -1}
	if e.local != nil {
		rep.TooManyRequests = 0 // counted, also when the run stops early
	}

	tr := newTracker()
	for _, subj := range []string{contract.EventSubject("*", string(events.TypeFetchCompleted)), contract.EventSubject("*", string(events.TypeFetchFailed))} {
		sub, err := e.nc.Subscribe(subj, func(m *nats.Msg) { tr.handle(m.Data, time.Now()) })
		if err != nil {
			return nil, err
		}
		_ = sub.SetPendingLimits(-1, -1)
	}
	if err := e.nc.Flush(); err != nil {
		return nil, err
	}
	pjs, err := jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(1024),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			tr.forget(m.Header.Get(nats.MsgIdHdr))
		}))
	if err != nil {
		return nil, err
	}
	r := &loadRunner{e: e, tr: tr, js: pjs, nonce: strconv.FormatInt(time.Now().UnixNano()%1e9, 36)}
	stopProgress := r.progress()
	defer stopProgress()

	consumer := contract.Durable
	if cfg.QueueFirst {
		if err := createStreams(ctx, e.js, 1); err != nil {
			return nil, err
		}
		e.logf("queueing %d requests before the workers start", cfg.Accounts)
		rep.SetupSeconds = time.Since(start).Seconds()
		// With a full queue the workers never wait for work: start them
		// and let the phase's clock run from there.
		rep.Baseline, err = r.phase(ctx, "baseline", e.accounts, nil, func() error {
			for i := range cfg.Workers {
				if err := e.workers.start(i); err != nil {
					return err
				}
			}
			return nil
		})
	} else {
		if err := e.startWorkers(ctx, consumer); err != nil {
			return nil, err
		}
		rep.SetupSeconds = time.Since(start).Seconds()
		rep.Baseline, err = r.phase(ctx, "baseline", e.accounts, nil, nil)
	}
	if err != nil {
		return rep, err
	}

	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 2))
	for round := 1; round <= cfg.Rounds; round++ {
		n := int(cfg.ChangeRate*float64(len(e.accounts)) + 0.5)
		changed := map[string]bool{}
		for _, i := range rng.Perm(len(e.accounts))[:n] {
			omf := e.accounts[i]
			if err := mutate(e.sim, rng, omf, time.Now()); err != nil {
				return rep, fmt.Errorf("change account %s: %w", omf, err)
			}
			changed[omf] = true
		}
		p, err := r.phase(ctx, "round-"+strconv.Itoa(round), e.accounts, changed, nil)
		rep.Rounds = append(rep.Rounds, p)
		if err != nil {
			return rep, err
		}
	}
	rep.Steady = sumPhases("steady", rep.Rounds)

	if rep.Storage, err = storage(ctx, e); err != nil {
		return rep, err
	}
	cpu, rss := e.workers.totals()
	rep.WorkerCPUSeconds, rep.WorkerPeakRSSBytes = cpu.Seconds(), rss
	if e.local != nil {
		rep.TooManyRequests = e.local.tooMany.Load()
	}
	tr.mu.Lock()
	rep.UnknownAnswers = tr.unknown
	tr.mu.Unlock()
	return rep, nil
}

type loadRunner struct {
	e         *env
	tr        *tracker
	js        jetstream.JetStream
	nonce     string
	cur       atomic.Pointer[phaseStats]
	published atomic.Int64
}

// phase publishes one request per account and waits for every answer.
// afterPublish, when set, runs once all are published (and the phase's
// clock starts then).
func (r *loadRunner) phase(ctx context.Context, name string, accts []string, changed map[string]bool, afterPublish func() error) (Phase, error) {
	e := r.e
	calls0 := e.sim.Calls()
	var tooMany0 int64
	if e.local != nil {
		tooMany0 = e.local.tooMany.Load()
	}
	cpu0, _ := e.workers.totals()
	p := r.tr.begin(name, len(accts))
	r.published.Store(0)
	r.cur.Store(p)
	e.logf("%s: %d requests, %d accounts changed", name, len(accts), len(changed))

	start := time.Now()
	for i, omf := range accts {
		if ctx.Err() != nil {
			break
		}
		if e.cfg.Rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / e.cfg.Rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		id := r.nonce + "-" + name + "-" + strconv.Itoa(i)
		m := nats.NewMsg(contract.FetchSubject(omf))
		m.Data = []byte(`{"requestId":"` + id + `"}`)
		m.Header.Set(nats.MsgIdHdr, id)
		r.tr.published(id, changed[omf], p, time.Now())
		// A server that fsyncs every write before acknowledging it takes
		// a disk flush per request: wait for room rather than give up.
		if _, err := r.js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
			r.tr.forget(id)
			return Phase{Name: name}, fmt.Errorf("publish request: %w", err)
		}
		r.published.Add(1)
	}
	select {
	case <-r.js.PublishAsyncComplete():
	case <-ctx.Done():
	}
	r.tr.sealed(p)
	if afterPublish != nil {
		if err := afterPublish(); err != nil {
			return Phase{Name: name}, err
		}
		r.tr.mu.Lock()
		p.first = time.Now()
		r.tr.mu.Unlock()
	}
	var err error
	select {
	case <-p.done:
	case <-ctx.Done():
		err = fmt.Errorf("%s: stopped with %d of %d requests answered: %w", name, p.answered, p.requests, ctx.Err())
	}
	cpu1, _ := e.workers.totals()
	calls1 := e.sim.Calls()

	r.tr.mu.Lock()
	defer r.tr.mu.Unlock()
	out := Phase{Name: name, Requests: p.requests, Answered: p.answered, Failed: p.failed, Changed: len(changed),
		Events: p.events, WorkerCPUSeconds: (cpu1 - cpu0).Seconds(), latencies: slices.Clone(p.latencies),
		calls: [2]int{p.callsUnch, p.callsCh}, nCalls: [2]int{p.nUnch, p.nCh}}
	if !p.last.IsZero() {
		out.Seconds = p.last.Sub(p.first).Seconds()
	}
	for op, n := range calls1 {
		d := n - calls0[op]
		if op == sim.OpToken {
			out.TokenCalls += d
		} else {
			out.APICalls += d
		}
	}
	if e.local != nil {
		out.TooManyRequests = e.local.tooMany.Load() - tooMany0
	}
	out.finish()
	return out, err
}

// finish derives the rates and percentiles from the sums.
func (p *Phase) finish() {
	if p.Seconds > 0 {
		p.RefreshesPerSecond = float64(p.Answered) / p.Seconds
		p.EventsPerSecond = float64(p.Events) / p.Seconds
		p.APICallsPerSecond = float64(p.APICalls) / p.Seconds
	}
	if p.Answered > 0 {
		p.APICallsPerRefresh = float64(p.APICalls) / float64(p.Answered)
		p.WorkerCPUMicrosPerRefresh = p.WorkerCPUSeconds * 1e6 / float64(p.Answered)
	}
	if p.nCalls[0] > 0 {
		p.APICallsPerUnchanged = float64(p.calls[0]) / float64(p.nCalls[0])
	}
	if p.nCalls[1] > 0 {
		p.APICallsPerChanged = float64(p.calls[1]) / float64(p.nCalls[1])
	}
	l := slices.Clone(p.latencies)
	slices.Sort(l)
	p.Latency = Latency{P50: ms(percentile(l, 0.50)), P95: ms(percentile(l, 0.95)), P99: ms(percentile(l, 0.99))}
	if len(l) > 0 {
		p.Latency.Max = ms(l[len(l)-1])
	}
}

// sumPhases adds phases up (rates over the summed time).
func sumPhases(name string, ps []Phase) Phase {
	out := Phase{Name: name}
	for _, p := range ps {
		out.Requests += p.Requests
		out.Answered += p.Answered
		out.Failed += p.Failed
		out.Changed += p.Changed
		out.Seconds += p.Seconds
		out.Events += p.Events
		out.APICalls += p.APICalls
		out.TokenCalls += p.TokenCalls
		out.TooManyRequests += p.TooManyRequests
		out.WorkerCPUSeconds += p.WorkerCPUSeconds
		out.latencies = append(out.latencies, p.latencies...)
		for i := range 2 {
			out.calls[i] += p.calls[i]
			out.nCalls[i] += p.nCalls[i]
		}
	}
	out.finish()
	return out
}

// progress prints a line every second until stopped.
func (r *loadRunner) progress() func() {
	if r.e.cfg.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastAns int
		var lastPhase *phaseStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			p := r.cur.Load()
			if p == nil {
				continue
			}
			ans, evs := r.tr.snapshot(p)
			if p != lastPhase {
				lastAns, lastPhase = 0, p
			}
			cpu, rss := r.e.workers.totals()
			tm := "-"
			if r.e.local != nil {
				tm = strconv.FormatInt(r.e.local.tooMany.Load(), 10)
			}
			fmt.Fprintf(r.e.cfg.Progress, "%-9s published %d/%d answered %d (%d/s) events %d 429s %s worker cpu %.1fs rss %.0f MB\n",
				p.name, r.published.Load(), p.requests, ans, ans-lastAns, evs, tm, cpu.Seconds(), float64(rss)/(1<<20))
			lastAns = ans
		}
	}()
	return func() { close(stop); <-done }
}

// storage measures the events stream and a sample of state messages.
func storage(ctx context.Context, e *env) (Storage, error) {
	var s Storage
	st, err := e.js.Stream(ctx, contract.EventsStream)
	if err != nil {
		return s, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return s, err
	}
	s.StreamBytes, s.StreamMessages = info.State.Bytes, info.State.Msgs
	s.BytesPerAccount = float64(info.State.Bytes) / float64(len(e.accounts))
	step := max(1, len(e.accounts)/500)
	var bytes, known int
	parts := map[string]int{}
	for i := 0; i < len(e.accounts); i += step {
		m, err := st.GetLastMsgForSubject(ctx, contract.StateSubject(e.accounts[i]))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return s, err
		}
		state, err := events.DecodeState(m.Data)
		if err != nil {
			return s, err
		}
		s.StateSampled++
		bytes += len(m.Data)
		known += state.Known.Len()
		for name, v := range map[string]any{"known": state.Known, "upcoming": state.Upcoming, "fetches": state.Fetches} {
			b, _ := json.Marshal(v)
			parts[name] += len(b)
		}
	}
	if s.StateSampled > 0 {
		n := float64(s.StateSampled)
		s.StateBytesAvg = float64(bytes) / n
		s.KnownTransactionsAvg = float64(known) / n
		s.StateParts = map[string]float64{}
		for k, v := range parts {
			s.StateParts[k] = float64(v) / n
		}
	}
	if known > 0 {
		s.StateBytesPerKnownTransaction = float64(bytes) / float64(known)
	}
	return s, nil
}
