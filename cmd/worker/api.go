package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/ratelimit"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// endpoints are where the worker finds the API, its token endpoint and
// the user login's endpoints, with the credentials it presents: the
// configured ones, or the built-in simulator's.
type endpoints struct {
	BaseURL, TokenURL           string
	ClientID, ClientSecret      string
	AuthorizeURL, LoginTokenURL string // the user login's (ACG) endpoints
}

// Credentials the built-in simulator accepts.
const simClientID, simClientSecret = "sim-client", "sim-secret"

// apiEndpoints returns the configured endpoints or, for SKV_ENV=sim, those
// of the built-in simulator on SIM_ADDR (loopback), started here unless
// another worker on this machine serves it. stop stops what was started.
func apiEndpoints(cfg *config.Config, log zerolog.Logger) (ep endpoints, stop func(), err error) {
	ep = endpoints{
		BaseURL: cfg.SKVBaseURL, TokenURL: cfg.SKVTokenURL,
		ClientID: cfg.SKVClientID, ClientSecret: cfg.SKVClientSecret,
		AuthorizeURL: cfg.LoginAuthorizeURL, LoginTokenURL: cfg.LoginTokenURL,
	}
	if !cfg.Sim() {
		return ep, func() {}, nil
	}
	s := sim.New(sim.Config{ClientID: simClientID, ClientSecret: simClientSecret, Scope: cfg.SKVScope})
	s.SeedDemo()
	root := "http://" + cfg.SimAddr
	ln, err := net.Listen("tcp", cfg.SimAddr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		// Another worker on this machine serves the simulator: use it.
		log.Info().Str("simulator", root).Msg("SIM_ADDR is in use: using the simulator there (another worker's built-in simulator)")
		stop = s.Close
	case err != nil:
		return endpoints{}, nil, fmt.Errorf("config: SIM_ADDR: %w", err)
	default:
		srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		root = "http://" + ln.Addr().String()
		stop = func() { _ = srv.Close(); s.Close() }
	}
	ep.BaseURL, ep.TokenURL = s.BaseURL(root), s.TokenURL(root)
	ep.ClientID, ep.ClientSecret = simClientID, simClientSecret
	if ep.AuthorizeURL == "" {
		ep.AuthorizeURL, ep.LoginTokenURL = s.AuthorizeURL(root), s.PerTokenURL(root)
	}
	accts := []string{}
	for _, a := range s.Accounts() {
		// Masked as every identity number in a log: a demo personnummer
		// is synthetic, but a simulator loaded with real ones is not.
		if n, err := idnr.Parse(a.Omfragad); err == nil {
			accts = append(accts, n.Masked())
		}
	}
	log.Warn().Str("simulator", root).Strs("demoAccounts", accts).
		Msg("NO SKATTEKONTO API CONFIGURED: using the built-in simulator with demo accounts (set SKV_ENV or SKV_BASE_URL for the real API)")
	return ep, stop, nil
}

// newAPI returns the API client for ep. With SKV_RATE_LIMIT its calls are
// limited to that rate across the whole deployment: replicas share it over
// nc and all slow down on a 429. Either way the replicas announce
// themselves on the limiter's subjects and peers counts the live ones,
// for the fetch stream's partitions. stop closes the limiter.
func newAPI(cfg *config.Config, ep endpoints, nc *nats.Conn, obs skv.Observer, log zerolog.Logger) (api *skv.Client, peers func() int, stop func(), err error) {
	lim, err := ratelimit.New(nc, ratelimit.Config{Rate: max(cfg.SKVRateLimit, 0), MaxPeers: cfg.SKVRateMaxPeers, MaxPause: cfg.SKVRateMaxPause, MaxWait: cfg.SKVRateMaxWait, Logger: log})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("config: SKV_RATE_LIMIT: %w", err)
	}
	stop, peers = lim.Close, lim.Peers
	var limiter skv.Limiter
	if cfg.SKVRateLimit > 0 {
		limiter = lim
	}
	api, err = skv.New(skv.Config{
		BaseURL:           ep.BaseURL,
		TokenURL:          ep.TokenURL,
		ClientID:          ep.ClientID,
		ClientSecret:      ep.ClientSecret,
		Scopes:            []string{cfg.SKVScope},
		CertFile:          cfg.SKVCertFile,
		KeyFile:           cfg.SKVKeyFile,
		CAFile:            cfg.SKVCAFile,
		CorrelationHeader: cfg.CorrelationHeader,
		Timeout:           cfg.SKVTimeout,
		MaxAttempts:       cfg.SKVMaxAttempts,
		MaxElapsed:        cfg.SKVMaxElapsed,
		Paths:             cfg.SKVPaths(),
		KeysOnly:          cfg.KeysOnly(),
		Limiter:           limiter,
		Observer:          obs,
	})
	if err != nil {
		stop()
		return nil, nil, nil, fmt.Errorf("skattekonto client: %w", err)
	}
	return api, peers, stop, nil
}
