package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// BurstReport is the result of one burst run: what it did, what it broke
// and what the checks found.
type BurstReport struct {
	// Fault is the fault kind injected, "none" when none.
	Fault         string  `json:"fault"`
	Cluster       bool    `json:"cluster"`
	Accounts      int     `json:"accounts"`
	Transactions  int     `json:"transactionsPerAccount"`
	Workers       int     `json:"workers"`
	Rounds        int     `json:"rounds"`
	BurstSize     int     `json:"burstSize"`
	RoundInterval float64 `json:"roundIntervalSeconds"`
	// AckWait is the workers' WORKER_ACK_WAIT, "default" when not set.
	AckWait       string `json:"ackWait"`
	KillEachRound bool   `json:"killEachRound"`
	NATSRestart   bool   `json:"natsRestart"`
	StrictAnswers bool   `json:"strictAnswers"`
	Seed          int64  `json:"seed"`

	Seconds         float64 `json:"seconds"`
	Changes         int     `json:"changes"`
	Kills           int     `json:"kills"`
	WorkerRestarts  int     `json:"workerRestarts"`
	UnexpectedExits int     `json:"unexpectedExits"`
	NATSRestarts    int     `json:"natsRestarts"`
	NATSStopped     string  `json:"natsStopped"`
	// Faults counts the faults injected (cuts, spikes, windows); FaultLog
	// says what and when.
	Faults   int      `json:"faults"`
	FaultLog []string `json:"faultLog,omitempty"`
	// PublishRetries counts request publishes NATS refused or left
	// unconfirmed (storage full, leader away) that the tool repeated
	// under the same Nats-Msg-Id.
	PublishRetries int `json:"publishRetries"`
	// Settled is set when every request was answered and the fetch
	// consumer idle before the quiet limit.
	Settled bool `json:"settled"`
	// FinalRetries counts the accounts asked again because their final
	// request went unanswered.
	FinalRetries int     `json:"finalRetries"`
	QuietSeconds float64 `json:"quietSeconds"`
	// FailedReasons counts the FetchFailed answers by reason.
	FailedReasons map[string]int `json:"failedReasons,omitempty"`
	// Error is why the run stopped before its checks, if it did.
	Error string `json:"error,omitempty"`
	Verdict
}

// burstRunner holds a burst run's moving parts.
type burstRunner struct {
	*crashRunner
	rep   *BurstReport
	start time.Time
	round atomic.Int64

	// faultMu guards rep's NATS restart and fault fields, written while
	// the rounds go on.
	faultMu sync.Mutex
}

// Burst runs the burst test, black box like a user sees it: every round
// some accounts change and each account gets BurstSize fetch requests at
// once, each with its own requestId, while Workers worker processes share
// them; optionally a worker is killed every round (each in turn), a NATS
// server restarted once, and a fault injected on the workers' links
// (Config.Fault). After a final round and a quiet period it checks that
// every request has exactly one answer, no event is stored twice, none is
// missing and every balance is right. The error is non-nil when the run
// could not be carried out or a check it asserts failed.
func Burst(ctx context.Context, cfg Config) (*BurstReport, error) {
	cfg, err := cfg.burstDefaults()
	if err != nil {
		return nil, err
	}
	b := &burstRunner{rep: newBurstReport(cfg), start: time.Now()}
	rep := b.rep
	e, err := setup(ctx, cfg, burstEnv(cfg))
	if err != nil {
		return nil, err
	}
	defer e.close()
	e.workers.supervise = true
	now := time.Now()
	if err := e.prepare(ctx, now); err != nil {
		return nil, err
	}
	e.logf("burst test: %d NATS server(s), %d worker(s), %d accounts, %d rounds of %d requests per account, ack wait %s, fault %s (dir %s)",
		cfg.servers(), cfg.Workers, cfg.Accounts, cfg.Rounds, cfg.BurstSize, rep.AckWait, rep.Fault, e.dir)
	if err := e.startWorkers(ctx, contract.Durable); err != nil {
		return nil, err
	}
	b.crashRunner = newCrashRunner(e)
	if cfg.Fault != "" {
		b.publishFor = 3*time.Minute + cfg.FaultHold // a request waits out a full storage or a partition
	}
	defer b.startFollow(ctx)()
	if err := b.rounds(ctx); err != nil {
		return b.stopped(err)
	}
	e.logf("rounds over; one final request per account, then the quiet period")
	quietStart := time.Now()
	if err := b.finish(ctx); err != nil {
		return b.stopped(err)
	}
	rep.QuietSeconds = time.Since(quietStart).Seconds()
	e.workers.stop(25 * time.Second)
	rep.Kills, rep.WorkerRestarts, rep.UnexpectedExits = e.workers.counts()
	rep.PublishRetries = int(b.retries.Load())
	evs, v, err := e.check(ctx, b.requestIDs(), now)
	if err != nil {
		return b.stopped(err)
	}
	rep.Verdict, rep.FailedReasons = v, failedReasons(evs)
	rep.Seconds = time.Since(b.start).Seconds()
	if len(rep.failures()) > 0 {
		return rep, fmt.Errorf("%w: see the verdict", errChecks)
	}
	return rep, nil
}

func newBurstReport(cfg Config) *BurstReport {
	rep := &BurstReport{Fault: cfg.Fault, Cluster: cfg.Cluster, Accounts: cfg.Accounts, Transactions: cfg.Transactions,
		Workers: cfg.Workers, Rounds: cfg.Rounds, BurstSize: cfg.BurstSize, RoundInterval: cfg.RoundInterval.Seconds(),
		AckWait: "default", KillEachRound: cfg.KillEachRound, NATSRestart: cfg.NATSRestart,
		StrictAnswers: cfg.StrictAnswers, Seed: cfg.Seed}
	if rep.Fault == "" {
		rep.Fault = "none"
	}
	if cfg.AckWait > 0 {
		rep.AckWait = cfg.AckWait.String()
	}
	return rep
}

// burstEnv is the environment of a burst run: its ack wait, a quick
// drain, and proxies and a storage limit when a fault needs them.
func burstEnv(cfg Config) envOptions {
	o := envOptions{servers: cfg.servers(), extraEnv: []string{"WORKER_DRAIN_TIMEOUT=5s"}, proxied: cfg.Fault != ""}
	if cfg.AckWait > 0 {
		o.extraEnv = append(o.extraEnv, "WORKER_ACK_WAIT="+cfg.AckWait.String())
	}
	if cfg.Fault == FaultStorageFull {
		o.maxStore = storageLimit
	}
	return o
}

// stopped ends a run that stopped before its checks.
func (b *burstRunner) stopped(err error) (*BurstReport, error) {
	b.rep.Error = err.Error()
	b.rep.Seconds = time.Since(b.start).Seconds()
	if b.crashRunner != nil {
		b.rep.Kills, b.rep.WorkerRestarts, b.rep.UnexpectedExits = b.e.workers.counts()
		b.rep.Requests = len(b.requestIDs())
	}
	return b.rep, err
}

// rounds runs the rounds, with the kills, the NATS restart and the fault
// injector alongside, and returns when all of them are done and the
// network is whole again.
func (b *burstRunner) rounds(ctx context.Context) error {
	cfg, rep := b.e.cfg, b.rep
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 5))
	roundsCtx, endRounds := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() { endRounds(); bg.Wait() }() // whatever happens, the network is whole again
	errs := make([]error, 2)
	if cfg.Fault != "" {
		bg.Go(func() { errs[0] = b.inject(roundsCtx, ctx) })
	}
	defer b.progress()()
	for round := 1; round <= cfg.Rounds && ctx.Err() == nil; round++ {
		roundStart := time.Now()
		n, err := b.change(rng, cfg.ChangeRate)
		rep.Changes += n
		if err != nil {
			return err
		}
		if _, err := b.publishBurst(ctx, strconv.Itoa(round), cfg.BurstSize, nil); err != nil {
			return err
		}
		b.round.Store(int64(round))
		if cfg.NATSRestart && round == cfg.Rounds/2+1 {
			bg.Go(func() { errs[1] = b.restartOnce(ctx) })
		}
		if cfg.KillEachRound {
			sleepCtx(ctx, time.Duration(rng.Int64N(int64(cfg.RoundInterval))))
			i := (round - 1) % cfg.Workers
			if err := b.e.workers.kill(i, time.Duration(rng.IntN(300))*time.Millisecond); err != nil {
				b.e.logf("restart worker %d: %v", i, err)
			}
		}
		sleepCtx(ctx, time.Until(roundStart.Add(cfg.RoundInterval)))
	}
	endRounds()
	bg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

// restartOnce restarts a NATS server (a cluster's events stream leader).
func (b *burstRunner) restartOnce(ctx context.Context) error {
	name, err := b.restartNATS(ctx)
	b.faultMu.Lock()
	defer b.faultMu.Unlock()
	b.rep.NATSStopped = name
	if err != nil {
		return fmt.Errorf("restart NATS: %w", err)
	}
	b.rep.NATSRestarts++
	return nil
}

// publishBurst publishes size requests for each account given (by
// index; nil: every account), those of one account one after the other,
// each with its own request id (also its Nats-Msg-Id, so that a publish
// repeated across a fault is stored once). It returns the account index
// of each id published.
func (b *burstRunner) publishBurst(ctx context.Context, round string, size int, which []int) (map[string]int, error) {
	if which == nil {
		which = make([]int, len(b.e.accounts))
		for i := range which {
			which[i] = i
		}
	}
	const parallel = 8
	var wg sync.WaitGroup
	errs := make([]error, parallel)
	ids := map[string]int{}
	for g := range parallel {
		wg.Go(func() {
			for n := g; n < len(which); n += parallel {
				i := which[n]
				for k := range size {
					id := b.nonce + "-" + round + "-" + strconv.Itoa(i) + "-" + strconv.Itoa(k)
					if err := b.publish(ctx, b.e.accounts[i], id); err != nil {
						errs[g] = err
						return
					}
					b.crashRunner.mu.Lock()
					b.requests = append(b.requests, id)
					ids[id] = i
					b.crashRunner.mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return ids, errors.Join(errs...)
}

// finish publishes one final request per account and waits for the quiet
// period. An account whose final request goes unanswered is asked again
// (up to 3 times), so that the checks of lost events and balances see
// every account's last state even when the workers lose answers (a lost
// answer still counts as one).
func (b *burstRunner) finish(ctx context.Context) error {
	var which []int
	for try := 1; ; try++ {
		round := "final"
		if try > 1 {
			round += strconv.Itoa(try)
		}
		ids, err := b.publishBurst(ctx, round, 1, which)
		if err != nil {
			return err
		}
		if b.rep.Settled, err = b.settle(ctx); err != nil {
			return err
		}
		which = which[:0]
		b.crashRunner.mu.Lock()
		for id, i := range ids {
			if b.answered[id] == 0 {
				which = append(which, i)
			}
		}
		b.crashRunner.mu.Unlock()
		if len(which) == 0 || try == 4 {
			return nil
		}
		slices.Sort(which)
		b.rep.FinalRetries += len(which)
		b.e.logf("the final request of %s went unanswered: asking again", plural(len(which), "account"))
	}
}

// settle waits until every request is answered and the fetch consumer is
// idle (settled), or until the consumer has been idle for idleFor without
// a new answer while the answers were read to the end of the stream (what
// is unanswered then stays so), or the quiet limit.
func (b *burstRunner) settle(ctx context.Context) (bool, error) {
	const idleFor = 5 * time.Second
	qctx, cancel := context.WithTimeout(ctx, b.e.cfg.Quiet)
	defer cancel()
	idleSince, lastOpen := time.Now(), -1
	for {
		_, open := b.unanswered()
		idle := b.consumerIdle(qctx)
		if !idle || open != lastOpen {
			idleSince = time.Now()
		}
		lastOpen = open
		switch {
		case idle && open == 0:
			return true, nil
		case idle && time.Since(idleSince) >= idleFor && b.caughtUpAfter(idleSince):
			b.e.logf("quiet: nothing left to deliver, %d requests unanswered", open)
			return false, nil
		}
		select {
		case <-qctx.Done():
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			b.e.logf("quiet limit %s reached: %d requests unanswered", b.e.cfg.Quiet, open)
			return false, nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// consumerIdle reports whether the fetch consumer has nothing pending and
// nothing delivered but unacknowledged.
func (b *burstRunner) consumerIdle(ctx context.Context) bool {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return idle(ictx, b.js, contract.FetchStream, contract.Durable)
}

// progress prints a line every second until the returned function is called.
func (b *burstRunner) progress() func() {
	return everySecond(b.e.cfg.Progress, func(out io.Writer) {
		reqs, open := b.unanswered()
		kills, _, _ := b.e.workers.counts()
		b.faultMu.Lock()
		faults := b.rep.Faults
		b.faultMu.Unlock()
		fmt.Fprintf(out, "%5.0fs round %d/%d requests %d unanswered %d kills %d faults %d workers %d/%d\n",
			time.Since(b.start).Seconds(), b.round.Load(), b.e.cfg.Rounds, reqs, open, kills, faults, b.e.workers.running(), b.e.cfg.Workers)
	})
}

// failedReasons counts the FetchFailed answers by reason.
func failedReasons(evs []storedEvent) map[string]int {
	var out map[string]int
	for _, ev := range evs {
		if ev.Type == string(events.TypeFetchFailed) {
			if out == nil {
				out = map[string]int{}
			}
			out[ev.Reason]++
		}
	}
	return out
}

// BurstSuite runs a burst run for each fault kind given ("" or "none":
// no fault), one after the other; with cfg.Dir set, each in a directory
// of its own under it. A run that fails does not stop the next; the error
// is non-nil only when the configuration is wrong or ctx ended.
func BurstSuite(ctx context.Context, cfg Config, faults []string) (*BurstRuns, error) {
	if len(faults) == 0 {
		faults = []string{""}
	}
	cfgs := make([]Config, len(faults))
	for i, f := range faults {
		c := cfg
		if c.Fault = f; f == "none" {
			c.Fault = ""
		}
		if cfg.Dir != "" {
			c.Dir = filepath.Join(cfg.Dir, "burst-"+orNone(c.Fault))
		}
		if _, err := c.burstDefaults(); err != nil {
			return nil, err
		}
		cfgs[i] = c
	}
	runs := &BurstRuns{}
	for _, c := range cfgs {
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "=== burst run, fault %s\n", orNone(c.Fault))
		}
		rep, err := Burst(ctx, c)
		if rep == nil { // it could not start
			d, _ := c.burstDefaults()
			rep = newBurstReport(d)
			rep.Error = err.Error()
		}
		runs.Runs = append(runs.Runs, rep)
		if ctx.Err() != nil {
			return runs, ctx.Err()
		}
	}
	return runs, nil
}

// BurstRuns are the reports of a BurstSuite.
type BurstRuns struct {
	Runs []*BurstReport `json:"runs"`
}
