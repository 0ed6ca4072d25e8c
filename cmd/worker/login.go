package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/login"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// newLogin builds the user login (LOGIN_ENABLED=true) on the login
// endpoints of ep and serves its page on LOGIN_ADDR, a listener of its
// own (apart from /metrics): it returns the sessions the worker fetches
// with and a stop that closes the page and hands this replica's logins
// over to the others. Disabled, it returns nil and a no-op stop.
func newLogin(ctx context.Context, cfg *config.Config, ep endpoints, nc *nats.Conn, js jetstream.JetStream, api *skv.Client, log zerolog.Logger) (jobs.Sessions, func(), error) {
	if !cfg.LoginEnabled {
		return nil, func() {}, nil
	}
	base := api.Config()
	llog := log.With().Str("component", "login").Logger()
	l, err := login.New(ctx, nc, js, login.Config{
		ClientID:          base.ClientID,
		ClientSecret:      base.ClientSecret,
		AuthorizeURL:      ep.AuthorizeURL,
		TokenURL:          ep.LoginTokenURL,
		RedirectURL:       cfg.LoginRedirectURL,
		Scopes:            base.Scopes,
		API:               base,
		Cadence:           cfg.LoginCadence,
		TokenKey:          cfg.LoginTokenKey,
		AllowNetworks:     cfg.LoginAllowCIDRs,
		ForwardAuthHeader: cfg.LoginForwardAuthHeader,
		Simulator:         cfg.Sim(),
		OnEnd:             login.ReportAccessProblem(js, llog),
		Logger:            llog,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("config: LOGIN_*: %w", err)
	}
	srv := login.NewServer(cfg.LoginAddr, l.Handler())
	addr := ""
	ln, err := net.Listen("tcp", cfg.LoginAddr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		// Several workers on one machine with the default address: the
		// first serves the page; the others serve the logins' requests.
		llog.Warn().Str("addr", cfg.LoginAddr).Msg("LOGIN_ADDR is in use: this worker serves no login page (set LOGIN_ADDR to serve it)")
	case err != nil:
		l.Close()
		return nil, nil, fmt.Errorf("config: LOGIN_ADDR: %w", err)
	default:
		addr = ln.Addr().String()
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				llog.Error().Err(err).Msg("login page server")
			}
		}()
	}
	storage := "sealed in NATS KV " + contract.LoginBucket + ", shared by the replicas"
	if len(cfg.LoginTokenKey) == 0 {
		storage = "this process's memory only"
		llog.Warn().Msg("LOGIN_TOKEN_KEY is not set: logins live in this process only; run one replica, or set LOGIN_TOKEN_KEY on every replica")
	}
	llog.Info().Str("addr", addr).Str("page", strings.TrimSuffix(cfg.LoginRedirectURL, "callback")).
		Str("logins", storage).Strs("allow", prefixes(cfg)).Str("forwardAuthHeader", cfg.LoginForwardAuthHeader).
		Msg("user login enabled: fetches with a person's BankID login")
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		l.Close()
	}
	return l, stop, nil
}

func prefixes(cfg *config.Config) []string {
	out := make([]string, len(cfg.LoginAllowCIDRs))
	for i, p := range cfg.LoginAllowCIDRs {
		out[i] = p.String()
	}
	return out
}
