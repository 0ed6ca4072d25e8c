package jobs

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// API is what a fetch needs of the Skattekonto API.
type API interface {
	Saldo(ctx context.Context, id idnr.Number) (skv.Saldo, skv.Trace, error)
	Transaktioner(ctx context.Context, id idnr.Number, datumFrom string) (skv.Transaktioner, skv.Trace, error)
	Utbetalningskonto(ctx context.Context, id idnr.Number) (skv.Utbetalningskonto, skv.Trace, error)
	Utbetalningssparrar(ctx context.Context, id idnr.Number) (skv.Utbetalningssparrar, skv.Trace, error)
}

// Sessions serves the requests with "auth": "user": a person's login,
// named by the request's "session" (the login's public reference).
type Sessions interface {
	// Check tells whether the login component sent the request (subject
	// and body as received, proof its contract.LoginProofHeader) for one
	// of the accounts the person chose. A request it refuses is answered
	// invalid-request and never served.
	Check(subject string, body []byte, proof string) error
	// SessionAPI returns an API that calls with the login's user token,
	// or an error when the login is unknown or has ended.
	SessionAPI(session string) (API, error)
}

// Config configures a Worker. The zero value means the defaults.
type Config struct {
	// Concurrency is how many accounts are fetched at once; default 128.
	// Concurrent fetches' commits share atomic batches (events.Store).
	Concurrency int
	// Durable names the pull consumers: partition p's is Durable-p, and
	// Durable itself is the legacy consumer of requests stored before the
	// stream was partitioned; default contract.Durable.
	Durable string
	// Partitions of the fetch stream when the worker creates it; default
	// contract.DefaultPartitions. With NoCreate the stream's own count is
	// used (partitions.go).
	Partitions int
	// PinnedTTL is how long a partition stays pinned to a replica that
	// stopped pulling from it (killed, cut off) before a standby takes it
	// over; default the ack wait, at least 3s. A pinned replica pulls
	// three times per PinnedTTL (at most every 5s), as it sends three
	// in-progress acks per ack wait: it loses its partitions after
	// missing three pulls, as it loses a request it holds after missing
	// three in-progress acks. Set on the consumers the worker creates.
	PinnedTTL time.Duration
	// Peers, when set, tells how many worker replicas are live, this one
	// included (cmd/worker passes the rate limiter's count): each replica
	// then holds about its share of the partitions and hands the rest to
	// the others. Without it a partition stays with whichever replica the
	// server pinned it to first.
	Peers func() int
	// AckWait before an unacknowledged request is redelivered; default
	// 30s. Long fetches send in-progress acks every AckWait/3.
	AckWait time.Duration
	// MaxDeliver bounds deliveries of one request; default 5. The worker
	// counts them (the consumer itself delivers without limit): a request
	// whose fetch fails on its MaxDeliver-th delivery or later, or that
	// comes a 2×MaxDeliver-th time (a crash loop), is answered FetchFailed
	// "exhausted" instead of given back. Conflicts and hand-backs never
	// give up. A request that was in the stream during a service window
	// gets one delivery more (window.go).
	MaxDeliver int
	// RetryDelay before a request that met a transient NATS error is
	// delivered again; default 2s.
	RetryDelay time.Duration
	// DrainTimeout is how long in-flight fetches may run on after the
	// worker is told to stop; default 20s. What is not done by then is
	// handed back.
	DrainTimeout time.Duration
	// Replicas of the fetch stream when created; default 1.
	Replicas int
	// NoCreate leaves the fetch stream and consumer to the operator.
	NoCreate bool
	// SlowCadence is how long a payout account or blocks answer stays
	// fresh when a request does not name those operations; default 24h.
	SlowCadence time.Duration
	// TxOverlap is how far before the last transactions fetch a later
	// transactions call starts, for back-dated bookings; default 40 days.
	TxOverlap time.Duration
	// TransactionsMaxAge bounds the one-call shortcut: the transactions
	// call is skipped on an unchanged senastUppdaterad only while the
	// account's last transactions fetch is younger; default 24h.
	TransactionsMaxAge time.Duration
	// UnavailableRetry is how long an operation whose path answered 404
	// without a felkod is left uncalled by every replica; default 1h,
	// negative: it is called on every fetch.
	UnavailableRetry time.Duration
	// PathVariables name the configuration variable of each operation's
	// path template, for the operation-unavailable AccessProblem.
	PathVariables map[skv.Operation]string
	// Diff tunes the diff (reminder offsets).
	Diff events.Options
	// CertificateExpiry, when set, tells when the organisation
	// certificate expires; it is checked at start and every
	// CertificateCheck (default 24h), and an AccessProblem is reported
	// when it expires within CertificateWarn (default 30 days) or is
	// invalid.
	CertificateExpiry func() (time.Time, error)
	CertificateCheck  time.Duration
	CertificateWarn   time.Duration
	// Sessions serves requests with "auth": "user"; without it they fail.
	Sessions Sessions
	// Evidence, when set, keeps every API answer as received before the
	// events it explains are committed (evidence.go).
	Evidence Evidence
	// Metrics, when set, receives fetch outcomes, API calls, events
	// published, diff durations and commit conflicts.
	Metrics *metrics.Metrics
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives one line per fetch.
	Logger zerolog.Logger
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = 128
	}
	if c.Durable == "" {
		c.Durable = contract.Durable
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Partitions <= 0 {
		c.Partitions = contract.DefaultPartitions
	}
	if c.PinnedTTL <= 0 {
		c.PinnedTTL = max(c.AckWait, 3*time.Second)
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = 2 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 20 * time.Second
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SlowCadence <= 0 {
		c.SlowCadence = 24 * time.Hour
	}
	if c.CertificateCheck <= 0 {
		c.CertificateCheck = 24 * time.Hour
	}
	if c.CertificateWarn <= 0 {
		c.CertificateWarn = 30 * 24 * time.Hour
	}
	if c.TxOverlap <= 0 {
		c.TxOverlap = 40 * 24 * time.Hour
	}
	if c.TransactionsMaxAge <= 0 {
		c.TransactionsMaxAge = 24 * time.Hour
	}
	if c.UnavailableRetry == 0 {
		c.UnavailableRetry = time.Hour
	}
	return c
}

// consumerSettings are the settings of the consumers the workers share.
func (c Config) consumerSettings() contract.ConsumerSettings {
	c = c.withDefaults()
	// The server delivers without limit: a request given back (a hand-back,
	// a transient failure) is never dropped silently; the worker counts
	// deliveries itself and answers FetchFailed when they run out.
	return contract.ConsumerSettings{
		Durable: c.Durable, AckWait: c.AckWait, MaxDeliver: -1, Concurrency: c.Concurrency, Replicas: c.Replicas,
		PinnedTTL: c.PinnedTTL, Partitions: c.Partitions,
	}
}

// ConsumerConfigs are the durable pull consumers the workers share, one
// per partition (partition p's at index p).
func (c Config) ConsumerConfigs() []jetstream.ConsumerConfig {
	c = c.withDefaults()
	out := make([]jetstream.ConsumerConfig, c.Partitions)
	for p := range out {
		out[p] = contract.ConsumerConfig(c.consumerSettings(), p)
	}
	return out
}

// LegacyConsumerConfig is the consumer of requests stored before the
// stream was partitioned, with the workers' settings.
func (c Config) LegacyConsumerConfig() jetstream.ConsumerConfig {
	return contract.LegacyConsumerConfig(c.consumerSettings())
}

// Worker consumes fetch requests and runs fetches.
type Worker struct {
	js     jetstream.JetStream
	api    API
	store  *events.Store
	cfg    Config
	log    zerolog.Logger
	stream jetstream.Stream
	// parts are the partitions' consumers (partition p's at index p);
	// legacy, when not nil, the consumer of unpartitioned requests.
	parts  []*partition
	legacy *partition
	queue  accountQueue
	access accessProblems
	// faults are the outages this process meets now (faults.go).
	faults faultState
	// service is this process's view of the service state: operations
	// marked unavailable, and the problems reported.
	service serviceView
	hooks   hooks
	// slots bound the rounds in flight (Concurrency).
	slots chan struct{}
	// ackWait is the consumer's: heartbeats and acknowledgements follow it.
	ackWait     time.Duration
	unconfirmed unconfirmed
}

// New prepares a worker: it creates (unless cfg.NoCreate) the fetch
// stream and the durable consumers, one per partition, and narrows the
// consumer of an unpartitioned stream to the requests stored before
// (partitions.go).
func New(ctx context.Context, js jetstream.JetStream, api API, store *events.Store, cfg Config) (*Worker, error) {
	cfg = cfg.withDefaults()
	w := &Worker{js: js, api: api, store: store, cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.Concurrency)}
	if err := w.openConsumers(ctx); err != nil {
		return nil, err
	}
	w.ackWait = cfg.AckWait
	for _, p := range w.consumers() {
		info := p.cons.CachedInfo()
		if info == nil {
			continue
		}
		if info.Config.AckWait > 0 {
			w.ackWait = info.Config.AckWait
		}
		if info.Config.MaxDeliver > 0 {
			cfg.Logger.Warn().Int("maxDeliver", info.Config.MaxDeliver).Str("consumer", p.name).
				Msg("the consumer limits deliveries: a request given back on its last delivery is never answered; set max_deliver -1 (the worker counts deliveries itself)")
		}
	}
	return w, nil
}

// pullExpiry bounds each pull request of Run (its heartbeats come every
// half of it).
const pullExpiry = 5 * time.Second

// Run consumes fetch requests until ctx is done, then drains: it stops
// pulling, lets in-flight fetches finish for up to DrainTimeout, hands the
// rest back, gives up its partitions so that the other replicas take them
// at once, and returns. The durable consumers are kept for the next start.
func (w *Worker) Run(ctx context.Context) error {
	// Work continues past ctx for the drain; workCtx ends it.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	go w.watchCertificate(ctx)

	var wg sync.WaitGroup
	handlers := newGoPool()
	defer handlers.stop() // after the pulls, which dispatch, have ended
	dispatch := func(msg jetstream.Msg, p *partition) {
		if ctx.Err() != nil {
			_ = msg.Nak() // stopping: hand it back untouched
			return
		}
		// Every request is handled at once (at most MaxAckPending per
		// consumer are held): it is kept alive from here on, while rounds
		// take the Concurrency slots.
		p.hold(1)
		wg.Add(1)
		handlers.Go(func() {
			defer wg.Done()
			defer p.hold(-1)
			w.handle(workCtx, msg)
		})
	}
	var pulls sync.WaitGroup
	for _, p := range w.consumers() {
		pulls.Add(1)
		go func() {
			defer pulls.Done()
			w.pull(ctx, p, dispatch)
		}()
	}
	balanced := make(chan struct{})
	go func() {
		defer close(balanced)
		w.balance(ctx)
	}()
	pulls.Wait()
	<-balanced
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.DrainTimeout):
		w.log.Warn().Dur("drain", w.cfg.DrainTimeout).Msg("drain timed out: handing back in-flight fetches")
		cancelWork()
		<-done
	}
	w.unpinAll()
	return nil
}
