// Command worker consumes Skattekonto fetch requests from NATS JetStream,
// calls Skatteverket's API and publishes the changes as CloudEvents,
// exactly once. With nothing configured it runs on an embedded NATS
// server and the built-in simulator of the API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/booking"
	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/natsserver"
	"github.com/skattekonto-events/skattekonto-events/internal/ratelimit"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
	"github.com/skattekonto-events/skattekonto-events/internal/watch"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

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

	natsURL := cfg.NATSURL
	if natsURL == "" {
		host, port, err := net.SplitHostPort(cfg.EmbeddedNATSAddr)
		if err != nil {
			return fmt.Errorf("config: EMBEDDED_NATS_ADDR: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return fmt.Errorf("config: EMBEDDED_NATS_ADDR: port %q: %w", port, err)
		}
		if addrInUse(cfg.EmbeddedNATSAddr) {
			// Another worker on this machine runs the embedded server: share it.
			natsURL = "nats://" + cfg.EmbeddedNATSAddr
			log.Info().Str("url", natsURL).Msg("NATS_URL is empty and EMBEDDED_NATS_ADDR is in use: joining the NATS server there (another worker's embedded server)")
		} else {
			srv, err := natsserver.Start(natsserver.Config{StoreDir: cfg.DataDir, Host: host, Port: p, ServerName: "skattekonto-embedded"})
			if err != nil {
				return fmt.Errorf("start embedded NATS: %w", err)
			}
			defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
			natsURL = srv.ClientURL()
			log.Info().Str("url", natsURL).Str("storeDir", cfg.DataDir).Msg("NATS_URL is empty: started an embedded NATS server with JetStream")
		}
	}

	reg, m := newMetrics()
	nc, err := connect(cfg, natsURL, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	// The configured call rate is the whole deployment's: replicas share it
	// over NATS and all slow down on a 429.
	var limiter skv.Limiter
	if cfg.SKVRateLimit > 0 {
		lim, err := ratelimit.New(nc, ratelimit.Config{Rate: cfg.SKVRateLimit, MaxPeers: cfg.SKVRateMaxPeers, MaxPause: cfg.SKVRateMaxPause, MaxWait: cfg.SKVRateMaxWait, Logger: log})
		if err != nil {
			return fmt.Errorf("config: SKV_RATE_LIMIT: %w", err)
		}
		defer lim.Close()
		limiter = lim
	}
	api, stopAPI, err := newAPI(ctx, cfg, m, limiter, log)
	if err != nil {
		return err
	}
	defer stopAPI()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	store, err := events.NewStore(ctx, js, events.StoreConfig{
		NoCreate: !cfg.StreamsCreate,
		Replicas: cfg.StreamReplicas,
		MaxAge:   cfg.EventsMaxAge,
	})
	if err != nil {
		return err
	}
	defer store.Close()
	voucher, err := newVoucher(cfg)
	if err != nil {
		return err
	}
	sessions, loginPage, stopLogin, err := newLogin(ctx, cfg, nc, js, api, log)
	if err != nil {
		return err
	}
	defer stopLogin()
	w, err := jobs.New(ctx, js, api, store, jobs.Config{
		Concurrency:  cfg.Concurrency,
		AckWait:      cfg.AckWait,
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
	})
	if err != nil {
		return err
	}

	httpSrv, err := serveHTTP(cfg, httpDeps{nc: nc, js: js, api: api, access: w.CheckAccess, reg: reg, metrics: m, log: log, login: loginPage})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(sctx)
	}()

	wm, err := watch.NewManager(ctx, js)
	if err != nil {
		return err
	}
	stopWatch, err := wm.Serve(nc)
	if err != nil {
		return err
	}
	defer func() { _ = stopWatch() }()

	log.Info().Int("concurrency", cfg.Concurrency).Msg("worker consuming " + contract.FetchPrefix + ">, answering " + contract.WatchPrefix + "*")
	if err := w.Run(ctx); err != nil {
		return err
	}
	log.Info().Msg("worker drained, exiting")
	return nc.Drain()
}

func connect(cfg *config.Config, url string, log zerolog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(contract.ConnectionName),
		nats.MaxReconnects(-1),
		// NATS may be restarting when the worker starts: keep trying
		// instead of exiting.
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Msg("NATS disconnected")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("NATS reconnected") }),
	}
	if cfg.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
	}
	if cfg.NATSNKey != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NATSNKey)
		if err != nil {
			return nil, fmt.Errorf("config: NATS_NKEY: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.NATSCAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.NATSCAFile))
	}
	if cfg.NATSCertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.NATSCertFile, cfg.NATSKeyFile))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	return nc, nil
}

// newAPI returns the API client: for SKV_ENV=sim it starts the built-in
// simulator on SIM_ADDR (loopback) and points the client at it.
func newAPI(ctx context.Context, cfg *config.Config, obs skv.Observer, limiter skv.Limiter, log zerolog.Logger) (*skv.Client, func(), error) {
	scfg := skv.Config{
		BaseURL:           cfg.SKVBaseURL,
		TokenURL:          cfg.SKVTokenURL,
		ClientID:          cfg.SKVClientID,
		ClientSecret:      cfg.SKVClientSecret,
		Scopes:            []string{cfg.SKVScope},
		CertFile:          cfg.SKVCertFile,
		KeyFile:           cfg.SKVKeyFile,
		CAFile:            cfg.SKVCAFile,
		CorrelationHeader: cfg.CorrelationHeader,
		Timeout:           cfg.SKVTimeout,
		MaxAttempts:       cfg.SKVMaxAttempts,
		MaxElapsed:        cfg.SKVMaxElapsed,
		Limiter:           limiter,
		Observer:          obs,
	}
	stop := func() {}
	if cfg.Sim() {
		s := sim.New(sim.Config{ClientID: "sim-client", ClientSecret: "sim-secret", Scope: cfg.SKVScope})
		s.SeedDemo()
		root := "http://" + cfg.SimAddr
		ln, err := net.Listen("tcp", cfg.SimAddr)
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			// Another worker on this machine serves the simulator: use it.
			log.Info().Str("simulator", root).Msg("SIM_ADDR is in use: using the simulator there (another worker's built-in simulator)")
			stop = s.Close
		case err != nil:
			return nil, nil, fmt.Errorf("config: SIM_ADDR: %w", err)
		default:
			srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			root = "http://" + ln.Addr().String()
			stop = func() { _ = srv.Close(); s.Close() }
		}
		scfg.BaseURL, scfg.TokenURL = s.BaseURL(root), s.TokenURL(root)
		scfg.ClientID, scfg.ClientSecret = "sim-client", "sim-secret"
		if cfg.LoginAuthorizeURL == "" {
			cfg.LoginAuthorizeURL, cfg.LoginTokenURL = s.AuthorizeURL(root), s.PerTokenURL(root)
		}
		accts := []string{}
		for _, a := range s.Accounts() {
			accts = append(accts, a.Omfragad)
		}
		log.Warn().Str("simulator", root).Strs("demoAccounts", accts).
			Msg("NO SKATTEKONTO API CONFIGURED: using the built-in simulator with demo accounts (set SKV_ENV or SKV_BASE_URL for the real API)")
	}
	c, err := skv.New(scfg)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("skattekonto client: %w", err)
	}
	return c, stop, nil
}

// newVoucher returns the booking proposer: the default rule table, or the
// file BOOKING_RULES_FILE, with the disputed accounts from configuration.
func newVoucher(cfg *config.Config) (func(string, *events.APIRow) *events.Voucher, error) {
	table := booking.Default()
	if cfg.BookingRulesFile != "" {
		t, err := booking.LoadFile(cfg.BookingRulesFile)
		if err != nil {
			return nil, fmt.Errorf("config: BOOKING_RULES_FILE: %w", err)
		}
		table = t
	}
	settings := booking.Settings{
		PrelSkatt:      cfg.BookingPrelSkatt,
		Arbetsgivaravg: cfg.BookingArbetsgivavg,
		SlutligSkatt:   cfg.BookingSlutligSkatt,
		MomsRefund:     cfg.BookingMomsRefund,
	}
	if err := settings.Validate(); err != nil {
		return nil, fmt.Errorf("config: BOOKING_*: %w", err)
	}
	return func(omfragad string, r *events.APIRow) *events.Voucher {
		owner := booking.Company
		if n, err := idnr.Parse(omfragad); err == nil {
			owner = booking.OwnerOf(n)
		}
		v := table.Propose(r.Transaktionstext, r.BeloppSkatteverket, r.BeloppKronofogden, owner, settings)
		return &v
	}, nil
}

// addrInUse reports whether something already listens on addr.
func addrInUse(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	_ = ln.Close()
	return false
}
