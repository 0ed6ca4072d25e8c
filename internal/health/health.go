// Package health runs readiness checks and serves their result on /readyz.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of a Checker.
const (
	DefaultCacheFor = 5 * time.Second
	CheckTimeout    = 2 * time.Second
	// maxMessage bounds an error message in a readiness answer.
	maxMessage = 200
)

// Check reports whether one dependency is usable; nil means ok. Its error
// text is shown on /readyz, so it must hold no secret. An error that is a
// *Warning does not make the process unready: it is shown and nothing
// more.
type Check func(ctx context.Context) error

// Warning is a check's result that an operator should see but that does
// not stop the process from serving (a setting that weakens a guarantee,
// say).
type Warning struct{ Err error }

func (w *Warning) Error() string { return w.Err.Error() }
func (w *Warning) Unwrap() error { return w.Err }

// Warn wraps err as a *Warning.
func Warn(err error) error { return &Warning{Err: err} }

// warningPrefix starts a warning's result.
const warningPrefix = "warning: "

// Checker runs a set of named checks, concurrently, each with a timeout of
// CheckTimeout, and reuses their results for a while so that frequent
// probes cost little. It is safe for concurrent use.
type Checker struct {
	checks   map[string]Check
	cacheFor time.Duration
	timeout  time.Duration
	now      func() time.Time

	mu      sync.Mutex // held while checks run: concurrent callers wait
	at      time.Time
	ok      bool
	results map[string]string
}

// New returns a Checker for checks, run at most once every cacheFor
// (DefaultCacheFor when cacheFor <= 0).
func New(checks map[string]Check, cacheFor time.Duration) *Checker {
	if cacheFor <= 0 {
		cacheFor = DefaultCacheFor
	}
	cs := make(map[string]Check, len(checks))
	for name, c := range checks {
		cs[name] = c
	}
	return &Checker{checks: cs, cacheFor: cacheFor, timeout: CheckTimeout, now: time.Now}
}

// Ready runs the checks, or returns the results of a run less than
// cacheFor ago, and reports whether all passed. results maps each check's
// name to "ok", "warning: " and its message (a *Warning, which passes),
// or its error message. A failed run is not cached past
// cacheFor either, so recovery shows within cacheFor.
func (c *Checker) Ready(ctx context.Context) (ok bool, results map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.results == nil || c.now().Sub(c.at) >= c.cacheFor {
		c.ok, c.results = c.run(ctx)
		c.at = c.now()
	}
	out := make(map[string]string, len(c.results))
	for k, v := range c.results {
		out[k] = v
	}
	return c.ok, out
}

func (c *Checker) run(ctx context.Context) (bool, map[string]string) {
	type result struct {
		name string
		err  error
	}
	// A probe that gives up must not leave a cached failure behind.
	ctx = context.WithoutCancel(ctx)
	ch := make(chan result, len(c.checks))
	for name, check := range c.checks {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			ch <- result{name, safeRun(cctx, check)}
		}()
	}
	ok := true
	results := make(map[string]string, len(c.checks))
	for range c.checks {
		r := <-ch
		var w *Warning
		if errors.As(r.err, &w) {
			results[r.name] = warningPrefix + message(w.Err)
			continue
		}
		if r.err != nil {
			ok = false
			results[r.name] = message(r.err)
			continue
		}
		results[r.name] = "ok"
	}
	return ok, results
}

// safeRun runs check and turns a panic into an error, and returns when ctx
// ends even if check does not.
func safeRun(ctx context.Context, check Check) (err error) {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- check(ctx)
	}()
	select {
	case err = <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("check timed out: %w", ctx.Err())
	}
}

func message(err error) string {
	s := err.Error()
	if len(s) > maxMessage {
		s = s[:maxMessage] + "…"
	}
	return s
}

// Handler serves the readiness: 200 with "ready" when every check passed,
// followed by one line "name: warning: message" per warning, otherwise
// 503 with a JSON object of each check's result, such as
// {"nats":"ok","streams":"stream SKATTEKONTO_FETCH: ...","token":"ok"}.
func (c *Checker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, results := c.Ready(r.Context())
		w.Header().Set("Cache-Control", "no-store")
		if ok {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "ready\n")
			for _, name := range slices.Sorted(maps.Keys(results)) {
				if strings.HasPrefix(results[name], warningPrefix) {
					_, _ = fmt.Fprintf(w, "%s: %s\n", name, results[name])
				}
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(results) // maps encode with sorted keys
	})
}
