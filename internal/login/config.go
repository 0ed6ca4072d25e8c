package login

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
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
	// DefaultLeaseTTL is how long a replica owns a login without renewing
	// its lease: a dead owner's logins are taken over within about that.
	DefaultLeaseTTL = 30 * time.Second
	// DefaultMaxPending bounds the logins started and not yet back from
	// the authorize endpoint, per replica.
	DefaultMaxPending = 1000
	// DefaultStartsPerMinute is how many logins one client (network
	// address, or forwarded user) may start a minute.
	DefaultStartsPerMinute = 5
	// DefaultMaxClients bounds the clients the rate limit tracks a
	// minute; more are refused until the minute has passed.
	DefaultMaxClients = 10000
)

// DefaultAllowNetworks are the networks the page answers by default:
// loopback only.
var DefaultAllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

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
	// user's token (BaseURL, API keys, timeouts, limiter): each login
	// gets a client with API.TokenSource set to its login.
	API skv.Config
	// Cadence is how often the accounts of a live login are fetched,
	// default 15 minutes.
	Cadence time.Duration
	// PageRefresh is how often the page reloads itself, default 10s.
	PageRefresh time.Duration
	// MaxEvents is how many events the page keeps per login, default 50.
	MaxEvents int
	// TokenKey, 32 bytes, turns on sharing logins between replicas and
	// keeping them across restarts: they are sealed with AES-GCM under it
	// into the NATS KV bucket SKATTEKONTO_LOGIN, each for its refresh
	// token's remaining life. Without it logins live in this process's
	// memory only, which serves one replica alone.
	TokenKey []byte
	// Instance names this process as the owner of the logins it runs,
	// default a random name.
	Instance string
	// LeaseTTL is how long this process owns a login without renewing
	// the lease (it renews it every third of that), default 30s.
	LeaseTTL time.Duration
	// RequestMaxAge is how old a login's fetch request may be when served,
	// default twice the Cadence and at least 10 minutes: an older one is
	// refused, so a copy cannot be replayed for ever.
	RequestMaxAge time.Duration
	// AllowNetworks are the client networks the page answers (the
	// address the connection comes from), default loopback only.
	AllowNetworks []netip.Prefix
	// ForwardAuthHeader, when set, is the header by which an
	// authenticating proxy in front (oauth2-proxy's X-Forwarded-User, or
	// X-Auth-Request-User) names the user: requests without it are
	// refused, and a user sees only the logins made under that name. Set
	// it only when the page is reachable through that proxy alone
	// (AllowNetworks).
	ForwardAuthHeader string
	// MaxPending bounds the logins started and not yet back from the
	// authorize endpoint, default 1000 per process.
	MaxPending int
	// StartsPerMinute bounds the logins one client may start a minute,
	// default 5; MaxClients bounds the clients tracked a minute, default
	// 10000.
	StartsPerMinute int
	MaxClients      int
	// Simulator, set when the endpoints are the built-in simulator's,
	// makes the page say so.
	Simulator bool
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
	// Session is the login's public reference (never usable to act on
	// the login).
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
	if c.Instance == "" {
		c.Instance = "w-" + randomID(8)
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.LeaseTTL < 2*time.Second {
		errs = append(errs, fmt.Errorf("login config: LeaseTTL %v is shorter than 2s", c.LeaseTTL))
	}
	if c.RequestMaxAge <= 0 {
		c.RequestMaxAge = max(2*c.Cadence, 10*time.Minute)
	}
	if len(c.AllowNetworks) == 0 {
		c.AllowNetworks = DefaultAllowNetworks
	}
	if c.ForwardAuthHeader != "" && !validHeaderName(c.ForwardAuthHeader) {
		errs = append(errs, fmt.Errorf("login config: ForwardAuthHeader %q is not a header name", c.ForwardAuthHeader))
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.StartsPerMinute <= 0 {
		c.StartsPerMinute = DefaultStartsPerMinute
	}
	if c.MaxClients <= 0 {
		c.MaxClients = DefaultMaxClients
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

// validHeaderName reports whether s is an HTTP header name (RFC 9110
// token).
func validHeaderName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return s != ""
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
