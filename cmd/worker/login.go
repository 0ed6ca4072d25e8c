package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

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
// endpoints of ep: the page to mount under /login/ and the sessions the
// worker fetches with. Disabled, it returns nils and a no-op stop.
func newLogin(ctx context.Context, cfg *config.Config, ep endpoints, nc *nats.Conn, js jetstream.JetStream, api *skv.Client, log zerolog.Logger) (jobs.Sessions, http.Handler, func(), error) {
	if !cfg.LoginEnabled {
		return nil, nil, func() {}, nil
	}
	base := api.Config()
	l, err := login.New(ctx, nc, js, login.Config{
		ClientID:     base.ClientID,
		ClientSecret: base.ClientSecret,
		AuthorizeURL: ep.AuthorizeURL,
		TokenURL:     ep.LoginTokenURL,
		RedirectURL:  cfg.LoginRedirectURL,
		Scopes:       base.Scopes,
		API:          base,
		Cadence:      cfg.LoginCadence,
		TokenKey:     cfg.LoginTokenKey,
		OnEnd:        login.ReportAccessProblem(js, log),
		Logger:       log.With().Str("component", "login").Logger(),
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("config: LOGIN_*: %w", err)
	}
	storage := "memory only (set LOGIN_TOKEN_KEY to keep logins across restarts)"
	if len(cfg.LoginTokenKey) > 0 {
		storage = "sealed in NATS KV " + contract.LoginBucket
	}
	log.Info().Str("page", strings.TrimSuffix(cfg.LoginRedirectURL, "callback")).Str("tokens", storage).
		Msg("user login enabled: fetches with a person's BankID login")
	return l, l.Handler(), l.Close, nil
}
