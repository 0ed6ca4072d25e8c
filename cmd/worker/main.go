// Command worker consumes Skattekonto fetch requests from NATS JetStream,
// calls Skatteverket's API and publishes the changes as CloudEvents,
// exactly once. With nothing configured it runs on an embedded NATS
// server and the built-in simulator of the API.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// Durations in log lines carry their unit ("1.5s", "340ms"), so a person
// reading them need not know zerolog's default of bare milliseconds.
func init() { zerolog.DurationFieldFormat = zerolog.DurationFormatString }

func newLogger(cfg *config.Config, out io.Writer) zerolog.Logger {
	var w io.Writer = out
	console := cfg.LogFormat == "console"
	if cfg.LogFormat == "" {
		if f, ok := out.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		w = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(cfg.Level).With().Timestamp().Logger()
}

// run wires the worker and blocks until ctx ends and the worker has drained.
func run(ctx context.Context, stdout io.Writer) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	ctx = log.WithContext(ctx) // for what logs through zerolog.Ctx (the streams' setup)
	log.Info().Object("config", cfg).Msg("effective configuration (secrets masked)")

	nc, durability, stopNATS, err := connectNATS(cfg, log)
	if err != nil {
		return err
	}
	defer stopNATS()
	reg, m := newMetrics()
	ep, stopSim, err := apiEndpoints(cfg, log)
	if err != nil {
		return err
	}
	defer stopSim()
	api, peers, stopAPI, err := newAPI(cfg, ep, nc, m, log)
	if err != nil {
		return err
	}
	defer stopAPI()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	store, err := events.NewStore(ctx, js, events.StoreConfig{
		NoCreate:     !cfg.StreamsCreate,
		Replicas:     cfg.StreamReplicas,
		MaxAge:       cfg.EventsMaxAge,
		OnStaleState: reportStaleState(m, log),
	})
	if err != nil {
		return err
	}
	defer store.Close()
	sessions, stopLogin, err := newLogin(ctx, cfg, ep, nc, js, api, log)
	if err != nil {
		return err
	}
	defer stopLogin()
	w, err := newWorker(ctx, cfg, js, api, peers, store, sessions, m, log)
	if err != nil {
		return err
	}
	httpSrv, err := serveHTTP(cfg, httpDeps{nc: nc, js: js, api: api, access: w.CheckAccess,
		faults: &faultChecks{nats: w.CheckNATS, storage: w.CheckStorage, api: w.CheckAPI}, durability: durability, reg: reg, metrics: m, log: log})
	if err != nil {
		return err
	}
	defer shutdownHTTP(httpSrv)
	stopWatch, err := serveWatch(ctx, cfg, js, nc)
	if err != nil {
		return err
	}
	defer stopWatch()
	stopSIE, err := serveSIE(cfg, js, nc)
	if err != nil {
		return err
	}
	defer stopSIE()
	stopWebhooks, err := serveWebhooks(ctx, cfg, js, m, log)
	if err != nil {
		return err
	}
	defer stopWebhooks()

	log.Info().Int("concurrency", cfg.Concurrency).Msg("worker consuming " + contract.FetchPrefix + ">, answering " + contract.WatchPrefix + "* and " + contract.SIEExport)
	if err := w.Run(ctx); err != nil {
		return err
	}
	log.Info().Msg("worker drained, exiting")
	stopWebhooks() // settle the deliveries under way while NATS is still connected
	return nc.Drain()
}
