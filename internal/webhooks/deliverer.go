package webhooks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
)

// DefaultReload is how often the endpoints' file is read again.
const DefaultReload = 5 * time.Second

// natsTimeout bounds one request to NATS (consumer management, acks,
// dead letters).
const natsTimeout = 10 * time.Second

// Config is the deliverer's configuration. Zero values mean the defaults.
type Config struct {
	// File is the endpoints' file (WEBHOOKS_FILE); required.
	File string
	// Defaults are the endpoints' timeout and retry time where the file
	// leaves them out (WEBHOOKS_TIMEOUT, WEBHOOKS_MAX_AGE).
	Defaults Defaults
	// RetryMax caps the delay between two attempts (WEBHOOKS_RETRY_MAX);
	// default DefaultRetryMax.
	RetryMax time.Duration
	// Reload is how often File is read again (WEBHOOKS_RELOAD); default
	// DefaultReload.
	Reload time.Duration
	// NoCreate leaves the stream SKATTEKONTO_WEBHOOKS and the endpoints'
	// consumers (webhook-<endpoint> on SKATTEKONTO_EVENTS) to an operator
	// (STREAMS_AUTO_CREATE=false): they must exist, and a removed
	// endpoint's consumer is left for the operator to delete.
	NoCreate bool
	// Replicas of SKATTEKONTO_WEBHOOKS when it is created; default 1.
	Replicas int
	// Logger gets one line per failed attempt, dead letter and change of
	// the endpoints; default none.
	Logger zerolog.Logger
	// Metrics records every attempt; nil records nothing.
	Metrics *metrics.Metrics
	// Client sends the deliveries; default NewClient(). A client of your
	// own must not follow redirects.
	Client *http.Client
}

// Deliverer delivers the events to the endpoints of a file and follows
// the file's changes. Several deliverers (one per worker replica) share
// each endpoint's durable consumer, so each event is delivered by one of
// them at a time.
type Deliverer struct {
	js     jetstream.JetStream
	cfg    Config
	client *http.Client
	log    zerolog.Logger
	dlq    jetstream.Stream

	mu      sync.Mutex
	runners map[string]*runner
	// loadErr and applyErr are the last problems logged (follow's own).
	loadErr  string
	applyErr string

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// Start reads the endpoints' file, makes sure of the dead-letter stream
// and of each endpoint's consumer, and starts delivering. It returns an
// error when the file is invalid or the dead-letter stream unusable; an
// endpoint whose consumer cannot be made (or, with NoCreate, is missing)
// is logged and tried again at each read of the file. Delivery goes on
// until ctx ends or Stop.
func Start(ctx context.Context, js jetstream.JetStream, cfg Config) (*Deliverer, error) {
	if cfg.File == "" {
		return nil, errors.New("webhooks: no endpoints' file")
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.Reload <= 0 {
		cfg.Reload = DefaultReload
	}
	if cfg.Client == nil {
		cfg.Client = NewClient()
	}
	eps, err := LoadFile(cfg.File, cfg.Defaults)
	if err != nil {
		return nil, err
	}
	dlq, err := deadLetterStream(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	d := &Deliverer{
		js: js, cfg: cfg, client: cfg.Client, log: cfg.Logger.With().Str("component", "webhooks").Logger(), dlq: dlq,
		runners: map[string]*runner{},
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	if err := d.removeOrphans(ctx, eps); err != nil {
		return nil, err
	}
	d.applied(d.apply(ctx, eps))
	go d.follow(ctx)
	return d, nil
}

func deadLetterStream(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	if cfg.NoCreate {
		s, err := js.Stream(ctx, contract.WebhooksStream)
		if err != nil {
			return nil, fmt.Errorf("webhooks: stream %s (STREAMS_AUTO_CREATE=false: create it as docs/webhooks.md says): %w", contract.WebhooksStream, err)
		}
		return s, nil
	}
	s, err := js.CreateOrUpdateStream(ctx, contract.WebhooksStreamConfig(cfg.Replicas))
	if err != nil {
		return nil, fmt.Errorf("webhooks: create stream %s: %w", contract.WebhooksStream, err)
	}
	return s, nil
}

// Stop stops delivering: no new attempt starts, attempts under way end
// (each within its endpoint's timeout) and are settled. It is safe to
// call more than once.
func (d *Deliverer) Stop() {
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.done
}

// Endpoints returns the names of the endpoints being delivered to.
func (d *Deliverer) Endpoints() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.runners))
	for n := range d.runners {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// follow reads the file every cfg.Reload until ctx ends or Stop, then
// stops every endpoint.
func (d *Deliverer) follow(ctx context.Context) {
	defer close(d.done)
	defer d.haltAll()
	t := time.NewTicker(d.cfg.Reload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.stop:
			return
		case <-t.C:
			d.reload(ctx)
		}
	}
}

// reload reads the file again and applies it. An invalid file is logged
// (once per distinct problem) and the endpoints stay as they are.
func (d *Deliverer) reload(ctx context.Context) {
	eps, err := LoadFile(d.cfg.File, d.cfg.Defaults)
	if err != nil {
		if msg := err.Error(); msg != d.loadErr {
			d.loadErr = msg
			d.log.Error().Err(err).Msg("webhooks file not applied: the endpoints stay as they were")
		}
		return
	}
	if d.loadErr != "" {
		d.loadErr = ""
		d.log.Info().Msg("webhooks file valid again")
	}
	d.applied(d.apply(ctx, eps))
}

// applied logs what apply could not do, once per distinct problem; the
// endpoints it could not start are tried again at each read of the file.
func (d *Deliverer) applied(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	switch {
	case msg == d.applyErr:
	case err != nil:
		d.log.Error().Err(err).Msg("webhook endpoints not all started: trying again at each read of the file")
	default:
		d.log.Info().Msg("webhook endpoints all started")
	}
	d.applyErr = msg
}

// apply makes the running endpoints those of eps: removed endpoints stop
// and lose their consumer, changed ones restart with their new settings,
// new ones get a consumer (from new events on) and start.
func (d *Deliverer) apply(ctx context.Context, eps []Endpoint) error {
	want := map[string]*Endpoint{}
	for i := range eps {
		want[eps[i].Name] = &eps[i]
	}
	d.mu.Lock()
	running := maps.Clone(d.runners)
	d.mu.Unlock()
	var errs []error
	for name, r := range running {
		ep, keep := want[name]
		if keep && ep.equal(&r.ep) {
			continue
		}
		r.halt()
		d.mu.Lock()
		delete(d.runners, name)
		d.mu.Unlock()
		if !keep {
			if err := d.deleteConsumer(ctx, name); err != nil {
				errs = append(errs, err)
			}
			d.log.Info().Str("endpoint", name).Msg("webhook endpoint removed")
		}
	}
	for _, ep := range eps {
		d.mu.Lock()
		_, ok := d.runners[ep.Name]
		d.mu.Unlock()
		if ok {
			continue
		}
		if err := d.ensureConsumer(ctx, &ep); err != nil {
			errs = append(errs, err)
			continue
		}
		r := d.startRunner(ep)
		d.mu.Lock()
		d.runners[ep.Name] = r
		d.mu.Unlock()
		d.log.Info().Object("endpoint", &ep).Msg("webhook endpoint delivering")
	}
	return errors.Join(errs...)
}

func (d *Deliverer) haltAll() {
	d.mu.Lock()
	rs := maps.Clone(d.runners)
	clear(d.runners)
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(r.halt)
	}
	wg.Wait()
}

// consumerConfig is ep's durable consumer: its subjects, one event out at
// a time (the order), redelivered after the attempt's timeout and a margin
// if a worker dies mid-attempt, never given up by the server (decide does).
func consumerConfig(ep *Endpoint) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        contract.WebhookConsumer(ep.Name),
		Description:    "skattekonto-events webhook " + ep.Name,
		FilterSubjects: ep.Subjects,
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ep.Timeout + ackMargin,
		MaxDeliver:     -1,
		MaxAckPending:  1,
	}
}

// ackMargin is the time after an attempt's timeout to settle it.
const ackMargin = 5 * time.Second

// ensureConsumer creates or updates ep's consumer; with NoCreate it only
// checks that the operator made it, and warns where its settings differ
// from consumerConfig.
func (d *Deliverer) ensureConsumer(ctx context.Context, ep *Endpoint) error {
	ctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	name := contract.WebhookConsumer(ep.Name)
	if !d.cfg.NoCreate {
		if _, err := d.js.CreateOrUpdateConsumer(ctx, contract.EventsStream, consumerConfig(ep)); err != nil {
			return fmt.Errorf("webhook %s: consumer %s: %w", ep.Name, name, err)
		}
		return nil
	}
	c, err := d.js.Consumer(ctx, contract.EventsStream, name)
	if err != nil {
		return fmt.Errorf("webhook %s: consumer %s on %s (STREAMS_AUTO_CREATE=false: the operator creates it as docs/webhooks.md says): %w",
			ep.Name, name, contract.EventsStream, err)
	}
	if diff := consumerDiff(c.CachedInfo().Config, consumerConfig(ep)); diff != "" {
		d.log.Warn().Str("endpoint", ep.Name).Str("consumer", name).Str("differs", diff).
			Msg("webhook consumer made by the operator differs from what the endpoint needs")
	}
	return nil
}

// consumerDiff names the settings of got that break what want promises
// (the subjects, one event at a time, explicit acks, no redelivery during
// an attempt, retries until the retry time); "" when none.
func consumerDiff(got, want jetstream.ConsumerConfig) string {
	var diffs []string
	subjects := got.FilterSubjects
	if got.FilterSubject != "" {
		subjects = []string{got.FilterSubject}
	}
	if !slices.Equal(slices.Sorted(slices.Values(subjects)), slices.Sorted(slices.Values(want.FilterSubjects))) {
		diffs = append(diffs, fmt.Sprintf("filter subjects %v, want %v", subjects, want.FilterSubjects))
	}
	if got.MaxAckPending != want.MaxAckPending {
		diffs = append(diffs, fmt.Sprintf("max ack pending %d, want %d (the order)", got.MaxAckPending, want.MaxAckPending))
	}
	if got.AckPolicy != want.AckPolicy {
		diffs = append(diffs, fmt.Sprintf("ack policy %s, want %s", got.AckPolicy, want.AckPolicy))
	}
	if timeout := want.AckWait - ackMargin; got.AckWait <= timeout {
		diffs = append(diffs, fmt.Sprintf("ack wait %s, want more than the timeout %s", got.AckWait, timeout))
	}
	if got.MaxDeliver > 0 {
		diffs = append(diffs, fmt.Sprintf("max deliver %d, want unlimited (the retry time decides)", got.MaxDeliver))
	}
	return strings.Join(diffs, "; ")
}

// deleteConsumer deletes a removed endpoint's consumer, unless the
// operator manages consumers (NoCreate).
func (d *Deliverer) deleteConsumer(ctx context.Context, name string) error {
	if d.cfg.NoCreate {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	err := d.js.DeleteConsumer(ctx, contract.EventsStream, contract.WebhookConsumer(name))
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("webhook %s: delete consumer: %w", name, err)
	}
	return nil
}

// removeOrphans deletes the consumers of endpoints no longer in the file
// (removed while no worker ran).
func (d *Deliverer) removeOrphans(ctx context.Context, eps []Endpoint) error {
	if d.cfg.NoCreate {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	s, err := d.js.Stream(ctx, contract.EventsStream)
	if err != nil {
		return fmt.Errorf("webhooks: stream %s: %w", contract.EventsStream, err)
	}
	names := s.ConsumerNames(ctx)
	var orphans []string
	for n := range names.Name() {
		ep, ok := strings.CutPrefix(n, contract.WebhookConsumerPrefix)
		if ok && !slices.ContainsFunc(eps, func(e Endpoint) bool { return e.Name == ep }) {
			orphans = append(orphans, ep)
		}
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("webhooks: list consumers: %w", err)
	}
	for _, ep := range orphans {
		if err := d.deleteConsumer(ctx, ep); err != nil {
			return err
		}
		d.log.Info().Str("endpoint", ep).Msg("webhook endpoint no longer in the file: its consumer removed")
	}
	return nil
}
