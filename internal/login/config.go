package login

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// Defaults for the zero values of Config.
const (
	DefaultCadence     = 15 * time.Minute
	DefaultPageRefresh = 10 * time.Second
	DefaultMaxEvents   = 50
	// DefaultRefreshTTL is the refresh token's life assumed when the token
	// answer does not tell it (SKATTEKONTO.md: about 65 minutes).
	DefaultRefreshTTL = 65 * time.Minute
	// MaxAccounts bounds the accounts of one login.
	MaxAccounts = 20
)

// Config configures a Login. Zero values mean the defaults.
type Config struct {
	// ClientID and ClientSecret authenticate the client at the token
	// endpoint (the same API keys as the organisation flow).
	ClientID, ClientSecret string
	// AuthorizeURL and TokenURL are the person flow's endpoints
	// (peroauth2…/oauth2/v1/per/{authorize,token}).
	AuthorizeURL, TokenURL string
	// RedirectURL is this service's callback, …/login/callback, as
	// registered with Skatteverket. Its host decides whether the browser
	// cookie is Secure (everything but loopback).
	RedirectURL string
	// Scopes asked for, default skv.DefaultScopes ("ska").
	Scopes []string
	// API is the base configuration of the clients that call with a
	// user's token (BaseURL, API keys, timeouts, limiter): each session
	// gets a client with API.TokenSource set to its login.
	API skv.Config
	// Cadence is how often the accounts of a live login are fetched,
	// default 15 minutes.
	Cadence time.Duration
	// PageRefresh is how often the page reloads itself, default 10s.
	PageRefresh time.Duration
	// MaxEvents is how many events the page keeps per login, default 50.
	MaxEvents int
	// TokenKey, 32 bytes, turns on keeping logins across restarts: their
	// tokens are sealed with AES-GCM under it into the NATS KV bucket
	// Bucket, each for its refresh token's remaining life. Without it
	// tokens live in memory only.
	TokenKey []byte
	// HTTPClient calls the token endpoint, default API.HTTPClient or a
	// client with a 60s timeout.
	HTTPClient *http.Client
	// OnEnd, when set, is told when a login ends (the refresh was refused
	// or its limit reached), to report it (say, as an AccessProblem). It
	// runs in its own goroutine.
	OnEnd func(ctx context.Context, e Ended)
	// Logger receives a line per login, fetch round and end.
	Logger zerolog.Logger
	// Now is the clock, default time.Now.
	Now func() time.Time
}

// Ended describes a login that ended. It holds no token and no
// personnummer.
type Ended struct {
	Session  string
	Accounts []string // masked
	Reason   string
	At       time.Time
	// ByUser is set when the user logged out (no problem to report).
	ByUser bool
}

func (c Config) withDefaults() (Config, error) {
	var errs []error
	for name, v := range map[string]string{"AuthorizeURL": c.AuthorizeURL, "TokenURL": c.TokenURL, "RedirectURL": c.RedirectURL} {
		if err := checkURL(v); err != nil {
			errs = append(errs, fmt.Errorf("login config: %s: %w", name, err))
		}
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("login config: ClientID is required"))
	}
	if len(c.TokenKey) != 0 && len(c.TokenKey) != 32 {
		errs = append(errs, fmt.Errorf("login config: TokenKey must be 32 bytes, got %d", len(c.TokenKey)))
	}
	if len(c.Scopes) == 0 {
		c.Scopes = skv.DefaultScopes
	}
	if c.Cadence <= 0 {
		c.Cadence = DefaultCadence
	}
	if c.PageRefresh <= 0 {
		c.PageRefresh = DefaultPageRefresh
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = DefaultMaxEvents
	}
	if c.HTTPClient == nil {
		c.HTTPClient = c.API.HTTPClient
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, errors.Join(errs...)
}

// checkURL accepts https, and http only for loopback hosts.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("plain http is accepted only for loopback hosts, not %q", u.Hostname())
	}
	return fmt.Errorf("scheme %q is not https", u.Scheme)
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
