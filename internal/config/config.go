// Package config loads the worker's configuration from the environment
// (CONTRACT §5 and the worker's own settings) and validates it once.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// Environments of the Skattekonto API.
const (
	EnvSim  = "sim"
	EnvTest = "test"
	EnvProd = "prod"
	// EnvEnkel is Skatteverket's simple test service ("enkel
	// testtjänst"): static example answers to anyone with API keys, no
	// OAuth2 token and no client certificate.
	EnvEnkel = "enkel"
)

// Endpoints per environment (SKATTEKONTO.md): API base and token URL.
var endpoints = map[string][2]string{
	EnvTest:  {"https://api.test.skatteverket.se/beskattning/skattekonto/v2", "https://sysorgoauth2.test.skatteverket.se/oauth2/v1/sysorg/token"},
	EnvProd:  {"https://api.skatteverket.se/beskattning/skattekonto/v2", "https://sysorgoauth2.skatteverket.se/oauth2/v1/sysorg/token"},
	EnvEnkel: {"https://api.test.skatteverket.se/enkeltesttjanst/beskattning/skattekonto/v1", ""},
}

// PathVariables name the variable holding each operation's path template.
var PathVariables = map[skv.Operation]string{
	skv.OpSaldo:               "SKV_PATH_SALDO",
	skv.OpTransaktioner:       "SKV_PATH_TRANSAKTIONER",
	skv.OpUtbetalningskonto:   "SKV_PATH_UTBETALNINGSKONTO",
	skv.OpUtbetalningssparrar: "SKV_PATH_UTBETALNINGSSPARRAR",
}

// Person-flow (ACG) endpoints per environment (SKATTEKONTO.md); for sim
// the worker uses the built-in simulator's.
var loginEndpoints = map[string][2]string{
	EnvTest: {"https://peroauth2.test.skatteverket.se/oauth2/v1/per/authorize", "https://peroauth2.test.skatteverket.se/oauth2/v1/per/token"},
	EnvProd: {"https://peroauth2.skatteverket.se/oauth2/v1/per/authorize", "https://peroauth2.skatteverket.se/oauth2/v1/per/token"},
}

// Config is the worker's configuration.
type Config struct {
	NATSURL   string `envconfig:"NATS_URL"`
	NATSCreds string `envconfig:"NATS_CREDS"`
	// NATSNKey is an NKey seed file, an alternative to NATS_CREDS.
	NATSNKey string `envconfig:"NATS_NKEY"`
	// NATSCAFile, NATSCertFile, NATSKeyFile configure TLS to NATS.
	NATSCAFile   string `envconfig:"NATS_CA_FILE"`
	NATSCertFile string `envconfig:"NATS_CERT_FILE"`
	NATSKeyFile  string `envconfig:"NATS_KEY_FILE"`

	SKVEnv            string        `envconfig:"SKV_ENV"`
	SKVBaseURL        string        `envconfig:"SKV_BASE_URL"`
	SKVTokenURL       string        `envconfig:"SKV_TOKEN_URL"`
	SKVClientID       string        `envconfig:"SKV_CLIENT_ID"`
	SKVClientSecret   string        `envconfig:"SKV_CLIENT_SECRET"`
	SKVScope          string        `envconfig:"SKV_SCOPE" default:"ska"`
	SKVCertFile       string        `envconfig:"SKV_CERT_FILE"`
	SKVKeyFile        string        `envconfig:"SKV_KEY_FILE"`
	SKVCAFile         string        `envconfig:"SKV_CA_FILE"`
	CorrelationHeader string        `envconfig:"SKV_CORRELATION_HEADER" default:"SKV-client_correlationid"`
	SKVRateLimit      float64       `envconfig:"SKV_RATE_LIMIT" default:"-1"`
	SKVTimeout        time.Duration `envconfig:"SKV_TIMEOUT" default:"60s"`
	SKVMaxAttempts    int           `envconfig:"SKV_MAX_ATTEMPTS" default:"5"`
	SKVMaxElapsed     time.Duration `envconfig:"SKV_MAX_ELAPSED" default:"2m"`

	// The operations' path templates below SKV_BASE_URL, with {omfragad}
	// where the identity number goes; empty means skv.DefaultPaths.
	SKVPathSaldo               string `envconfig:"SKV_PATH_SALDO"`
	SKVPathTransaktioner       string `envconfig:"SKV_PATH_TRANSAKTIONER"`
	SKVPathUtbetalningskonto   string `envconfig:"SKV_PATH_UTBETALNINGSKONTO"`
	SKVPathUtbetalningssparrar string `envconfig:"SKV_PATH_UTBETALNINGSSPARRAR"`
	// SKVUnavailableRetry is how long an operation that answered 404
	// without a felkod (its path does not exist) is left uncalled.
	SKVUnavailableRetry time.Duration `envconfig:"SKV_UNAVAILABLE_RETRY" default:"1h"`
	// SKVTransactionsMaxAge bounds the one-call shortcut: the
	// transactions call is skipped on an unchanged senastUppdaterad only
	// while the account's last transactions fetch is younger than this.
	SKVTransactionsMaxAge time.Duration `envconfig:"SKV_TRANSACTIONS_MAX_AGE" default:"24h"`

	HTTPAddr  string `envconfig:"HTTP_ADDR" default:":8080"`
	LogLevel  string `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat string `envconfig:"LOG_FORMAT"`

	// DataDir is where the embedded NATS server stores its files.
	DataDir string `envconfig:"DATA_DIR" default:"./data"`
	// EmbeddedNATSAddr is the embedded server's listen address.
	EmbeddedNATSAddr string `envconfig:"EMBEDDED_NATS_ADDR" default:"127.0.0.1:4222"`
	// EmbeddedNATSSyncRaw is the embedded server's fsync policy: "always"
	// (write to disk before acknowledging) or an interval such as "2m"
	// (acknowledge first, fsync in the background).
	EmbeddedNATSSyncRaw string `envconfig:"EMBEDDED_NATS_SYNC" default:"always"`
	// SimAddr is where the built-in simulator listens in sim mode.
	SimAddr string `envconfig:"SIM_ADDR" default:"127.0.0.1:8090"`

	Concurrency     int           `envconfig:"WORKER_CONCURRENCY" default:"128"`
	AckWait         time.Duration `envconfig:"WORKER_ACK_WAIT" default:"30s"`
	Partitions      int           `envconfig:"WORKER_PARTITIONS" default:"8"`
	MaxDeliver      int           `envconfig:"WORKER_MAX_DELIVER" default:"5"`
	DrainTimeout    time.Duration `envconfig:"WORKER_DRAIN_TIMEOUT" default:"20s"`
	StreamReplicas  int           `envconfig:"STREAM_REPLICAS" default:"1"`
	StreamsCreate   bool          `envconfig:"STREAMS_AUTO_CREATE" default:"true"`
	EventsMaxAge    time.Duration `envconfig:"EVENTS_MAX_AGE" default:"0"`
	ReminderDaysRaw string        `envconfig:"REMINDER_DAYS" default:"7,1"`

	// Shortfall forecast thresholds (kronor of shortfall).
	ShortfallUppmaning int64 `envconfig:"SHORTFALL_UPPMANING" default:"2000"`
	ShortfallKrav      int64 `envconfig:"SHORTFALL_KRAV" default:"10000"`
	// CertificateWarn is how long before expiry the organisation
	// certificate is reported as expiring.
	CertificateWarn time.Duration `envconfig:"CERTIFICATE_WARN" default:"720h"`

	// Booking proposals: a rule file replacing the default table, and the
	// disputed accounts.
	BookingRulesFile    string `envconfig:"BOOKING_RULES_FILE"`
	BookingPrelSkatt    string `envconfig:"BOOKING_PRELSKATT" default:"2518"`
	BookingArbetsgivavg string `envconfig:"BOOKING_ARBETSGIVARAVGIFT" default:"2731"`
	BookingSlutligSkatt string `envconfig:"BOOKING_SLUTLIG_SKATT" default:"2512"`
	BookingMomsRefund   string `envconfig:"BOOKING_MOMS_REFUND" default:"2650"`

	// The SIE export (skattekonto.sie.export): #FNAMN and the vouchers'
	// series when a request names none. The series is checked by the
	// exporter at start (sie.CheckSeries).
	SIECompanyName string `envconfig:"SIE_COMPANY_NAME"`
	SIESeries      string `envconfig:"SIE_SERIES" default:"A"`

	// The user login (authorization code flow with BankID), its page on
	// a listener of its own, LOGIN_ADDR, for the clients LOGIN_ALLOW_CIDRS
	// and LOGIN_FORWARD_AUTH_HEADER admit; see docs/login.md.
	LoginEnabled           bool          `envconfig:"LOGIN_ENABLED" default:"false"`
	LoginAddr              string        `envconfig:"LOGIN_ADDR" default:":8081"`
	LoginAllowCIDRsRaw     string        `envconfig:"LOGIN_ALLOW_CIDRS" default:"127.0.0.0/8,::1/128"`
	LoginForwardAuthHeader string        `envconfig:"LOGIN_FORWARD_AUTH_HEADER"`
	LoginAuthorizeURL      string        `envconfig:"LOGIN_AUTHORIZE_URL"`
	LoginTokenURL          string        `envconfig:"LOGIN_TOKEN_URL"`
	LoginRedirectURL       string        `envconfig:"LOGIN_REDIRECT_URL"`
	LoginTokenKeyRaw       string        `envconfig:"LOGIN_TOKEN_KEY"`
	LoginCadence           time.Duration `envconfig:"LOGIN_CADENCE" default:"15m"`

	// Bounds of the shared rate limiter (SKV_RATE_LIMIT): replicas
	// counted, longest pause after a 429, longest wait for a call slot.
	SKVRateMaxPeers int           `envconfig:"SKV_RATE_MAX_PEERS" default:"64"`
	SKVRateMaxPause time.Duration `envconfig:"SKV_RATE_MAX_PAUSE" default:"1m"`
	SKVRateMaxWait  time.Duration `envconfig:"SKV_RATE_MAX_WAIT" default:"2m"`

	// Bounds of the watch list's requests over NATS: the shortest time
	// between two scheduled fetches of an account, the most accounts.
	WatchMinInterval time.Duration `envconfig:"WATCH_MIN_INTERVAL" default:"15m"`
	WatchMaxAccounts int           `envconfig:"WATCH_MAX_ACCOUNTS" default:"10000"`

	// The evidence: every API answer kept as received in the Object
	// Store bucket SKATTEKONTO_EVIDENCE before its events are committed, for
	// AUDIT_MAX_AGE (0: forever); see docs/audit.md.
	AuditEnabled bool          `envconfig:"AUDIT_ENABLED" default:"true"`
	AuditMaxAge  time.Duration `envconfig:"AUDIT_MAX_AGE" default:"0"`

	// Webhooks (docs/webhooks.md): the endpoints' file, re-read every
	// WEBHOOKS_RELOAD; each endpoint's timeout and retry time where the
	// file leaves them out; the longest delay between two attempts.
	WebhooksFile     string        `envconfig:"WEBHOOKS_FILE"`
	WebhooksTimeout  time.Duration `envconfig:"WEBHOOKS_TIMEOUT" default:"10s"`
	WebhooksMaxAge   time.Duration `envconfig:"WEBHOOKS_MAX_AGE" default:"72h"`
	WebhooksRetryMax time.Duration `envconfig:"WEBHOOKS_RETRY_MAX" default:"1h"`
	WebhooksReload   time.Duration `envconfig:"WEBHOOKS_RELOAD" default:"5s"`

	// Derived.
	// LoginTokenKey is LOGIN_TOKEN_KEY decoded (32 bytes), nil without it.
	LoginTokenKey []byte `ignored:"true"`
	// LoginAllowCIDRs is LOGIN_ALLOW_CIDRS parsed.
	LoginAllowCIDRs []netip.Prefix `ignored:"true"`
	ReminderDays    []int          `ignored:"true"`
	Level           zerolog.Level  `ignored:"true"`
	// EmbeddedNATSSyncInterval is EMBEDDED_NATS_SYNC as an interval: 0
	// for "always".
	EmbeddedNATSSyncInterval time.Duration `ignored:"true"`
}

// SyncAlways is the value of EMBEDDED_NATS_SYNC that fsyncs before every
// acknowledgement.
const SyncAlways = "always"

// Sim reports whether the worker targets the built-in simulator.
func (c *Config) Sim() bool { return c.SKVEnv == EnvSim }

// KeysOnly reports whether the API is called with the gateway keys alone
// (skv.Config.KeysOnly): SKV_ENV=enkel.
func (c *Config) KeysOnly() bool { return c.SKVEnv == EnvEnkel }

// SKVPaths returns the operations' path templates (skv.Config.Paths),
// defaults filled in by validation.
func (c *Config) SKVPaths() map[skv.Operation]string {
	return map[skv.Operation]string{
		skv.OpSaldo:               c.SKVPathSaldo,
		skv.OpTransaktioner:       c.SKVPathTransaktioner,
		skv.OpUtbetalningskonto:   c.SKVPathUtbetalningskonto,
		skv.OpUtbetalningssparrar: c.SKVPathUtbetalningssparrar,
	}
}

// pathFields are the fields of the path variables.
func (c *Config) pathFields() map[skv.Operation]*string {
	return map[skv.Operation]*string{
		skv.OpSaldo:               &c.SKVPathSaldo,
		skv.OpTransaktioner:       &c.SKVPathTransaktioner,
		skv.OpUtbetalningskonto:   &c.SKVPathUtbetalningskonto,
		skv.OpUtbetalningssparrar: &c.SKVPathUtbetalningssparrar,
	}
}

// Load reads the environment and validates the result. Errors name the variable.
func Load() (*Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", name, fmt.Sprintf(format, args...)))
	}
	c.validateSKV(bad)
	c.validateWorker(bad)
	if c.LoginEnabled {
		c.validateLogin(bad)
	}
	c.validateWebhooks(bad)
	return errors.Join(errs...)
}

// validateSKV fills in and checks the SKV_* settings.
func (c *Config) validateSKV(bad func(name, format string, args ...any)) {
	switch c.SKVEnv {
	case "":
		if c.SKVBaseURL == "" {
			c.SKVEnv = EnvSim
		}
	case EnvSim, EnvTest, EnvProd, EnvEnkel:
	default:
		bad("SKV_ENV", "%q is not sim, test, prod or enkel", c.SKVEnv)
	}
	if ep, ok := endpoints[c.SKVEnv]; ok {
		if c.SKVBaseURL == "" {
			c.SKVBaseURL = ep[0]
		}
		if c.SKVTokenURL == "" {
			c.SKVTokenURL = ep[1]
		}
	}
	if !c.Sim() {
		c.validateAPI(bad)
	}
	fields := c.pathFields()
	for _, op := range skv.Operations {
		field := fields[op]
		if *field == "" {
			*field = skv.DefaultPaths[op]
		} else if err := skv.CheckPathTemplate(*field); err != nil {
			bad(PathVariables[op], "%v", err)
		}
	}
	if c.SKVUnavailableRetry < 0 {
		bad("SKV_UNAVAILABLE_RETRY", "must not be negative")
	}
	if c.SKVTransactionsMaxAge <= 0 {
		bad("SKV_TRANSACTIONS_MAX_AGE", "must be positive")
	}
	if c.SKVRateLimit < 0 {
		// Public clients throttle themselves to about 4 calls/s; the
		// simulator needs no limit.
		c.SKVRateLimit = 4
		if c.Sim() {
			c.SKVRateLimit = 0
		}
	}
}

// validateAPI checks the settings of a real API (not the simulator).
func (c *Config) validateAPI(bad func(name, format string, args ...any)) {
	if c.SKVBaseURL == "" {
		bad("SKV_BASE_URL", "required unless SKV_ENV is set")
	}
	urls := map[string]string{"SKV_BASE_URL": c.SKVBaseURL}
	if !c.KeysOnly() {
		if c.SKVTokenURL == "" {
			bad("SKV_TOKEN_URL", "required with SKV_BASE_URL")
		}
		urls["SKV_TOKEN_URL"] = c.SKVTokenURL
	}
	for name, v := range urls {
		if v != "" {
			if err := checkURL(v); err != nil {
				bad(name, "%v", err)
			}
		}
	}
	if c.SKVClientID == "" {
		bad("SKV_CLIENT_ID", "required for the Skattekonto API")
	}
	if c.SKVClientSecret == "" {
		bad("SKV_CLIENT_SECRET", "required for the Skattekonto API")
	}
	if (c.SKVCertFile == "") != (c.SKVKeyFile == "") {
		bad("SKV_CERT_FILE", "SKV_CERT_FILE and SKV_KEY_FILE go together")
	}
	if c.SKVEnv != "" && !c.KeysOnly() && c.SKVCertFile == "" {
		bad("SKV_CERT_FILE", "an organisation certificate is required for SKV_ENV=%s", c.SKVEnv)
	}
}

// validateWorker checks the worker's own settings.
func (c *Config) validateWorker(bad func(name, format string, args ...any)) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(c.LogLevel))
	if err != nil || c.LogLevel == "" {
		bad("LOG_LEVEL", "%q is not a zerolog level (debug, info, warn, error)", c.LogLevel)
	}
	c.Level = lvl
	switch c.LogFormat {
	case "", "json", "console":
	default:
		bad("LOG_FORMAT", "%q is not json or console", c.LogFormat)
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil && c.HTTPAddr != "" {
		bad("HTTP_ADDR", "%v", err)
	}
	c.EmbeddedNATSSyncInterval = 0
	if c.EmbeddedNATSSyncRaw != SyncAlways {
		d, err := time.ParseDuration(c.EmbeddedNATSSyncRaw)
		if err != nil || d <= 0 {
			bad("EMBEDDED_NATS_SYNC", "%q is not %q nor a positive interval such as 2m", c.EmbeddedNATSSyncRaw, SyncAlways)
		}
		c.EmbeddedNATSSyncInterval = max(d, 0)
	}
	if c.Concurrency < 1 || c.Concurrency > 4096 {
		bad("WORKER_CONCURRENCY", "%d is not between 1 and 4096", c.Concurrency)
	}
	if c.MaxDeliver < 1 {
		bad("WORKER_MAX_DELIVER", "must be at least 1")
	}
	if c.AckWait < time.Second {
		bad("WORKER_ACK_WAIT", "must be at least 1s")
	}
	if c.Partitions < 1 || c.Partitions > contract.MaxPartitions {
		bad("WORKER_PARTITIONS", "%d is not between 1 and %d", c.Partitions, contract.MaxPartitions)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		bad("STREAM_REPLICAS", "%d is not between 1 and 5", c.StreamReplicas)
	}
	c.ReminderDays = nil
	for _, f := range strings.Split(c.ReminderDaysRaw, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 365 {
			bad("REMINDER_DAYS", "%q is not a number of days from 0 to 365", f)
			continue
		}
		c.ReminderDays = append(c.ReminderDays, n)
	}
	if c.ShortfallUppmaning <= 0 || c.ShortfallKrav < c.ShortfallUppmaning {
		bad("SHORTFALL_KRAV", "want 0 < SHORTFALL_UPPMANING (%d) ≤ SHORTFALL_KRAV (%d)", c.ShortfallUppmaning, c.ShortfallKrav)
	}
	if c.CertificateWarn <= 0 {
		bad("CERTIFICATE_WARN", "must be positive")
	}
	if c.ReminderDays == nil {
		c.ReminderDays = []int{}
	}
	if c.SKVRateMaxPeers < 1 {
		bad("SKV_RATE_MAX_PEERS", "must be at least 1")
	}
	if c.SKVRateMaxPause <= 0 {
		bad("SKV_RATE_MAX_PAUSE", "must be positive")
	}
	if c.SKVRateMaxWait <= 0 {
		bad("SKV_RATE_MAX_WAIT", "must be positive")
	}
	if c.WatchMinInterval < time.Second {
		bad("WATCH_MIN_INTERVAL", "must be at least 1s (which allows every cadence)")
	}
	if c.WatchMaxAccounts < 1 {
		bad("WATCH_MAX_ACCOUNTS", "must be at least 1")
	}
	if c.AuditMaxAge < 0 {
		bad("AUDIT_MAX_AGE", "must not be negative (0 keeps the answers forever)")
	}
}

// validateWebhooks checks the WEBHOOKS_* settings; the file itself is
// read and checked by the webhooks package when the worker starts.
func (c *Config) validateWebhooks(bad func(name, format string, args ...any)) {
	if c.WebhooksTimeout <= 0 || c.WebhooksTimeout > 5*time.Minute {
		bad("WEBHOOKS_TIMEOUT", "%s is not above 0 and at most 5m", c.WebhooksTimeout)
	}
	if c.WebhooksMaxAge < time.Second {
		bad("WEBHOOKS_MAX_AGE", "must be at least 1s")
	}
	if c.WebhooksRetryMax < time.Second {
		bad("WEBHOOKS_RETRY_MAX", "must be at least 1s")
	}
	if c.WebhooksReload < time.Second {
		bad("WEBHOOKS_RELOAD", "must be at least 1s")
	}
}

// validateLogin fills in and checks the LOGIN_* settings.
func (c *Config) validateLogin(bad func(name, format string, args ...any)) {
	if c.KeysOnly() {
		bad("LOGIN_ENABLED", "the simple test service (SKV_ENV=enkel) takes no tokens, so no person can log in to it")
		return
	}
	if ep, ok := loginEndpoints[c.SKVEnv]; ok {
		if c.LoginAuthorizeURL == "" {
			c.LoginAuthorizeURL = ep[0]
		}
		if c.LoginTokenURL == "" {
			c.LoginTokenURL = ep[1]
		}
	}
	_, loginPort, err := net.SplitHostPort(c.LoginAddr)
	switch {
	case c.LoginAddr == "":
		bad("LOGIN_ADDR", "the login page has a listener of its own: it must not be empty with LOGIN_ENABLED=true")
	case err != nil:
		bad("LOGIN_ADDR", "%q is not host:port", c.LoginAddr)
	default:
		if _, httpPort, err := net.SplitHostPort(c.HTTPAddr); err == nil && httpPort == loginPort && loginPort != "0" {
			bad("LOGIN_ADDR", "%q takes the port of HTTP_ADDR (%q): the login page is kept apart from /metrics", c.LoginAddr, c.HTTPAddr)
		}
	}
	if c.LoginRedirectURL == "" {
		if loginPort == "" || loginPort == "0" {
			bad("LOGIN_REDIRECT_URL", "required when LOGIN_ADDR (%q) has no fixed port", c.LoginAddr)
		} else {
			c.LoginRedirectURL = "http://localhost:" + loginPort + "/login/callback"
		}
	}
	c.LoginAllowCIDRs = nil
	for f := range strings.SplitSeq(c.LoginAllowCIDRsRaw, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				bad("LOGIN_ALLOW_CIDRS", "%q is not a network (CIDR) or an address", f)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.LoginAllowCIDRs = append(c.LoginAllowCIDRs, p.Masked())
	}
	if len(c.LoginAllowCIDRs) == 0 {
		bad("LOGIN_ALLOW_CIDRS", "names no network: the page would answer nobody (0.0.0.0/0,::/0 opens it to all)")
	}
	if h := c.LoginForwardAuthHeader; h != "" && strings.IndexFunc(h, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		bad("LOGIN_FORWARD_AUTH_HEADER", "%q is not a header name", h)
	}
	urls := map[string]string{"LOGIN_REDIRECT_URL": c.LoginRedirectURL}
	if !c.Sim() {
		// For sim, empty means the built-in simulator's endpoints.
		urls["LOGIN_AUTHORIZE_URL"], urls["LOGIN_TOKEN_URL"] = c.LoginAuthorizeURL, c.LoginTokenURL
	}
	for name, v := range urls {
		if v == "" {
			bad(name, "required with LOGIN_ENABLED=true")
		} else if err := checkURL(v); err != nil {
			bad(name, "%v", err)
		}
	}
	if c.LoginCadence < time.Second {
		bad("LOGIN_CADENCE", "must be at least 1s")
	}
	c.LoginTokenKey = nil
	if c.LoginTokenKeyRaw != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.LoginTokenKeyRaw))
		if err != nil {
			k, err = base64.RawURLEncoding.DecodeString(strings.TrimSpace(c.LoginTokenKeyRaw))
		}
		switch {
		case err != nil:
			bad("LOGIN_TOKEN_KEY", "not base64")
		case len(k) != 32:
			bad("LOGIN_TOKEN_KEY", "must be 32 bytes (base64 of 32 random bytes, e.g. `openssl rand -base64 32`), got %d", len(k))
		default:
			c.LoginTokenKey = k
		}
	}
}

// checkURL accepts https, and http only for loopback hosts (CONTRACT §5).
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" {
			return nil
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("plain http is accepted only for loopback hosts, not %q", h)
	}
	return fmt.Errorf("scheme %q is not https", u.Scheme)
}
