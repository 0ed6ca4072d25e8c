package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// ErrUnknownSession is returned by SessionAPI for a session this process
// does not know.
var ErrUnknownSession = errors.New("unknown login session")

// Login serves the login page and keeps the users' logins: it refreshes
// their tokens, publishes fetch requests for their accounts on a cadence
// and shows the events that come out. It implements jobs.Sessions.
type Login struct {
	cfg   Config
	nc    *nats.Conn
	js    jetstream.JetStream
	oauth *oauth2.Config
	store *tokenStore // nil: tokens in memory only
	// octx carries the token endpoint's HTTP client for golang.org/x/oauth2.
	octx   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*session
	browsers map[string]*browser
}

var _ jobs.Sessions = (*Login)(nil)

// New returns a Login. With cfg.TokenKey it opens the KV bucket of sealed
// tokens and resumes the logins kept there.
func New(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, cfg Config) (*Login, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Login{
		cfg: cfg, nc: nc, js: js,
		oauth: &oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			Endpoint:    oauth2.Endpoint{AuthURL: cfg.AuthorizeURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
			RedirectURL: cfg.RedirectURL, Scopes: cfg.Scopes,
		},
		sessions: map[string]*session{},
		browsers: map[string]*browser{},
	}
	// golang.org/x/oauth2 takes its HTTP client from a context value; this
	// context lives only inside the Login.
	base, cancel := context.WithCancel(context.Background())
	l.octx, l.cancel = context.WithValue(base, oauth2.HTTPClient, cfg.HTTPClient), cancel
	if len(cfg.TokenKey) > 0 {
		if l.store, err = openStore(ctx, js, cfg.TokenKey); err != nil {
			cancel()
			return nil, err
		}
		if err := l.resume(ctx); err != nil {
			cfg.Logger.Warn().Err(err).Msg("some stored logins could not be resumed")
		}
	}
	return l, nil
}

// Close stops every login's cadence and subscriptions. Stored logins stay
// stored, for the next start.
func (l *Login) Close() {
	l.cancel()
	l.mu.Lock()
	for _, s := range l.sessions {
		s.unsubscribe()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// SessionAPI returns the API client of a live login (jobs.Sessions).
func (l *Login) SessionAPI(id string) (jobs.API, error) {
	l.mu.Lock()
	s := l.sessions[id]
	l.mu.Unlock()
	if s == nil {
		return nil, ErrUnknownSession
	}
	if ended, reason, _ := s.status(); ended {
		return nil, fmt.Errorf("login session %s: %w: %s", id, skv.ErrLoginEnded, reason)
	}
	return s.api, nil
}

// session is one user's login.
type session struct {
	id       string
	browser  string
	accounts []idnr.Number
	started  time.Time
	tokens   *userTokens
	api      *skv.Client
	stop     context.CancelFunc

	mu        sync.Mutex
	ended     bool
	endReason string
	endedAt   time.Time
	published int
	lastRound time.Time
	events    []shownEvent // newest last
	subs      []*nats.Subscription
}

func (s *session) status() (ended bool, reason string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended, s.endReason, s.endedAt
}

func (s *session) unsubscribe() {
	s.mu.Lock()
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	for _, sub := range subs {
		_ = sub.Unsubscribe()
	}
}

func (s *session) masked() []string {
	out := make([]string, len(s.accounts))
	for i, a := range s.accounts {
		out[i] = a.Masked()
	}
	return out
}

// requestPrefix starts the requestId of every fetch request of s.
func (s *session) requestPrefix() string { return "login-" + s.id + "-" }

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start registers a login from its first token and starts its cadence.
func (l *Login) start(ctx context.Context, r record) (*session, error) {
	s := &session{id: r.ID, browser: r.Browser, started: r.Started}
	for _, a := range r.Accounts {
		n, err := idnr.Parse(a)
		if err != nil {
			return nil, fmt.Errorf("account: %w", err)
		}
		s.accounts = append(s.accounts, n)
	}
	s.tokens = &userTokens{l: l, s: s, tok: r.Token, issued: r.Issued, refreshes: r.Refreshes, refreshExpires: r.RefreshExpires}
	apiCfg := l.cfg.API
	apiCfg.TokenSource = s.tokens
	api, err := skv.New(apiCfg)
	if err != nil {
		return nil, fmt.Errorf("api client: %w", err)
	}
	s.api = api
	if l.store != nil {
		if err := l.store.save(ctx, &r, time.Until(r.RefreshExpires)); err != nil {
			return nil, err
		}
	}
	// Subscribe before the first request, so no event is missed.
	for _, a := range s.accounts {
		sub, err := l.nc.Subscribe(contract.AccountEvents(a.String()), func(m *nats.Msg) { l.shown(s, m.Data) })
		if err != nil {
			s.unsubscribe()
			return nil, fmt.Errorf("subscribe to events: %w", err)
		}
		s.subs = append(s.subs, sub)
	}
	rctx, stop := context.WithCancel(l.octx)
	s.stop = stop
	l.mu.Lock()
	l.sessions[s.id] = s
	b := l.browsers[s.browser]
	if b == nil {
		b = &browser{pending: map[string]*pending{}}
		l.browsers[s.browser] = b
	}
	b.sessions = append(b.sessions, s.id)
	l.mu.Unlock()
	l.cfg.Logger.Info().Str("session", s.id).Strs("accounts", s.masked()).Dur("cadence", l.cfg.Cadence).Msg("user logged in: fetching the accounts with the user's login")
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.cadence(rctx, s)
	}()
	return s, nil
}

// resume restarts the logins kept in the store.
func (l *Login) resume(ctx context.Context) error {
	recs, err := l.store.load(ctx)
	for _, r := range recs {
		if !l.cfg.Now().Before(r.RefreshExpires) {
			_ = l.store.remove(ctx, r.ID)
			continue
		}
		if _, err := l.start(ctx, r); err != nil {
			l.cfg.Logger.Warn().Str("session", r.ID).Err(err).Msg("could not resume a stored login")
		}
	}
	return err
}

// cadence publishes a fetch request for every account at once and then
// every Cadence, while the login lives.
func (l *Login) cadence(ctx context.Context, s *session) {
	t := time.NewTicker(l.cfg.Cadence)
	defer t.Stop()
	for {
		l.round(ctx, s)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round publishes one fetch request per account, after making sure the
// login still has a token (refreshing it if due).
func (l *Login) round(ctx context.Context, s *session) {
	if ended, _, _ := s.status(); ended {
		return
	}
	if _, err := s.tokens.Token(); err != nil {
		if errors.Is(err, skv.ErrLoginEnded) || ctx.Err() != nil {
			return
		}
		l.cfg.Logger.Warn().Str("session", s.id).Err(err).Msg("could not refresh the user's token; trying again at the next round")
		return
	}
	s.mu.Lock()
	s.lastRound = l.cfg.Now()
	s.mu.Unlock()
	for _, a := range s.accounts {
		s.mu.Lock()
		s.published++
		n := s.published
		s.mu.Unlock()
		body, _ := json.Marshal(contract.FetchRequest{Auth: new(contract.AuthUser), Session: new(s.id), RequestID: new(s.requestPrefix() + strconv.Itoa(n))})
		if _, err := l.js.Publish(ctx, contract.FetchSubject(a.String()), body); err != nil {
			if ctx.Err() != nil {
				return
			}
			l.cfg.Logger.Warn().Str("session", s.id).Str("account", a.Masked()).Err(err).Msg("could not publish a fetch request")
		}
	}
}

// end ends a login once: it stops the cadence, forgets the stored tokens
// and reports the end.
func (l *Login) end(s *session, reason string) { l.endBy(s, reason, false) }

// endBy ends a login; byUser tells a logout from a refused refresh.
func (l *Login) endBy(s *session, reason string, byUser bool) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.endReason, s.endedAt = true, reason, l.cfg.Now()
	s.mu.Unlock()
	if s.stop != nil {
		s.stop()
	}
	e := Ended{Session: s.id, Accounts: s.masked(), Reason: reason, At: s.endedAt, ByUser: byUser}
	if byUser {
		l.cfg.Logger.Info().Str("session", s.id).Strs("accounts", e.Accounts).Msg("user logged out")
	} else {
		l.cfg.Logger.Warn().Str("session", s.id).Strs("accounts", e.Accounts).Str("reason", reason).
			Msg("user login ended: no more fetches with it; the user must log in again")
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if l.store != nil {
			if err := l.store.remove(ctx, s.id); err != nil {
				l.cfg.Logger.Warn().Str("session", s.id).Err(err).Msg("could not remove the stored login")
			}
		}
		if l.cfg.OnEnd != nil {
			l.cfg.OnEnd(ctx, e)
		}
	}()
}

// userTokens is a login's token source: it hands out the access token
// and refreshes it when due, keeping the newest (rotated) refresh token.
// A refused refresh ends the login.
type userTokens struct {
	l *Login
	s *session

	mu             sync.Mutex
	tok            *oauth2.Token
	issued         time.Time
	refreshes      int
	refreshExpires time.Time
}

// earlyExpiry is how long before its expiry a token is refreshed: a
// minute, or a quarter of its life when that is shorter.
func earlyExpiry(issued, expiry time.Time) time.Duration {
	return min(time.Minute, expiry.Sub(issued)/4)
}

func (u *userTokens) Token() (*oauth2.Token, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if ended, reason, _ := u.s.status(); ended {
		return nil, fmt.Errorf("%w: %s", skv.ErrLoginEnded, reason)
	}
	now := u.l.cfg.Now()
	if u.tok.AccessToken != "" && (u.tok.Expiry.IsZero() || now.Add(earlyExpiry(u.issued, u.tok.Expiry)).Before(u.tok.Expiry)) {
		t := *u.tok
		return &t, nil
	}
	if u.tok.RefreshToken == "" {
		u.l.end(u.s, "the access token expired and no refresh token was given")
		return nil, fmt.Errorf("%w: no refresh token", skv.ErrLoginEnded)
	}
	// One refresh at a time: a rotated refresh token is good for one use.
	nt, err := u.l.oauth.TokenSource(u.l.octx, &oauth2.Token{RefreshToken: u.tok.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 &&
			re.Response.StatusCode != http.StatusTooManyRequests && re.Response.StatusCode != http.StatusRequestTimeout {
			reason := fmt.Sprintf("refresh refused after %d refreshes (http %d %s)", u.refreshes, re.Response.StatusCode, safeCode(re.ErrorCode))
			u.l.end(u.s, reason)
			return nil, fmt.Errorf("%w: %s", skv.ErrLoginEnded, reason)
		}
		return nil, fmt.Errorf("refresh user token: %s", tokenErrText(err))
	}
	u.tok, u.issued = nt, now
	u.refreshes++
	u.refreshExpires = now.Add(refreshTTL(nt))
	u.l.cfg.Logger.Debug().Str("session", u.s.id).Int("refreshes", u.refreshes).Time("expires", nt.Expiry).Msg("user token refreshed")
	if u.l.store != nil {
		r := u.recordLocked()
		ctx, cancel := context.WithTimeout(u.l.octx, 10*time.Second)
		if err := u.l.store.save(ctx, &r, u.refreshExpires.Sub(now)); err != nil {
			u.l.cfg.Logger.Warn().Str("session", u.s.id).Err(err).Msg("could not store the refreshed login")
		}
		cancel()
	}
	t := *nt
	return &t, nil
}

func (u *userTokens) recordLocked() record {
	s := u.s
	accts := make([]string, len(s.accounts))
	for i, a := range s.accounts {
		accts[i] = a.String()
	}
	return record{ID: s.id, Browser: s.browser, Accounts: accts, Started: s.started, Token: u.tok,
		Issued: u.issued, Refreshes: u.refreshes, RefreshExpires: u.refreshExpires}
}

// info returns what the page shows of the tokens: no token.
func (u *userTokens) info() (refreshes int, accessExpires, refreshExpires time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.refreshes, u.tok.Expiry, u.refreshExpires
}

// refreshTTL reads the refresh token's life from the token answer
// (refresh_expires_in or refresh_token_expires_in), else the default.
func refreshTTL(t *oauth2.Token) time.Duration {
	for _, k := range []string{"refresh_expires_in", "refresh_token_expires_in"} {
		switch v := t.Extra(k).(type) {
		case float64:
			if v > 0 {
				return time.Duration(v) * time.Second
			}
		case string:
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return DefaultRefreshTTL
}

// tokenErrText describes a token endpoint failure without its body, which
// could echo secrets.
func tokenErrText(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		st := 0
		if re.Response != nil {
			st = re.Response.StatusCode
		}
		return fmt.Sprintf("token endpoint answered http %d %s", st, safeCode(re.ErrorCode))
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return "token endpoint unreachable: " + inner.Error()
		}
	}
	return "token endpoint unreachable"
}

// safeCode keeps an OAuth2 error code if it looks like one.
func safeCode(code string) string {
	if len(code) > 40 {
		return "(error)"
	}
	for _, r := range code {
		if (r < 'a' || r > 'z') && r != '_' {
			return "(error)"
		}
	}
	if code == "" {
		return "(no error code)"
	}
	return code
}
