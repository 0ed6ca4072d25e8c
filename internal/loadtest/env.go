package loadtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// env is what a run sets up: a working directory, NATS, the simulator and
// the worker processes (not yet started).
type env struct {
	cfg      Config
	dir      string
	rmDir    bool
	nats     *natsEnv
	embedded bool
	nc       *nats.Conn
	js       jetstream.JetStream
	sim      simulator
	local    *localSim // nil with -sim-url
	simRoot  string
	workers  *workerSet
	accounts []string
}

func (e *env) logf(format string, args ...any) {
	if e.cfg.Progress != nil {
		fmt.Fprintf(e.cfg.Progress, format+"\n", args...)
	}
}

// setup prepares everything but the accounts and the workers' start.
// servers is the number of embedded NATS servers (ignored with NATSURL).
func setup(ctx context.Context, cfg Config, servers int, extraEnv []string) (*env, error) {
	e := &env{cfg: cfg, dir: cfg.Dir}
	if e.dir == "" {
		d, err := os.MkdirTemp("", "skattekonto-loadtest-")
		if err != nil {
			return nil, err
		}
		e.dir, e.rmDir = d, !cfg.KeepDir
	} else if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()

	var err error
	if cfg.NATSURL != "" {
		if e.nats, err = externalNATS(cfg.NATSURL); err != nil {
			return nil, err
		}
	} else {
		if e.nats, err = startNATS(e.dir, servers); err != nil {
			return nil, err
		}
		e.embedded = true
	}
	if e.nc, e.js, err = connect(e.nats.URL()); err != nil {
		return nil, err
	}
	if err := waitJetStream(ctx, e.js); err != nil {
		return nil, err
	}

	if cfg.SimURL != "" {
		r, err := newRemoteSim(strings.TrimRight(cfg.SimURL, "/"))
		if err != nil {
			return nil, err
		}
		e.sim, e.simRoot = r, r.root
	} else {
		l, err := startLocalSim(sim.Config{ClientID: sim.DefaultClientID, ClientSecret: sim.DefaultClientSecret,
			Latency: cfg.Latency, RateLimit: cfg.SimRateLimit})
		if err != nil {
			return nil, err
		}
		e.sim, e.local, e.simRoot = l, l, l.root
	}

	bin, args := cfg.WorkerBin, cfg.WorkerArgs
	switch {
	case cfg.SelfWorker != "":
		bin = cfg.SelfWorker
	case bin == "":
		e.logf("building ./cmd/worker")
		if bin, err = buildWorker(ctx, e.dir); err != nil {
			return nil, err
		}
	}
	if cfg.SelfWorker == "" {
		args = nil
	}
	replicas := 1
	if servers > 1 && cfg.NATSURL == "" {
		replicas = 3
	}
	base := []string{
		"NATS_URL=" + e.nats.URL(),
		"SKV_BASE_URL=" + e.simRoot + sim.APIPrefix,
		"SKV_TOKEN_URL=" + e.simRoot + sim.TokenPath,
		"SKV_CLIENT_ID=" + sim.DefaultClientID,
		"SKV_CLIENT_SECRET=" + sim.DefaultClientSecret,
		"SKV_RATE_LIMIT=" + strconv.FormatFloat(cfg.RateLimit, 'f', -1, 64),
		"LOG_LEVEL=" + cfg.LogLevel,
		"LOG_FORMAT=json",
		"STREAM_REPLICAS=" + strconv.Itoa(replicas),
	}
	if cfg.Concurrency > 0 {
		base = append(base, "WORKER_CONCURRENCY="+strconv.Itoa(cfg.Concurrency))
	}
	base = append(base, extraEnv...)
	e.workers = &workerSet{
		bin:    bin,
		args:   args,
		logDir: e.dir,
		env: func(i int) []string {
			return append(append([]string(nil), base...), "HTTP_ADDR=127.0.0.1:0")
		},
	}
	ok = true
	return e, nil
}

// createAccounts puts cfg.Accounts realistic accounts into the simulator.
func (e *env) createAccounts(now time.Time) error {
	e.accounts = accountNumbers(e.cfg.Accounts)
	for i, omf := range e.accounts {
		a := makeAccount(omf, e.cfg.Seed*1_000_003+int64(i), e.cfg.Transactions, now)
		if err := e.sim.PutAccount(a); err != nil {
			return fmt.Errorf("put account %s: %w", omf, err)
		}
	}
	return nil
}

// startWorkers starts the worker processes one after the other, each
// once the ones before pull requests (workers starting at the same moment
// on a fresh cluster trip over each other creating the streams).
func (e *env) startWorkers(ctx context.Context, consumer string) error {
	for i := range e.cfg.Workers {
		if err := e.workers.start(i); err != nil {
			return err
		}
		if err := e.waitPulling(ctx, consumer, i+1); err != nil {
			return err
		}
	}
	return nil
}

// waitPulling waits until the fetch consumer has n pull requests waiting
// (each worker keeps one open while it has room).
func (e *env) waitPulling(ctx context.Context, consumer string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		if e.workers.running() == 0 && !e.workers.supervise {
			return fmt.Errorf("no worker running; see %s", e.workers.logPath(0))
		}
		c, err := e.js.Consumer(ctx, contract.FetchStream, consumer)
		if err == nil {
			if info, err := c.Info(ctx); err == nil && info.NumWaiting >= n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("workers not pulling after 60s; see %s", e.workers.logPath(0))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (e *env) close() {
	if e.workers != nil {
		e.workers.stop(25 * time.Second)
	}
	if e.nc != nil {
		e.nc.Close()
	}
	if e.local != nil {
		e.local.Close()
	}
	if e.nats != nil {
		e.nats.shutdown()
	}
	if e.rmDir {
		_ = os.RemoveAll(e.dir)
	}
}
