package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/booking"
	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
	"github.com/skattekonto-events/skattekonto-events/internal/watch"
	"github.com/skattekonto-events/skattekonto-events/internal/webhooks"
)

// newWorker prepares the fetch worker with the diff's settings and the
// booking proposer.
func newWorker(ctx context.Context, cfg *config.Config, js jetstream.JetStream, api *skv.Client, peers func() int, store *events.Store,
	sessions jobs.Sessions, m *metrics.Metrics, log zerolog.Logger) (*jobs.Worker, error) {
	voucher, err := newVoucher(cfg)
	if err != nil {
		return nil, err
	}
	evidence, err := openEvidence(ctx, cfg, js)
	if err != nil {
		return nil, err
	}
	return jobs.New(ctx, js, api, store, jobs.Config{
		Evidence:     evidence,
		Concurrency:  cfg.Concurrency,
		AckWait:      cfg.AckWait,
		Partitions:   cfg.Partitions,
		Peers:        peers,
		MaxDeliver:   cfg.MaxDeliver,
		DrainTimeout: cfg.DrainTimeout,
		Replicas:     cfg.StreamReplicas,
		NoCreate:     !cfg.StreamsCreate,
		Diff: events.Options{
			ReminderDays: cfg.ReminderDays,
			Uppmaning:    cfg.ShortfallUppmaning,
			Krav:         cfg.ShortfallKrav,
			Voucher:      voucher,
		},
		CertificateWarn: cfg.CertificateWarn,
		Logger:          log,
		Metrics:         m,
		// The organisation certificate is checked at start and daily.
		CertificateExpiry: api.CertificateExpiry,
		Sessions:          sessions,

		// When the API differs from what the worker expects (SKV_*).
		TransactionsMaxAge: cfg.SKVTransactionsMaxAge,
		UnavailableRetry:   unavailableRetry(cfg.SKVUnavailableRetry),
		PathVariables:      config.PathVariables,
	})
}

// unavailableRetry is SKV_UNAVAILABLE_RETRY as jobs.Config takes it: 0
// (call on every fetch) is negative there, where 0 means the default.
func unavailableRetry(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// bookingTable returns the rule table: the default, or the file
// BOOKING_RULES_FILE.
func bookingTable(cfg *config.Config) (*booking.Table, error) {
	if cfg.BookingRulesFile == "" {
		return booking.Default(), nil
	}
	t, err := booking.LoadFile(cfg.BookingRulesFile)
	if err != nil {
		return nil, fmt.Errorf("config: BOOKING_RULES_FILE: %w", err)
	}
	return t, nil
}

// newVoucher returns the booking proposer: the rule table with the
// disputed accounts from configuration.
func newVoucher(cfg *config.Config) (func(string, *events.APIRow) *events.Voucher, error) {
	table, err := bookingTable(cfg)
	if err != nil {
		return nil, err
	}
	propose, err := table.Proposer(booking.Settings{
		PrelSkatt:      cfg.BookingPrelSkatt,
		Arbetsgivaravg: cfg.BookingArbetsgivavg,
		SlutligSkatt:   cfg.BookingSlutligSkatt,
		MomsRefund:     cfg.BookingMomsRefund,
	})
	if err != nil {
		return nil, fmt.Errorf("config: BOOKING_*: %w", err)
	}
	return propose, nil
}

// serveWatch answers the watch list's requests on nc; stop ends it.
func serveWatch(ctx context.Context, cfg *config.Config, js jetstream.JetStream, nc *nats.Conn) (stop func(), err error) {
	wm, err := watch.NewManager(ctx, js, watch.WithMinInterval(cfg.WatchMinInterval), watch.WithMaxAccounts(cfg.WatchMaxAccounts))
	if err != nil {
		return nil, err
	}
	stopServe, err := wm.Serve(nc)
	if err != nil {
		return nil, err
	}
	return func() { _ = stopServe() }, nil
}

// serveWebhooks delivers the events to the endpoints of WEBHOOKS_FILE
// until ctx ends; stop waits for the attempts under way.
func serveWebhooks(ctx context.Context, cfg *config.Config, js jetstream.JetStream, m *metrics.Metrics, log zerolog.Logger) (stop func(), err error) {
	if cfg.WebhooksFile == "" {
		return func() {}, nil
	}
	d, err := webhooks.Start(ctx, js, webhooks.Config{
		File:     cfg.WebhooksFile,
		Defaults: webhooks.Defaults{Timeout: cfg.WebhooksTimeout, MaxAge: cfg.WebhooksMaxAge},
		RetryMax: cfg.WebhooksRetryMax, Reload: cfg.WebhooksReload,
		NoCreate: !cfg.StreamsCreate, Replicas: cfg.StreamReplicas, Logger: log, Metrics: m,
	})
	if err != nil {
		return nil, err // names the file, the endpoint and the field
	}
	return d.Stop, nil
}
