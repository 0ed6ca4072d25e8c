package skv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Defaults for the zero values of Config.
const (
	DefaultCorrelationHeader = "SKV-client_correlationid"
	DefaultTimeout           = 60 * time.Second
	DefaultMaxAttempts       = 5
	DefaultMaxElapsed        = 2 * time.Minute
	DefaultInitialInterval   = 500 * time.Millisecond
	DefaultMaxInterval       = 30 * time.Second
	DefaultMaxResponseBytes  = 8 << 20
)

// DefaultScopes are the OAuth2 scopes asked for when Config.Scopes is empty.
var DefaultScopes = []string{"ska"}

// Config configures a Client. Zero values mean the documented defaults.
type Config struct {
	// BaseURL is the API base, e.g.
	// https://api.skatteverket.se/beskattning/skattekonto/v2. Plain
	// http:// is accepted only for loopback hosts.
	BaseURL string
	// TokenURL is the OAuth2 client-credentials token endpoint; the same
	// http:// rule applies. Not used, and not required, with TokenSource
	// or KeysOnly.
	TokenURL string
	// Paths are the operations' path templates below BaseURL, each
	// holding Placeholder ("{omfragad}") where the identity number goes
	// (see CheckPathTemplate). Operations not in the map use DefaultPaths.
	Paths map[Operation]string
	// KeysOnly calls the API with the gateway keys alone (ClientID,
	// ClientSecret and the correlation id): no OAuth2 token and no
	// Authorization header, as Skatteverket's simple test service
	// ("enkel testtjänst") expects. ClientSecret is then required and
	// TokenSource must be nil.
	KeysOnly bool
	// TokenSource, when set, gives the access tokens instead of the
	// client credentials grant: a user's login (authorization code flow).
	// Its errors that wrap ErrTokenRefused or ErrLoginEnded are not
	// retried. The granted scope is the source's business.
	TokenSource  oauth2.TokenSource
	ClientID     string
	ClientSecret string
	// Scopes are the requested OAuth2 scopes, default DefaultScopes.
	Scopes []string
	// CertFile and KeyFile hold the organisation certificate and its key
	// (PEM) for mutual TLS: both or neither. They are re-read when they
	// change on disk.
	CertFile, KeyFile string
	// CAFile is an extra CA bundle (PEM) trusted besides the system roots.
	CAFile string
	// CorrelationHeader names the per-call correlation id header,
	// default DefaultCorrelationHeader.
	CorrelationHeader string
	// Timeout bounds each HTTP call, default 60s.
	Timeout time.Duration
	// MaxAttempts is the number of HTTP attempts per operation including
	// the first, default 5. A token refresh after a 401 is not counted.
	MaxAttempts int
	// MaxElapsed bounds the time spent on one operation, retries included,
	// default 2m.
	MaxElapsed time.Duration
	// InitialInterval and MaxInterval bound the exponential backoff,
	// defaults 500ms and 30s.
	InitialInterval, MaxInterval time.Duration
	// MaxResponseBytes caps an answer's body, default 8 MiB; a larger
	// answer is an error.
	MaxResponseBytes int64
	// RateLimit is this client's calls per second, 0 for no limit, with
	// bursts of Burst calls (default 1).
	RateLimit float64
	Burst     int
	// Limiter, when set, replaces RateLimit and Burst. If it also
	// implements Throttler it is told about every 429 answer.
	Limiter Limiter
	// HTTPClient, when set, is used for the API and token calls instead of
	// a client built from the TLS fields (for tests).
	HTTPClient *http.Client
	// Now is the clock for Call.At and Retry-After dates, default time.Now.
	Now func() time.Time
	// Observer, when set, is told about token fetches and rate limiter
	// waits (for metrics). *metrics.Metrics implements it.
	Observer Observer
}

// Observer is told what the client does besides API calls. Its methods
// must be quick and safe for concurrent use.
type Observer interface {
	// TokenFetched is called after each request to the token endpoint
	// with its error, nil on success; not when a cached token is reused.
	TokenFetched(err error)
	// RateLimitWaited is called after a wait for the rate limiter that
	// blocked the call (took 1ms or more).
	RateLimitWaited(d time.Duration)
}

// Limiter paces calls: Wait blocks until the next call may go.
// *rate.Limiter from golang.org/x/time/rate implements it.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Throttler is optionally implemented by a Limiter that wants to slow down
// when the API answers 429 Too Many Requests. retryAfter is the server's
// Retry-After, 0 when it gave none.
type Throttler interface {
	Throttled(retryAfter time.Duration)
}

// withDefaults validates c and fills in defaults. Errors name the field.
func (c Config) withDefaults() (Config, error) {
	if err := checkURL("BaseURL", c.BaseURL); err != nil {
		return c, err
	}
	switch {
	case c.KeysOnly && c.TokenSource != nil:
		return c, fmt.Errorf("skv config: KeysOnly and TokenSource exclude each other")
	case c.KeysOnly:
		if c.ClientSecret == "" {
			return c, fmt.Errorf("skv config: ClientSecret is required with KeysOnly")
		}
	case c.TokenSource == nil:
		if err := checkURL("TokenURL", c.TokenURL); err != nil {
			return c, err
		}
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.ClientID == "" {
		return c, fmt.Errorf("skv config: ClientID is required")
	}
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes
	}
	c.Scopes = append([]string(nil), c.Scopes...)
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"") {
			return c, fmt.Errorf("skv config: Scopes: invalid scope %q", s)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return c, fmt.Errorf("skv config: CertFile and KeyFile must be given together")
	}
	if c.CorrelationHeader == "" {
		c.CorrelationHeader = DefaultCorrelationHeader
	}
	if !validHeaderName(c.CorrelationHeader) {
		return c, fmt.Errorf("skv config: CorrelationHeader: invalid header name %q", c.CorrelationHeader)
	}
	if err := c.durationDefaults(); err != nil {
		return c, err
	}
	if c.MaxInterval < c.InitialInterval {
		return c, fmt.Errorf("skv config: MaxInterval %v is less than InitialInterval %v", c.MaxInterval, c.InitialInterval)
	}
	if c.MaxAttempts < 0 {
		return c, fmt.Errorf("skv config: MaxAttempts must not be negative, got %d", c.MaxAttempts)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxResponseBytes < 0 {
		return c, fmt.Errorf("skv config: MaxResponseBytes must not be negative, got %d", c.MaxResponseBytes)
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.RateLimit < 0 {
		return c, fmt.Errorf("skv config: RateLimit must not be negative, got %v", c.RateLimit)
	}
	if c.Burst < 0 {
		return c, fmt.Errorf("skv config: Burst must not be negative, got %d", c.Burst)
	}
	if c.Burst == 0 {
		c.Burst = 1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// durationDefaults checks the durations and fills in their defaults.
func (c *Config) durationDefaults() error {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &c.Timeout, DefaultTimeout},
		{"MaxElapsed", &c.MaxElapsed, DefaultMaxElapsed},
		{"InitialInterval", &c.InitialInterval, DefaultInitialInterval},
		{"MaxInterval", &c.MaxInterval, DefaultMaxInterval},
	} {
		if *d.v < 0 {
			return fmt.Errorf("skv config: %s must not be negative, got %v", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	return nil
}

// checkURL accepts https:// URLs and http:// URLs of loopback hosts.
func checkURL(field, raw string) error {
	if raw == "" {
		return fmt.Errorf("skv config: %s is required", field)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("skv config: %s: %w", field, err)
	}
	if u.Host == "" {
		return fmt.Errorf("skv config: %s %q has no host", field, raw)
	}
	if u.User != nil {
		return fmt.Errorf("skv config: %s must not carry user info", field)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("skv config: %s: plain http is allowed only for loopback hosts, got host %q", field, u.Hostname())
	default:
		return fmt.Errorf("skv config: %s: scheme must be https, got %q", field, u.Scheme)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}
