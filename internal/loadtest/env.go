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
	// net holds the proxies of a fault run; nil otherwise.
	net *network
}

func (e *env) logf(format string, args ...any) {
	if e.cfg.Progress != nil {
		fmt.Fprintf(e.cfg.Progress, format+"\n", args...)
	}
}

// envOptions are what a kind of run asks of its environment.
type envOptions struct {
	// servers is the number of embedded NATS servers (ignored with NATSURL).
	servers int
	// extraEnv is added to every worker's environment.
	extraEnv []string
	// proxied puts the workers' links to NATS and the API, and the
	// cluster's routes, behind Toxiproxy (fault runs; embedded NATS and
	// simulator only).
	proxied bool
	// maxStore caps each embedded server's JetStream file storage; 0: none.
	maxStore int64
}

// setup prepares everything but the accounts and the workers' start.
func setup(ctx context.Context, cfg Config, o envOptions) (*env, error) {
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
	if o.proxied {
		e.net = newNetwork()
	}
	if err := e.setupNATS(ctx, o); err != nil {
		return nil, err
	}
	if err := e.setupSim(); err != nil {
		return nil, err
	}
	bin, args := cfg.WorkerBin, cfg.WorkerArgs
	switch {
	case cfg.SelfWorker != "":
		bin = cfg.SelfWorker
	case bin == "":
		e.logf("building ./cmd/worker")
		var err error
		if bin, err = buildWorker(ctx, e.dir); err != nil {
			return nil, err
		}
	}
	if cfg.SelfWorker == "" {
		args = nil
	}
	base := e.workerEnv(o)
	e.workers = &workerSet{
		bin:    bin,
		args:   args,
		logDir: e.dir,
		env: func(i int) []string {
			// A port of our own choosing: one the OS picks could be a
			// stopped server's, which it could not listen on again.
			addr := "127.0.0.1:0"
			if port, err := freePort(); err == nil {
				addr = "127.0.0.1:" + strconv.Itoa(port)
			}
			return append(append([]string(nil), base...), "HTTP_ADDR="+addr)
		},
	}
	ok = true
	return e, nil
}

// setupNATS starts the embedded servers (behind proxies when e.net is
// set) or takes the external ones, and connects the tool.
func (e *env) setupNATS(ctx context.Context, o envOptions) error {
	var err error
	switch {
	case e.cfg.NATSURL != "":
		if e.nats, err = externalNATS(e.cfg.NATSURL); err != nil {
			return err
		}
	default:
		if e.nats, err = planNATS(e.dir, o.servers); err != nil {
			return err
		}
		for i := range e.nats.cfgs {
			e.nats.cfgs[i].MaxStore = o.maxStore
			// Zero fsyncs before acknowledging, as the worker's server does.
			e.nats.cfgs[i].SyncInterval = e.cfg.NATSSyncInterval
		}
		if e.net != nil {
			if err := e.net.wireNATS(e.nats); err != nil {
				return err
			}
		}
		if err := e.nats.startAll(); err != nil {
			return err
		}
		e.embedded = true
	}
	if e.nc, e.js, err = connect(e.nats.URL()); err != nil {
		return err
	}
	return waitJetStream(ctx, e.js)
}

// setupSim starts the simulator in process or takes the running one.
func (e *env) setupSim() error {
	if e.cfg.SimURL != "" {
		r, err := newRemoteSim(strings.TrimRight(e.cfg.SimURL, "/"))
		if err != nil {
			return err
		}
		e.sim, e.simRoot = r, r.root
		return nil
	}
	l, err := startLocalSim(sim.Config{ClientID: sim.DefaultClientID, ClientSecret: sim.DefaultClientSecret,
		Latency: e.cfg.Latency, RateLimit: e.cfg.SimRateLimit})
	if err != nil {
		return err
	}
	e.sim, e.local, e.simRoot = l, l, l.root
	return nil
}

// workerEnv is the environment every worker process gets.
func (e *env) workerEnv(o envOptions) []string {
	natsURL, apiRoot := e.nats.URL(), e.simRoot
	if e.net != nil {
		natsURL = e.net.natsURL()
		if root, err := e.net.wireAPI(e.simRoot); err == nil {
			apiRoot = root
		} else {
			e.logf("no proxy in front of the API: %v", err)
		}
	}
	replicas := 1
	if o.servers > 1 && e.cfg.NATSURL == "" {
		replicas = 3
	}
	base := []string{
		"NATS_URL=" + natsURL,
		"SKV_BASE_URL=" + apiRoot + sim.APIPrefix,
		"SKV_TOKEN_URL=" + apiRoot + sim.TokenPath,
		"SKV_CLIENT_ID=" + sim.DefaultClientID,
		"SKV_CLIENT_SECRET=" + sim.DefaultClientSecret,
		"SKV_RATE_LIMIT=" + strconv.FormatFloat(e.cfg.RateLimit, 'f', -1, 64),
		"LOG_LEVEL=" + e.cfg.LogLevel,
		"LOG_FORMAT=json",
		"STREAM_REPLICAS=" + strconv.Itoa(replicas),
	}
	if e.cfg.Concurrency > 0 {
		base = append(base, "WORKER_CONCURRENCY="+strconv.Itoa(e.cfg.Concurrency))
	}
	return append(base, o.extraEnv...)
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
	last := "no consumer info"
	for {
		if e.workers.running() == 0 && !e.workers.supervise {
			return fmt.Errorf("no worker running; see %s", e.workers.logPath(0))
		}
		c, err := e.js.Consumer(ctx, contract.FetchStream, pullingConsumer(consumer))
		if err == nil {
			var info *jetstream.ConsumerInfo
			if info, err = c.Info(ctx); err == nil {
				if info.NumWaiting >= n {
					return nil
				}
				last = fmt.Sprintf("%d pull requests waiting, want %d", info.NumWaiting, n)
			}
		}
		if err != nil && ctx.Err() == nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			e.workers.dump(5 * time.Second)
			servers := ""
			if e.embedded {
				servers = "; servers: " + e.nats.describe()
			}
			return fmt.Errorf("workers not pulling after 60s (%s%s); their goroutines are dumped in their logs in %s", last, servers, e.dir)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (e *env) close() {
	if e.workers != nil {
		e.workers.stop(25 * time.Second)
	}
	if e.net != nil {
		e.net.close()
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
