package skv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

// minObservedWait is the shortest limiter wait reported to the Observer:
// a limiter that lets a call through at once still takes a little time.
const minObservedWait = time.Millisecond

// Client calls Skattekonto v2. It is safe for concurrent use.
type Client struct {
	cfg     Config
	hc      *http.Client
	auth    *auth
	limiter Limiter
	certs   *certReloader // nil without a client certificate
	paths   map[Operation]pathTemplate
}

// New validates cfg, loads the client certificate and returns a Client.
// Configuration errors name the Config field.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg}
	if c.cfg.Paths, c.paths, err = compilePaths(cfg.Paths); err != nil {
		return nil, err
	}
	if cfg.CertFile != "" {
		if c.certs, err = newCertReloader(cfg.CertFile, cfg.KeyFile); err != nil {
			return nil, fmt.Errorf("skv config: CertFile/KeyFile: %w", err)
		}
	}
	// Redirects are never followed (see ErrRedirect), with the caller's
	// client too: it is copied, not changed.
	c.hc = noRedirects(cfg.HTTPClient)
	if cfg.HTTPClient == nil {
		tr, err := newTransport(cfg.CAFile, c.certs, cfg.Timeout)
		if err != nil {
			return nil, err
		}
		c.hc.Transport = tr
	}
	// The token request has no caller context (the oauth2 token source
	// keeps its own), so bound it with the client's timeout.
	tokenHC := *c.hc
	if tokenHC.Timeout == 0 || tokenHC.Timeout > cfg.Timeout {
		tokenHC.Timeout = cfg.Timeout
	}
	if !cfg.KeysOnly {
		c.auth = newAuth(cfg, &tokenHC)
	}
	switch {
	case cfg.Limiter != nil:
		c.limiter = cfg.Limiter
	case cfg.RateLimit > 0:
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), cfg.Burst)
	}
	return c, nil
}

// Config returns the client's configuration with its defaults filled in
// and HTTPClient set to the client's own, so that a client derived from it
// (say, one calling with a user's token) shares the connections.
func (c *Client) Config() Config {
	cfg := c.cfg
	cfg.HTTPClient = c.hc
	cfg.Paths = make(map[Operation]string, len(c.paths))
	for op, p := range c.paths {
		cfg.Paths[op] = p.raw
	}
	return cfg
}

// Saldo fetches the current balance ("Hämta aktuellt dagssaldo").
func (c *Client) Saldo(ctx context.Context, id idnr.Number) (Saldo, Trace, error) {
	return call(ctx, c, OpSaldo, id, nil, decodeSaldo)
}

// Transaktioner fetches booked and upcoming transactions ("Hämta tidigare
// och kommande transaktioner"). datumFrom is "" to let the API choose, or
// a date YYYY-MM-DD.
func (c *Client) Transaktioner(ctx context.Context, id idnr.Number, datumFrom string) (Transaktioner, Trace, error) {
	var q url.Values
	if datumFrom != "" {
		if _, err := time.Parse(time.DateOnly, datumFrom); err != nil || len(datumFrom) != len(time.DateOnly) {
			return Transaktioner{}, Trace{}, wrapf(OpTransaktioner, "%w: datumFrom %q is not a date YYYY-MM-DD", ErrInvalidArgument, datumFrom)
		}
		q = url.Values{"datumFrom": {datumFrom}}
	}
	return call(ctx, c, OpTransaktioner, id, q, decodeTransaktioner)
}

// Utbetalningskonto fetches the registered payout account ("Hämta anmält
// utbetalningskonto").
func (c *Client) Utbetalningskonto(ctx context.Context, id idnr.Number) (Utbetalningskonto, Trace, error) {
	return call(ctx, c, OpUtbetalningskonto, id, nil, decodeUtbetalningskonto)
}

// Utbetalningssparrar fetches the payout blocks set by the account holder
// ("Hämta utbetalningsspärrar på egen begäran").
func (c *Client) Utbetalningssparrar(ctx context.Context, id idnr.Number) (Utbetalningssparrar, Trace, error) {
	return call(ctx, c, OpUtbetalningssparrar, id, nil, decodeUtbetalningssparrar)
}

// Token makes sure a valid access token is cached, fetching one if needed.
// It is cheap while the cached token is valid, so a readiness check may
// call it often. Its errors are *Error values like those of the operations.
// With Config.KeysOnly there is no token and it returns nil.
func (c *Client) Token(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("skv token: %w", err)
	}
	if c.auth == nil {
		return nil
	}
	if _, _, err := c.auth.token(); err != nil {
		return &Error{Err: err}
	}
	return nil
}

// call runs one operation with retries and decodes its answer. The drift
// of the last decoded answer goes to tr.Drift and the DriftObserver.
func call[T any](ctx context.Context, c *Client, op Operation, id idnr.Number, q url.Values, decode func([]byte) (T, []Drift, error)) (T, Trace, error) {
	var zero T
	var tr Trace
	if id.IsZero() {
		return zero, tr, wrapf(op, "%w: zero identity number", ErrInvalidArgument)
	}
	u := c.cfg.BaseURL + c.paths[op].expand(id.String())
	if q != nil {
		u += "?" + q.Encode()
	}
	var out T
	err := c.retry(ctx, op, func() error {
		body, err := c.attempt(ctx, op, u, &tr)
		if err != nil {
			return err
		}
		v, drift, err := decode(body)
		tr.Drift = drift
		c.observeDrift(op, drift)
		if err != nil {
			last := tr.Calls[len(tr.Calls)-1]
			var e *Error
			if errors.As(err, &e) { // a felkod in a 200 answer
				e.Op, e.Status, e.CorrelationID = op, last.HTTPStatus, last.CorrelationID
				tr.Calls[len(tr.Calls)-1].Felkod = e.Felkod
				return e
			}
			return &Error{Op: op, Status: last.HTTPStatus, CorrelationID: last.CorrelationID, Err: err}
		}
		out = v
		return nil
	})
	if err != nil {
		return zero, tr, err
	}
	return out, tr, nil
}

// attempt makes one HTTP call (two when a 401 makes it renew the token)
// and returns the body of a 2xx answer.
func (c *Client) attempt(ctx context.Context, op Operation, u string, tr *Trace) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrapf(op, "%w", err)
	}
	if c.limiter != nil {
		start := time.Now()
		err := c.limiter.Wait(ctx)
		if d := time.Since(start); d >= minObservedWait && c.cfg.Observer != nil {
			c.cfg.Observer.RateLimitWaited(d)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, wrapf(op, "%w", ctx.Err())
			}
			// A limiter that gave no slot in time (ratelimit.ErrWaitTimeout
			// says Timeout, as a net.Error does) failed this attempt only.
			var te interface{ Timeout() bool }
			if errors.As(err, &te) && te.Timeout() {
				return nil, &Error{Op: op, Err: fmt.Errorf("rate limiter: %w", err)}
			}
			return nil, wrapf(op, "rate limiter: %w", err)
		}
	}
	if c.auth == nil { // keys only: no token, a 401 cannot be healed
		body, _, err := c.send(ctx, op, u, "", tr)
		return body, err
	}
	for renewed := false; ; renewed = true {
		tok, gen, err := c.auth.token()
		if err != nil {
			if ctx.Err() != nil {
				return nil, wrapf(op, "%w", ctx.Err())
			}
			return nil, &Error{Op: op, Err: err}
		}
		body, resp, err := c.send(ctx, op, u, tok.Type()+" "+tok.AccessToken, tr)
		if resp != nil && resp.StatusCode == http.StatusUnauthorized && !renewed {
			c.auth.invalidate(gen)
			continue
		}
		return body, err
	}
}

// send makes one HTTP call, records it in tr and returns the body of a 2xx
// answer or an error describing the failure.
func (c *Client) send(ctx context.Context, op Operation, u, authz string, tr *Trace) ([]byte, *http.Response, error) {
	cid := uuid.NewString()
	rec := Call{Operation: op, CorrelationID: cid, At: c.cfg.Now()}
	start := time.Now()
	defer func() {
		rec.Duration = time.Since(start)
		tr.Calls = append(tr.Calls, rec)
	}()

	cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, &Error{Op: op, CorrelationID: cid, Err: fmt.Errorf("%w: build request: %v", ErrInvalidArgument, stripURL(err))}
	}
	req.Header.Set("Accept", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if c.cfg.ClientID != "" {
		req.Header.Set("client_id", c.cfg.ClientID)
	}
	if c.cfg.ClientSecret != "" {
		req.Header.Set("client_secret", c.cfg.ClientSecret)
	}
	req.Header.Set(c.cfg.CorrelationHeader, cid)

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, c.transportError(ctx, op, cid, 0, err)
	}
	defer resp.Body.Close()
	rec.HTTPStatus = resp.StatusCode

	body, readErr := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	tooLarge := int64(len(body)) > c.cfg.MaxResponseBytes
	if readErr == nil && !tooLarge {
		rec.Body = append([]byte{}, body...)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		switch {
		case readErr != nil:
			return nil, resp, c.transportError(ctx, op, cid, resp.StatusCode, fmt.Errorf("%w: truncated body: %w", ErrGarbledResponse, stripURL(readErr)))
		case tooLarge:
			return nil, resp, &Error{Op: op, Status: resp.StatusCode, CorrelationID: cid,
				Err: fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, c.cfg.MaxResponseBytes)}
		}
		return body, resp, nil
	}

	e := &Error{Op: op, Status: resp.StatusCode, CorrelationID: cid}
	if readErr == nil && !tooLarge {
		e.Felkod, e.Felmeddelande = decodeErrorBody(body)
	}
	rec.Felkod = e.Felkod
	c.markUnavailable(op, e)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		if t, ok := c.limiter.(Throttler); ok {
			t.Throttled(e.RetryAfter)
		}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		e.Err = ErrTokenNotAccepted
	}
	if isRedirect(resp.StatusCode) {
		e.Err = redirectError(resp)
	}
	return nil, resp, e
}

// transportError describes a call that got no (complete) answer. When the
// caller's ctx ended, that is the error; a per-call timeout is retryable.
func (c *Client) transportError(ctx context.Context, op Operation, cid string, status int, err error) error {
	if ctx.Err() != nil {
		return wrapf(op, "%w", ctx.Err())
	}
	err = stripURL(err)
	if certificateError(err) {
		err = fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	return &Error{Op: op, Status: status, CorrelationID: cid, Err: err}
}

// observeDrift tells the Observer, when it is a DriftObserver, about each
// drift entry.
func (c *Client) observeDrift(op Operation, drift []Drift) {
	if o, ok := c.cfg.Observer.(DriftObserver); ok {
		for _, d := range drift {
			o.DriftSeen(op, d)
		}
	}
}

// stripURL unwraps a *url.Error: its message holds the request URL, and
// with it the identity number, which may be a personnummer.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timeout: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// decodeErrorBody extracts felkod and felmeddelande, or a gateway's
// {"error": "..."} text, from an error answer. Anything else yields zeros.
func decodeErrorBody(body []byte) (int, string) {
	var w struct {
		Felkod           flexInt `json:"felkod"`
		Felmeddelande    string  `json:"felmeddelande"`
		Error            any     `json:"error"`
		ErrorDescription string  `json:"error_description"`
		Message          string  `json:"message"`
	}
	if decodeObject(body, &w) != nil {
		return 0, ""
	}
	msg := w.Felmeddelande
	if msg == "" {
		if s, ok := w.Error.(string); ok {
			msg = s
		}
	}
	if msg == "" {
		msg = w.ErrorDescription
	}
	if msg == "" {
		msg = w.Message
	}
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return int(w.Felkod), strings.TrimSpace(msg)
}

// maxRetryAfter caps a Retry-After, in seconds or as a date. The rate
// limiter caps the pause it makes of one further (ratelimit.Config.MaxPause).
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date, capped at maxRetryAfter in both forms; 0 when absent, past or
// unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		n, ok := parseInt([]byte(v))
		if !ok || n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter // too many digits for an int64: a long time
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}
