package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

// CrashReport is the result of a crash run.
type CrashReport struct {
	Cluster         bool    `json:"cluster"`
	Accounts        int     `json:"accounts"`
	Transactions    int     `json:"transactionsPerAccount"`
	Workers         int     `json:"workers"`
	Seed            int64   `json:"seed"`
	Seconds         float64 `json:"seconds"`
	Rounds          int     `json:"rounds"`
	Changes         int     `json:"changes"`
	Kills           int     `json:"kills"`
	WorkerRestarts  int     `json:"workerRestarts"`
	UnexpectedExits int     `json:"unexpectedExits"`
	NATSRestarts    int     `json:"natsRestarts"`
	// NATSStopped names the server shut down mid-run (the stream leader in a cluster).
	NATSStopped  string  `json:"natsStopped"`
	QuietSeconds float64 `json:"quietSeconds"`
	Verdict
}

// crashRunner holds a crash run's moving parts.
type crashRunner struct {
	e        *env
	js       jetstream.JetStream
	nonce    string
	mu       sync.Mutex
	requests []string
	answered map[string]int
	lastSeq  uint64
	// retries counts publishes repeated after an error.
	retries atomic.Int64
	// caughtUp is when reading the answers last found no more.
	caughtUp time.Time
	// publishFor bounds the attempts to publish one request.
	publishFor time.Duration
}

// Crash runs the crash test: accounts change while worker processes are
// killed with SIGKILL at random moments and restarted and a NATS server is
// restarted once; after a quiet period the stream is checked against the
// simulator. The report's Verdict says what failed; the error is non-nil
// when the run itself could not be carried out or a check failed.
func Crash(ctx context.Context, cfg Config) (*CrashReport, error) {
	cfg, err := cfg.withDefaults(true)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	// Redeliver a killed worker's requests soon; drain quickly.
	e, err := setup(ctx, cfg, envOptions{servers: cfg.servers(), extraEnv: []string{"WORKER_ACK_WAIT=5s", "WORKER_DRAIN_TIMEOUT=5s"}})
	if err != nil {
		return nil, err
	}
	defer e.close()
	e.workers.supervise = true
	rep := &CrashReport{Cluster: cfg.Cluster, Accounts: cfg.Accounts, Transactions: cfg.Transactions, Workers: cfg.Workers, Seed: cfg.Seed}
	now := time.Now()
	if err := e.prepare(ctx, now); err != nil {
		return nil, err
	}
	e.logf("crash test: %d NATS server(s), %d worker(s), %d accounts × %d transactions, chaos for %s (dir %s)",
		cfg.servers(), cfg.Workers, cfg.Accounts, cfg.Transactions, cfg.Duration, e.dir)
	consumer := contract.Durable
	if err := e.startWorkers(ctx, consumer); err != nil {
		return nil, err
	}
	r := newCrashRunner(e)
	defer r.startFollow(ctx)()
	if err := r.chaos(ctx, start, rep); err != nil {
		return rep, err
	}

	// Quiet period: no more changes or kills. One last round after the
	// last change, then wait until everything is answered and settled.
	e.logf("chaos over after %d rounds; final round and quiet period", rep.Rounds)
	quietStart := time.Now()
	if err := r.publishRound(ctx, rep.Rounds+1); err != nil {
		return rep, err
	}
	if err := r.waitQuiet(ctx, consumer, cfg.Quiet); err != nil {
		rep.Kills, rep.WorkerRestarts, rep.UnexpectedExits = e.workers.counts()
		return rep, err
	}
	rep.QuietSeconds = time.Since(quietStart).Seconds()
	e.workers.stop(25 * time.Second)
	rep.Kills, rep.WorkerRestarts, rep.UnexpectedExits = e.workers.counts()
	if _, rep.Verdict, err = e.check(ctx, r.requestIDs(), now); err != nil {
		return rep, err
	}
	rep.Seconds = time.Since(start).Seconds()
	if !rep.Verdict.OK() {
		return rep, fmt.Errorf("%w: see the verdict's problems", errChecks)
	}
	if rep.Kills == 0 || rep.NATSRestarts == 0 {
		return rep, fmt.Errorf("%w: did not crash anything: %d kills, %d NATS restarts", errChecks, rep.Kills, rep.NATSRestarts)
	}
	return rep, nil
}

func newCrashRunner(e *env) *crashRunner {
	return &crashRunner{e: e, js: e.js, nonce: strconv.FormatInt(time.Now().UnixNano()%1e9, 36), answered: map[string]int{},
		publishFor: 60 * time.Second}
}

// prepare puts the accounts into the simulator and, on a cluster, waits
// until it can place R3 streams.
func (e *env) prepare(ctx context.Context, now time.Time) error {
	if err := e.createAccounts(now); err != nil {
		return err
	}
	if !e.cfg.Cluster {
		return nil
	}
	// A young cluster takes a while before it can place R3 streams:
	// wait for that so that the workers' own stream creation succeeds.
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return waitReplicated(sctx, e.js, 3)
}

// startFollow follows the answers in the background until the returned
// function is called.
func (r *crashRunner) startFollow(ctx context.Context) (stop func()) {
	followCtx, stopFollow := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.follow(followCtx) }()
	return func() { stopFollow(); <-done }
}

// chaos changes accounts and publishes a round of requests every second
// for cfg.Duration while workers are killed at random and a NATS server
// is restarted half way.
func (r *crashRunner) chaos(ctx context.Context, start time.Time, rep *CrashReport) error {
	cfg := r.e.cfg
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 3))
	killRng := rand.New(rand.NewPCG(uint64(cfg.Seed), 4))
	chaosCtx, endChaos := context.WithTimeout(ctx, cfg.Duration)
	defer endChaos()
	var chaos sync.WaitGroup
	var natsRestarts atomic.Int64
	var natsErr error
	chaos.Go(func() { r.killAtRandom(chaosCtx, killRng) })
	chaos.Go(func() { // restart a NATS server once, half way
		select {
		case <-chaosCtx.Done():
			return
		case <-time.After(cfg.Duration / 2):
		}
		name, err := r.restartNATS(chaosCtx)
		rep.NATSStopped = name
		if err != nil {
			natsErr = err
			return
		}
		natsRestarts.Add(1)
	})
	stopProgress := r.progress(start, &natsRestarts)
	defer stopProgress()
	for chaosCtx.Err() == nil {
		roundStart := time.Now()
		n, err := r.change(rng, cfg.ChangeRate)
		rep.Changes += n
		if err != nil {
			return err
		}
		rep.Rounds++
		if err := r.publishRound(ctx, rep.Rounds); err != nil {
			return err
		}
		sleepCtx(chaosCtx, time.Until(roundStart.Add(time.Second)))
	}
	chaos.Wait()
	if natsErr != nil {
		return fmt.Errorf("restart NATS: %w", natsErr)
	}
	rep.NATSRestarts = int(natsRestarts.Load())
	return nil
}

// killAtRandom kills a random worker after a random pause until ctx ends.
func (r *crashRunner) killAtRandom(ctx context.Context, rng *rand.Rand) {
	cfg := r.e.cfg
	for {
		d := cfg.KillMin + time.Duration(rng.Int64N(int64(cfg.KillMax-cfg.KillMin)+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		i := rng.IntN(cfg.Workers)
		if err := r.e.workers.kill(i, time.Duration(rng.IntN(300))*time.Millisecond); err != nil {
			r.e.logf("restart worker %d: %v", i, err)
		}
	}
}

// change changes a share rate of the accounts in the simulator and
// returns how many it changed.
func (r *crashRunner) change(rng *rand.Rand, rate float64) (int, error) {
	accts := r.e.accounts
	n := int(rate*float64(len(accts)) + 0.5)
	for k, i := range rng.Perm(len(accts))[:n] {
		if err := mutate(r.e.sim, rng, accts[i], time.Now()); err != nil {
			return k, err
		}
	}
	return n, nil
}

// requestIDs returns the ids of the requests published so far.
func (r *crashRunner) requestIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

// check reads every event in the stream and checks it against the
// simulator's accounts and the requests published.
func (e *env) check(ctx context.Context, requests []string, now time.Time) ([]storedEvent, Verdict, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	evs, err := readEvents(rctx, e.js)
	for err != nil && rctx.Err() == nil { // a cluster just healed may not answer at once
		e.logf("read events: %v; again", err)
		sleepCtx(rctx, time.Second)
		evs, err = readEvents(rctx, e.js)
	}
	if err != nil {
		return nil, Verdict{}, fmt.Errorf("read events: %w", err)
	}
	accts := make([]sim.Account, 0, len(e.accounts))
	for _, omf := range e.accounts {
		a, ok := e.sim.Account(omf)
		if !ok {
			return evs, Verdict{}, fmt.Errorf("account %s vanished from the simulator", omf)
		}
		accts = append(accts, a)
	}
	return evs, verify(evs, accts, requests, now), nil
}

// publishRound publishes a refresh of every account, each with a unique
// request id that is also the message's Nats-Msg-Id, so that a publish
// retried across a NATS restart is stored once.
func (r *crashRunner) publishRound(ctx context.Context, round int) error {
	accts := r.e.accounts
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < len(accts); i += 4 {
				id := r.nonce + "-" + strconv.Itoa(round) + "-" + strconv.Itoa(i)
				if err := r.publish(ctx, accts[i], id); err != nil {
					errs[g] = err
					return
				}
				r.mu.Lock()
				r.requests = append(r.requests, id)
				r.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *crashRunner) publish(ctx context.Context, omf, id string) error {
	body := []byte(`{"requestId":"` + id + `"}`)
	deadline := time.Now().Add(r.publishFor)
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := r.js.Publish(pctx, contract.FetchSubject(omf), body, jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("publish request %s: %w", id, err)
		}
		r.retries.Add(1)
		time.Sleep(100 * time.Millisecond)
	}
}

// follow reads the answers from the stream as they come, surviving
// server restarts, to tell when every request has been answered.
func (r *crashRunner) follow(ctx context.Context) {
	subjects := []string{contract.EventSubject("*", string(events.TypeFetchCompleted)), contract.EventSubject("*", string(events.TypeFetchFailed))}
	for ctx.Err() == nil {
		r.mu.Lock()
		next := r.lastSeq + 1
		r.mu.Unlock()
		occ := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: next}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := r.js.OrderedConsumer(cctx, contract.EventsStream, occ)
		cancel()
		if err != nil {
			sleepCtx(ctx, 300*time.Millisecond)
			continue
		}
		r.read(ctx, c)
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

// read reads answers from c until ctx ends or c fails.
func (r *crashRunner) read(ctx context.Context, c jetstream.Consumer) {
	for ctx.Err() == nil {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			ev, err := parseEvent(meta.Sequence.Stream, m.Headers().Get(nats.MsgIdHdr), m.Data())
			r.mu.Lock()
			if err == nil {
				for _, id := range ev.RequestIDs {
					r.answered[id]++
				}
			}
			r.lastSeq = max(r.lastSeq, meta.Sequence.Stream)
			r.mu.Unlock()
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			return
		}
		if n == 0 { // the stream had nothing more to give
			r.mu.Lock()
			r.caughtUp = time.Now()
			r.mu.Unlock()
		}
	}
}

// caughtUpAfter reports whether the answers were read to the end of the
// stream at some moment after t.
func (r *crashRunner) caughtUpAfter(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.caughtUp.After(t)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (r *crashRunner) unanswered() (requests, open int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range r.requests {
		if r.answered[id] == 0 {
			open++
		}
	}
	return len(r.requests), open
}

// waitQuiet waits until every request is answered and the fetch consumer
// has nothing pending or unacknowledged.
func (r *crashRunner) waitQuiet(ctx context.Context, consumer string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		_, open := r.unanswered()
		if open == 0 {
			if idle(ctx, r.js, contract.FetchStream, consumer) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("quiet period: %d requests still unanswered after %s; worker logs in %s", open, limit, r.e.dir)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// restartNATS shuts a server down and starts it again on the same port
// and store: the only server, or in a cluster the events stream's leader.
func (r *crashRunner) restartNATS(ctx context.Context) (string, error) {
	n := r.e.nats
	i := 0
	down := time.Second
	if len(n.cfgs) > 1 {
		down = 5 * time.Second
		st, err := r.js.Stream(ctx, contract.EventsStream)
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
		if i = n.index(info.Cluster.Leader); i < 0 {
			return "", fmt.Errorf("leader %q is not one of ours", info.Cluster.Leader)
		}
	}
	name := n.cfgs[i].ServerName
	r.e.logf("stopping NATS server %s", name)
	n.stop(i)
	sleepCtx(ctx, down)
	r.e.logf("starting NATS server %s again", name)
	return name, n.start(i)
}

func (r *crashRunner) progress(start time.Time, natsRestarts *atomic.Int64) func() {
	return everySecond(r.e.cfg.Progress, func(out io.Writer) {
		reqs, open := r.unanswered()
		kills, restarts, exits := r.e.workers.counts()
		fmt.Fprintf(out, "%5.0fs requests %d unanswered %d kills %d restarts %d exits %d nats-restarts %d workers %d/%d\n",
			time.Since(start).Seconds(), reqs, open, kills, restarts, exits, natsRestarts.Load(), r.e.workers.running(), r.e.cfg.Workers)
	})
}

// everySecond calls line with out every second until the returned
// function is called; nothing when out is nil.
func everySecond(out io.Writer, line func(io.Writer)) func() {
	if out == nil {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				line(out)
			}
		}
	}()
	return func() { close(stop); <-done }
}
