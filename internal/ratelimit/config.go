package ratelimit

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Defaults for the zero values of Config.
const (
	DefaultSubject      = contract.RateLimitPrefix
	DefaultHeartbeat    = time.Second
	DefaultRecoverAfter = 30 * time.Second
	DefaultMaxPeers     = 64
	DefaultMaxPause     = time.Minute
	DefaultMaxWait      = 2 * time.Minute
)

// AIMD parameters: a 429 multiplies the throttle factor by CutFactor,
// never taking it below MinFactor (so the deployment never drops below
// Rate×MinFactor).
const (
	CutFactor = 0.5
	MinFactor = 1.0 / 20
)

// expireAfter is the number of heartbeats after which an unheard peer is
// gone.
const expireAfter = 3

// Config configures a Limiter. Zero values mean the documented defaults.
// Every replica of a deployment must use the same Rate, Subject and
// Heartbeat.
type Config struct {
	// Rate is the number of calls per second for the whole deployment,
	// shared by every replica. Zero is no limit: Wait never waits and a
	// 429 slows nobody, but the replicas still announce themselves and
	// count each other (Peers), which the fetch partitions need.
	Rate float64
	// Burst is the number of calls a replica may make at once, default 1.
	Burst int
	// Subject is the prefix of the NATS subjects used for coordination,
	// default DefaultSubject.
	Subject string
	// Heartbeat is the interval of presence announcements, default 1s; a
	// peer unheard for three intervals is gone.
	Heartbeat time.Duration
	// RecoverAfter is how long the rate takes to climb back to the fair
	// share after a cut, counted from the end of the Retry-After pause,
	// default 30s.
	RecoverAfter time.Duration
	// MaxPeers is the most replicas counted in the share, this one
	// included, default 64: however many ids announce themselves, the
	// share never drops below Rate/MaxPeers. Set it above the number of
	// replicas: those beyond it are not counted.
	MaxPeers int
	// MaxPause is the longest pause a 429 makes, default 1m: a longer
	// Retry-After, the API's or one a peer asks for, is cut to it.
	MaxPause time.Duration
	// MaxWait bounds each Wait, default 2m; Wait then returns
	// ErrWaitTimeout.
	MaxWait time.Duration
	// Logger receives peer changes (info) and throttling (warn). Lines
	// about peers come a few at once, then one per 10s of each kind. The
	// zero value logs nothing.
	Logger zerolog.Logger
	// Now is the clock of pacing, pauses and recovery, default time.Now
	// (for tests). Presence always runs on real time. Wait sleeps the real
	// durations computed from this clock.
	Now func() time.Time
}

// withDefaults validates c and fills in defaults. Errors name the field.
func (c Config) withDefaults() (Config, error) {
	if !(c.Rate >= 0) || math.IsInf(c.Rate, 0) {
		return c, fmt.Errorf("ratelimit config: Rate must be zero (no limit) or a positive number, got %v", c.Rate)
	}
	if c.Burst < 0 {
		return c, fmt.Errorf("ratelimit config: Burst must not be negative, got %d", c.Burst)
	}
	if c.Burst == 0 {
		c.Burst = 1
	}
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if !validSubject(c.Subject) {
		return c, fmt.Errorf("ratelimit config: Subject %q is not a valid NATS subject without wildcards", c.Subject)
	}
	if c.Heartbeat < 0 {
		return c, fmt.Errorf("ratelimit config: Heartbeat must not be negative, got %v", c.Heartbeat)
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.RecoverAfter < 0 {
		return c, fmt.Errorf("ratelimit config: RecoverAfter must not be negative, got %v", c.RecoverAfter)
	}
	if c.RecoverAfter == 0 {
		c.RecoverAfter = DefaultRecoverAfter
	}
	if c.MaxPeers < 0 {
		return c, fmt.Errorf("ratelimit config: MaxPeers must not be negative, got %d", c.MaxPeers)
	}
	if c.MaxPeers == 0 {
		c.MaxPeers = DefaultMaxPeers
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"MaxPause", &c.MaxPause, DefaultMaxPause}, {"MaxWait", &c.MaxWait, DefaultMaxWait}} {
		if *d.v < 0 {
			return c, fmt.Errorf("ratelimit config: %s must not be negative, got %v", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// validSubject accepts dot-separated non-empty tokens without wildcards or
// white space.
func validSubject(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n*>") {
			return false
		}
	}
	return true
}
