package sim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Paths of the simulated services.
const (
	APIPrefix = "/beskattning/skattekonto/v2"
	TokenPath = "/oauth2/v1/sysorg/token"
	AdminPath = "/admin/"
)

// Operation names as counted by Calls and matched by Fault.Operation.
const (
	OpSaldo               = "saldo"
	OpTransaktioner       = "transaktioner"
	OpUtbetalningskonto   = "utbetalningskonto"
	OpUtbetalningssparrar = "utbetalningssparrar"
	OpToken               = "token"
)

// Defaults for the zero values of Config.
const (
	DefaultClientID     = "sim-client"
	DefaultClientSecret = "sim-secret"
	DefaultScope        = "ska"
	DefaultTokenTTL     = 3600 * time.Second
)

// stockholm is the zone of every date and timestamp the API shows.
var stockholm = contract.Stockholm

// Config configures a Sim. Zero values mean defaults.
type Config struct {
	// ClientID and ClientSecret are the credentials the simulator
	// requires: as the client_id/client_secret headers of every API call
	// and as client authentication (HTTP Basic or form fields) on the
	// token endpoint. Defaults "sim-client" and "sim-secret".
	ClientID, ClientSecret string
	// Scope is the scope granted by the token endpoint and required by
	// the API. Default "ska".
	Scope string
	// TokenTTL is the lifetime of issued tokens on the Now clock.
	// Default 3600s.
	TokenTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Latency is added to every API call (not the token endpoint).
	Latency time.Duration
	// RateLimit is the number of API calls per second allowed across
	// all clients (burst: the same number, at least 1). Beyond it the
	// simulator answers 429 with Retry-After. 0 means unlimited.
	RateLimit float64
	// RequireMTLS is informational: mutual TLS is enforced by the TLS
	// listener (see Certs.ServerTLSConfig), not by the handler.
	RequireMTLS bool
	// KeysOnly simulates Skatteverket's simple test service ("enkel
	// testtjänst"): API calls need the client_id and client_secret
	// headers and a correlation id, and no bearer token. The token
	// endpoint still answers (and counts its calls).
	KeysOnly bool
	// Logger receives one debug line per request. Optional.
	Logger *zerolog.Logger

	// The authorization code flow for persons (acg.go).
	// Persons are the test persons of the login page, default
	// DefaultPersons(). RedirectURIs are the client's registered
	// redirect URIs; without any, http(s) URLs on loopback hosts.
	Persons      []Person
	RedirectURIs []string
	// UserTokenTTL is the life of a person's access token (default 1h),
	// UserRefreshTTL that of a refresh token (default 65m) and
	// UserMaxRefreshes the number of refreshes one login allows (default
	// 10; negative: none).
	UserTokenTTL     time.Duration
	UserRefreshTTL   time.Duration
	UserMaxRefreshes int
}

// Sim is an in-memory simulator of Skattekonto via API v2 and its OAuth2
// client-credentials token endpoint. It is safe for concurrent use.
type Sim struct {
	cfg     Config
	log     zerolog.Logger
	handler http.Handler

	// sleep waits d or until ctx ends; replaced in tests.
	sleep func(ctx context.Context, d time.Duration) error
	// afterFunc schedules scenario steps; replaced in tests.
	afterFunc func(d time.Duration, f func()) (stop func() bool)

	mu       sync.Mutex
	accounts map[string]*Account
	nextID   int64 // next transaktionsidentitet / sparridentitet
	changes  []Change
	seq      int64
	faults   []*Fault
	calls    map[string]int
	corrIDs  []string
	tokens   map[string]tokenInfo
	pruneAt  int
	bucket   bucket
	timers   []func() bool
	closed   bool
	acg      *acgState
	// routes are the operations' paths (settings.go).
	routes        map[string]route
	quietUpcoming bool
	window        ServiceWindow
}

type tokenInfo struct {
	expires time.Time
	scope   string
}

// New returns a simulator with no accounts.
func New(cfg Config) *Sim {
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = DefaultClientSecret
	}
	if cfg.Scope == "" {
		cfg.Scope = DefaultScope
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Persons) == 0 {
		cfg.Persons = DefaultPersons()
	}
	if cfg.UserTokenTTL <= 0 {
		cfg.UserTokenTTL = DefaultUserTokenTTL
	}
	if cfg.UserRefreshTTL <= 0 {
		cfg.UserRefreshTTL = DefaultUserRefreshTTL
	}
	switch {
	case cfg.UserMaxRefreshes == 0:
		cfg.UserMaxRefreshes = DefaultUserMaxRefreshes
	case cfg.UserMaxRefreshes < 0:
		cfg.UserMaxRefreshes = 0
	}
	s := &Sim{
		cfg:       cfg,
		log:       zerolog.Nop(),
		sleep:     sleepCtx,
		afterFunc: realAfterFunc,
		accounts:  make(map[string]*Account),
		nextID:    100000001,
		calls:     make(map[string]int),
		tokens:    make(map[string]tokenInfo),
		routes:    defaultRoutes(),
		window:    ServiceWindow{}.withDefaults(),
	}
	if cfg.Logger != nil {
		s.log = *cfg.Logger
	}
	if cfg.RateLimit > 0 {
		burst := cfg.RateLimit
		if burst < 1 {
			burst = 1
		}
		s.bucket = bucket{rate: cfg.RateLimit, burst: burst, tokens: burst, last: cfg.Now()}
	}
	s.handler = s.newHandler()
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func realAfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Handler serves the API under /beskattning/skattekonto/v2, the token
// endpoint at /oauth2/v1/sysorg/token and the admin API under /admin/.
func (s *Sim) Handler() http.Handler { return s.handler }

// BaseURL returns the API base URL for a server rooted at root
// (e.g. "https://127.0.0.1:8443").
func (s *Sim) BaseURL(root string) string { return root + APIPrefix }

// TokenURL returns the token endpoint URL for a server rooted at root.
func (s *Sim) TokenURL(root string) string { return root + TokenPath }

// Close stops the timers of loaded scenarios. The handler keeps working.
func (s *Sim) Close() {
	s.mu.Lock()
	timers := s.timers
	s.timers = nil
	s.closed = true
	s.mu.Unlock()
	for _, stop := range timers {
		stop()
	}
}

func (s *Sim) now() time.Time { return s.cfg.Now() }

// today is the current date in Swedish time, as YYYY-MM-DD.
func (s *Sim) today() time.Time {
	t := s.now().In(stockholm)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, stockholm)
}

func (s *Sim) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(APIPrefix+"/", s.serveAPIPath)
	mux.HandleFunc(TokenPath, s.serveToken)
	s.acgRoutes(mux)
	s.adminRoutes(mux)
	return mux
}

// Calls returns the number of calls received per operation ("saldo",
// "transaktioner", "utbetalningskonto", "utbetalningssparrar", "token"),
// rejected calls included.
func (s *Sim) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		m[k] = v
	}
	return m
}

// CallCount returns the number of calls received for one operation.
func (s *Sim) CallCount(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// ResetCalls zeroes the call counters and forgets the correlation ids.
func (s *Sim) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = make(map[string]int)
	s.corrIDs = nil
}

// CorrelationIDs returns every correlation id received on API calls, in
// order of arrival, duplicates included.
func (s *Sim) CorrelationIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.corrIDs...)
}

// RevokeTokens forgets every issued token: the next API calls answer 401
// "Token has been revoked.".
func (s *Sim) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = make(map[string]tokenInfo)
}

// bucket is a token bucket on the simulator's clock.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// take reports whether a call may proceed, or else how long until it may.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	if b.rate <= 0 {
		return true, 0
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens += el * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

type gatewayError struct {
	Error string `json:"error"`
}

type felkodError struct {
	Felkod        int    `json:"felkod"`
	Felmeddelande string `json:"felmeddelande"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	writeBody(w, status, b)
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Errors returned by the scripting API; the admin API maps ErrNotFound
// to 404 and everything else to 400.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid input")
)
