// Package metrics defines the worker's Prometheus metrics. A nil *Metrics
// is valid and records nothing, so packages can take an optional one.
package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric name.
const Namespace = "skattekonto"

// Fetch outcomes, the values of the outcome label of
// skattekonto_fetches_total. Callers may use others; keep them few.
const (
	OutcomeOK        = "ok"        // events committed (or nothing changed)
	OutcomeRetry     = "retry"     // handed back for a later delivery
	OutcomeFailed    = "failed"    // gave up, FetchFailed published
	OutcomeRejected  = "rejected"  // invalid request, terminated
	OutcomeCancelled = "cancelled" // the worker stopped mid-fetch
	OutcomeDeferred  = "deferred"  // the API's service window: given back until it ends
)

// consumerCacheFor is how long a consumer info answer is reused between
// scrapes; consumerTimeout bounds one look-up.
const (
	consumerCacheFor = 5 * time.Second
	consumerTimeout  = 2 * time.Second
)

// Metrics holds the worker's collectors. Its methods are safe for
// concurrent use and do nothing on a nil receiver.
type Metrics struct {
	reg prometheus.Registerer

	fetches        *prometheus.CounterVec
	fetchDuration  prometheus.Histogram
	apiCalls       *prometheus.CounterVec
	apiDuration    *prometheus.HistogramVec
	retries        *prometheus.CounterVec
	published      *prometheus.CounterVec
	diffDuration   prometheus.Histogram
	inFlight       prometheus.Gauge
	tokenRefreshes *prometheus.CounterVec
	rateLimitWait  prometheus.Histogram
	conflicts      prometheus.Counter
	drift          *prometheus.CounterVec
	webhooks       *prometheus.CounterVec
	webhookDead    *prometheus.CounterVec
	staleStates    prometheus.Counter

	watchOnce sync.Once
	certOnce  sync.Once
}

// New creates the metrics and registers them with reg. It panics if one
// is already registered there, like prometheus.MustRegister. The caller
// decides whether reg also gets the Go and process collectors.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reg: reg,
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "fetches_total",
			Help: "Fetch requests processed, by outcome.",
		}, []string{"outcome"}),
		fetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "fetch_duration_seconds",
			Help:    "Time to process one fetch request, API calls and commit included.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120},
		}),
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "api_calls_total",
			Help: "HTTP calls to the Skattekonto API, by operation, HTTP status (0: no answer) and felkod (0: none).",
		}, []string{"operation", "http_status", "felkod"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "api_call_duration_seconds",
			Help:    "Duration of one HTTP call to the Skattekonto API.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"operation"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "api_retries_total",
			Help: "Skattekonto API calls repeated after a retryable failure, by operation.",
		}, []string{"operation"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "events_published_total",
			Help: "CloudEvents committed to the events stream, by type.",
		}, []string{"type"}),
		diffDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "diff_duration_seconds",
			Help:    "Time to compute the events of one fetch from the previous state.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "fetches_in_flight",
			Help: "Fetch requests being processed now.",
		}),
		tokenRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "token_refreshes_total",
			Help: "OAuth2 access tokens fetched from the token endpoint, by result (ok, error).",
		}, []string{"result"}),
		rateLimitWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "rate_limit_wait_seconds",
			Help:    "Time API calls waited for the client's rate limiter (waits > 0 only).",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "commit_conflicts_total",
			Help: "Commits of events and state refused because another worker wrote the account's state first.",
		}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "api_drift_total",
			Help: "Differences between API answers and the service description, by operation and kind (unknown-field, missing-field, unknown-list-key).",
		}, []string{"operation", "kind"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_deliveries_total",
			Help: "Webhook delivery attempts, by endpoint name and result (ok, redirect, client_error, server_error, timeout, unreachable).",
		}, []string{"endpoint", "result"}),
		webhookDead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_dead_letters_total",
			Help: "Events a webhook endpoint did not accept within its retry time, moved to its dead-letter subject.",
		}, []string{"endpoint"}),
		staleStates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "stale_states_total",
			Help: "Commits that found events of the account stored after its state (a commit a power loss cut short); those events were not published again.",
		}),
	}
	reg.MustRegister(m.fetches, m.fetchDuration, m.apiCalls, m.apiDuration, m.retries,
		m.published, m.diffDuration, m.inFlight, m.tokenRefreshes, m.rateLimitWait, m.conflicts, m.drift,
		m.webhooks, m.webhookDead, m.staleStates)
	// Results known in advance show up as 0 instead of being absent,
	// so rate() and alerts work from the first scrape.
	for _, r := range []string{"ok", "error"} {
		m.tokenRefreshes.WithLabelValues(r)
	}
	for _, o := range []string{OutcomeOK, OutcomeRetry, OutcomeFailed} {
		m.fetches.WithLabelValues(o)
	}
	return m
}

// FetchDone records a processed fetch request and its duration.
func (m *Metrics) FetchDone(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.fetches.WithLabelValues(outcome).Inc()
	m.fetchDuration.Observe(d.Seconds())
}

// APICall records one HTTP call to the API: status is the HTTP status, 0
// when no answer came; felkod the API's error code, 0 for none. Felkods
// outside 0..6 are recorded as "other" to keep the label bounded.
func (m *Metrics) APICall(op string, status, felkod int, d time.Duration) {
	if m == nil {
		return
	}
	m.apiCalls.WithLabelValues(op, statusLabel(status), felkodLabel(felkod)).Inc()
	m.apiDuration.WithLabelValues(op).Observe(d.Seconds())
}

// Retry records that an API operation is tried again.
func (m *Metrics) Retry(op string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(op).Inc()
}

// EventsPublished records n events of a type committed to the stream.
func (m *Metrics) EventsPublished(eventType string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.published.WithLabelValues(eventType).Add(float64(n))
}

// DiffDuration records the time one diff took.
func (m *Metrics) DiffDuration(d time.Duration) {
	if m == nil {
		return
	}
	m.diffDuration.Observe(d.Seconds())
}

// InFlight adds delta (+1 at the start of a fetch, -1 at its end) to the
// number of fetches in flight.
func (m *Metrics) InFlight(delta int) {
	if m == nil {
		return
	}
	m.inFlight.Add(float64(delta))
}

// TokenRefresh records a fetch of a new access token.
func (m *Metrics) TokenRefresh(ok bool) {
	if m == nil {
		return
	}
	r := "ok"
	if !ok {
		r = "error"
	}
	m.tokenRefreshes.WithLabelValues(r).Inc()
}

// RateLimitWait records a wait for the client's rate limiter.
func (m *Metrics) RateLimitWait(d time.Duration) {
	if m == nil {
		return
	}
	m.rateLimitWait.Observe(d.Seconds())
}

// CommitConflict records a commit refused because the account's state
// changed underneath (optimistic concurrency).
func (m *Metrics) CommitConflict() {
	if m == nil {
		return
	}
	m.conflicts.Inc()
}

// APIDrift records one difference between an operation's answer and the
// service description, of a kind (skv.DriftKind).
func (m *Metrics) APIDrift(op, kind string) {
	if m == nil {
		return
	}
	m.drift.WithLabelValues(op, kind).Inc()
}

// WebhookAttempt records one delivery attempt to a webhook endpoint (a
// name from WEBHOOKS_FILE) and its result class.
func (m *Metrics) WebhookAttempt(endpoint, result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(endpoint, result).Inc()
}

// WebhookDeadLetter records an event moved to endpoint's dead letters.
func (m *Metrics) WebhookDeadLetter(endpoint string) {
	if m == nil {
		return
	}
	m.webhookDead.WithLabelValues(endpoint).Inc()
}

// StaleState records a commit that found events of the account stored
// after its state.
func (m *Metrics) StaleState() {
	if m == nil {
		return
	}
	m.staleStates.Inc()
}

// TokenFetched implements skv.Observer: it records a token fetch.
func (m *Metrics) TokenFetched(err error) { m.TokenRefresh(err == nil) }

// RateLimitWaited implements skv.Observer: it records a limiter wait.
func (m *Metrics) RateLimitWaited(d time.Duration) { m.RateLimitWait(d) }

// WatchConsumer registers the gauges skattekonto_consumer_pending and
// skattekonto_consumer_ack_pending, read on scrape from f (the durable
// consumer's NumPending and NumAckPending). f gets a context with a short
// timeout; its answer is reused for 5s, so scrapes from several Prometheus
// servers cost one look-up. When f fails the gauges are left out of the
// scrape rather than reporting a stale or zero value. Only the first call
// registers; later ones are ignored.
func (m *Metrics) WatchConsumer(f func(ctx context.Context) (pending, ackPending uint64, err error)) {
	if m == nil || f == nil {
		return
	}
	m.watchOnce.Do(func() {
		m.reg.MustRegister(newConsumerCollector(f, time.Now))
	})
}

// WatchCertificateExpiry registers the gauge
// skattekonto_client_certificate_expiry_timestamp_seconds, read on scrape
// from f (skv.Client.CertificateExpiry). When f fails (no certificate
// configured) the gauge is left out. Only the first call registers.
func (m *Metrics) WatchCertificateExpiry(f func() (time.Time, error)) {
	if m == nil || f == nil {
		return
	}
	m.certOnce.Do(func() {
		m.reg.MustRegister(&certCollector{f: f, desc: prometheus.NewDesc(
			prometheus.BuildFQName(Namespace, "client_certificate", "expiry_timestamp_seconds"),
			"When the mutual-TLS client certificate in use expires, in seconds since the Unix epoch.",
			nil, nil)})
	})
}

type certCollector struct {
	f    func() (time.Time, error)
	desc *prometheus.Desc
}

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	t, err := c.f()
	if err != nil || t.IsZero() {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(t.UnixNano())/1e9)
}

// consumerCollector reports the durable consumer's backlog on scrape.
type consumerCollector struct {
	f                   func(ctx context.Context) (uint64, uint64, error)
	now                 func() time.Time
	pendingDesc, ackDsc *prometheus.Desc

	mu           sync.Mutex
	at           time.Time
	pending, ack uint64
	err          error
}

func newConsumerCollector(f func(ctx context.Context) (uint64, uint64, error), now func() time.Time) *consumerCollector {
	return &consumerCollector{
		f:   f,
		now: now,
		pendingDesc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "consumer", "pending"),
			"Fetch requests in the stream not yet delivered to the durable consumer.", nil, nil),
		ackDsc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "consumer", "ack_pending"),
			"Fetch requests delivered to workers and not yet acknowledged.", nil, nil),
	}
}

func (c *consumerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pendingDesc
	ch <- c.ackDsc
}

func (c *consumerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock() // concurrent scrapes wait for one look-up
	if now := c.now(); c.at.IsZero() || now.Sub(c.at) >= consumerCacheFor {
		ctx, cancel := context.WithTimeout(context.Background(), consumerTimeout)
		c.pending, c.ack, c.err = c.f(ctx)
		cancel()
		c.at = now
	}
	if c.err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pendingDesc, prometheus.GaugeValue, float64(c.pending))
	ch <- prometheus.MustNewConstMetric(c.ackDsc, prometheus.GaugeValue, float64(c.ack))
}

func statusLabel(status int) string {
	if status < 100 || status > 599 {
		return "0"
	}
	return strconv.Itoa(status)
}

func felkodLabel(felkod int) string {
	if felkod < 0 || felkod > 6 {
		return "other"
	}
	return strconv.Itoa(felkod)
}
