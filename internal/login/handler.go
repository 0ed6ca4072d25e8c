package login

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

// Paths served by Handler.
const (
	PagePath     = "/login/"
	StartPath    = "/login/start"
	CallbackPath = "/login/callback"
	LogoutPath   = "/login/logout"
	cookieName   = "skattekonto_login"
	// pendingTTL is how long a started login may take at the authorize
	// endpoint.
	pendingTTL = 10 * time.Minute
	// maxPending bounds the logins one browser may have started at once.
	maxPending = 5
)

//go:embed templates/*.html
var templateFS embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"join": strings.Join,
}).ParseFS(templateFS, "templates/page.html"))

// browser is one browser's state, found by its cookie.
type browser struct {
	pending  map[string]*pending // by state
	sessions []string
}

// pending is a login sent to the authorize endpoint, waiting for its
// callback.
type pending struct {
	verifier string
	accounts []string
	created  time.Time
}

// Handler serves the login page under /login/.
func (l *Login) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PagePath+"{$}", l.servePage)
	mux.HandleFunc("POST "+StartPath, l.serveStart)
	mux.HandleFunc("GET "+CallbackPath, l.serveCallback)
	mux.HandleFunc("POST "+LogoutPath, l.serveLogout)
	// The start form redirects to the authorize endpoint: form-action
	// must allow its origin.
	csp := "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
	if u, err := url.Parse(l.cfg.AuthorizeURL); err == nil {
		csp += " " + u.Scheme + "://" + u.Host
	}
	return securityHeaders(mux, csp)
}

func securityHeaders(h http.Handler, csp string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", csp)
		h.ServeHTTP(w, r)
	})
}

// secureCookie reports whether the cookie needs HTTPS: always, except
// when the service is reached on a loopback address.
func (l *Login) secureCookie() bool {
	u, err := url.Parse(l.cfg.RedirectURL)
	return err != nil || !loopback(u.Hostname())
}

// browserID returns the browser's id from its cookie, or "" without one.
func browserID(r *http.Request) string {
	c, err := r.Cookie(cookieName)
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	return c.Value
}

func (l *Login) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: PagePath,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: l.secureCookie(),
		MaxAge: int((12 * time.Hour).Seconds()),
	})
}

// view is what the page template gets.
type view struct {
	Refresh  int
	Error    string
	Notice   string
	Accounts string
	Sessions []sessionView
}

type sessionView struct {
	ID             string
	Accounts       []string
	Started        string
	Ended          bool
	EndReason      string
	EndedAt        string
	Refreshes      int
	AccessExpires  string
	RefreshExpires string
	Published      int
	LastRound      string
	Events         []shownEvent // newest first
}

const timeFmt = "2006-01-02 15:04:05"

func (l *Login) render(w http.ResponseWriter, r *http.Request, status int, v view) {
	v.Refresh = max(1, int(l.cfg.PageRefresh.Seconds()))
	if id := browserID(r); id != "" {
		l.mu.Lock()
		var ss []*session
		if b := l.browsers[id]; b != nil {
			for _, sid := range b.sessions {
				if s := l.sessions[sid]; s != nil {
					ss = append(ss, s)
				}
			}
		}
		l.mu.Unlock()
		for i := len(ss) - 1; i >= 0; i-- {
			v.Sessions = append(v.Sessions, l.sessionView(ss[i]))
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := page.Execute(w, v); err != nil {
		l.cfg.Logger.Error().Err(err).Msg("render login page")
	}
}

func (l *Login) sessionView(s *session) sessionView {
	refreshes, accessExp, refreshExp := s.tokens.info()
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := sessionView{
		ID: s.id, Accounts: s.masked(), Started: s.started.Local().Format(timeFmt),
		Ended: s.ended, EndReason: s.endReason, Refreshes: refreshes, Published: s.published,
		AccessExpires: accessExp.Local().Format(timeFmt), RefreshExpires: refreshExp.Local().Format(timeFmt),
	}
	if s.ended {
		sv.EndedAt = s.endedAt.Local().Format(timeFmt)
	}
	if !s.lastRound.IsZero() {
		sv.LastRound = s.lastRound.Local().Format(timeFmt)
	}
	for i := len(s.events) - 1; i >= 0; i-- {
		sv.Events = append(sv.Events, s.events[i])
	}
	return sv
}

func (l *Login) servePage(w http.ResponseWriter, r *http.Request) {
	// The cookie belongs to the callback's host: on a developer's machine,
	// send 127.0.0.1 to localhost (or the other way) before it is set.
	if u, err := url.Parse(l.cfg.RedirectURL); err == nil && r.Host != u.Host && loopback(u.Hostname()) && loopback(hostOnly(r.Host)) {
		http.Redirect(w, r, u.Scheme+"://"+u.Host+PagePath, http.StatusSeeOther)
		return
	}
	var v view
	switch r.URL.Query().Get("m") {
	case "in":
		v.Notice = "Logged in: the accounts are being fetched with your login."
	case "out":
		v.Notice = "Logged out."
	}
	l.render(w, r, http.StatusOK, v)
}

// parseAccounts reads the accounts the user entered, separated by
// whitespace, commas or semicolons.
func parseAccounts(in string) ([]string, error) {
	fields := strings.FieldsFunc(in, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if len(fields) == 0 {
		return nil, errors.New("enter at least one organisation number or personnummer")
	}
	if len(fields) > MaxAccounts {
		return nil, errors.New("at most 20 accounts per login")
	}
	var out []string
	for _, f := range fields {
		n, err := idnr.Parse(f)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n.String()) {
			out = append(out, n.String())
		}
	}
	return out, nil
}

// serveStart begins a login: PKCE verifier and state, bound to this
// browser's cookie, then off to the authorize endpoint.
func (l *Login) serveStart(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		l.render(w, r, http.StatusBadRequest, view{Error: "The form could not be read."})
		return
	}
	in := r.PostForm.Get("accounts")
	accts, err := parseAccounts(in)
	if err != nil {
		l.render(w, r, http.StatusBadRequest, view{Error: err.Error(), Accounts: in})
		return
	}
	id := browserID(r)
	now := l.cfg.Now()
	state := randomID(32)
	verifier := oauth2.GenerateVerifier()
	l.mu.Lock()
	l.pruneLocked(now)
	b := l.browsers[id]
	if id == "" || b == nil {
		id = randomID(32)
		b = &browser{pending: map[string]*pending{}}
		l.browsers[id] = b
	}
	for k, p := range b.pending {
		if now.Sub(p.created) > pendingTTL {
			delete(b.pending, k)
		}
	}
	if len(b.pending) >= maxPending {
		l.mu.Unlock()
		l.render(w, r, http.StatusTooManyRequests, view{Error: "Too many logins started at once in this browser: finish one or wait ten minutes."})
		return
	}
	b.pending[state] = &pending{verifier: verifier, accounts: accts, created: now}
	l.mu.Unlock()
	l.setCookie(w, id)
	http.Redirect(w, r, l.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusSeeOther)
}

// keepEnded is how long an ended login stays on the page.
const keepEnded = 24 * time.Hour

// pruneLocked forgets logins that ended long ago, expired pending logins
// and browsers with nothing left, so anonymous visits cannot pile up.
// l.mu is held.
func (l *Login) pruneLocked(now time.Time) {
	for id, b := range l.browsers {
		for k, p := range b.pending {
			if now.Sub(p.created) > pendingTTL {
				delete(b.pending, k)
			}
		}
		b.sessions = slices.DeleteFunc(b.sessions, func(sid string) bool {
			s := l.sessions[sid]
			if s == nil {
				return true
			}
			if ended, _, at := s.status(); ended && now.Sub(at) > keepEnded {
				s.unsubscribe()
				delete(l.sessions, sid)
				return true
			}
			return false
		})
		if len(b.pending) == 0 && len(b.sessions) == 0 {
			delete(l.browsers, id)
		}
	}
}

// serveCallback checks the state against this browser's started logins,
// exchanges the code (with the PKCE verifier) and starts the login.
func (l *Login) serveCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	id := browserID(r)
	l.mu.Lock()
	var p *pending
	if b := l.browsers[id]; id != "" && b != nil && state != "" {
		p = b.pending[state]
		delete(b.pending, state) // single use
	}
	l.mu.Unlock()
	if p == nil || l.cfg.Now().Sub(p.created) > pendingTTL {
		l.cfg.Logger.Warn().Bool("cookie", id != "").Msg("login callback refused: its state matches no login started in this browser")
		l.render(w, r, http.StatusBadRequest, view{Error: "This login was not started in this browser, or it took too long. Start again."})
		return
	}
	if e := q.Get("error"); e != "" {
		l.render(w, r, http.StatusOK, view{Error: "Skatteverket did not log you in (" + safeCode(e) + ").", Accounts: strings.Join(p.accounts, " ")})
		return
	}
	code := q.Get("code")
	if code == "" {
		l.render(w, r, http.StatusBadRequest, view{Error: "The answer from the login carried no code."})
		return
	}
	ctx, cancel := context.WithTimeout(l.octx, 60*time.Second)
	defer cancel()
	tok, err := l.oauth.Exchange(ctx, code, oauth2.VerifierOption(p.verifier))
	if err != nil {
		l.cfg.Logger.Warn().Str("error", tokenErrText(err)).Msg("login: code exchange failed")
		l.render(w, r, http.StatusBadGateway, view{Error: "The login could not be completed: " + tokenErrText(err) + ". Start again."})
		return
	}
	if granted, ok := tok.Extra("scope").(string); ok && granted != "" {
		have := strings.Fields(granted)
		for _, want := range l.cfg.Scopes {
			if !slices.Contains(have, want) {
				l.cfg.Logger.Warn().Str("granted", granted).Str("missing", want).Msg("login: scope missing from the user's token")
				l.render(w, r, http.StatusForbidden, view{Error: "The login did not grant the scope " + want + " that the Skattekonto API needs."})
				return
			}
		}
	}
	now := l.cfg.Now()
	rec := record{ID: "ls-" + randomID(16), Browser: id, Accounts: p.accounts, Started: now, Token: tok,
		Issued: now, RefreshExpires: now.Add(refreshTTL(tok))}
	if _, err := l.start(r.Context(), rec); err != nil {
		l.cfg.Logger.Error().Err(err).Msg("login: could not start the session")
		l.render(w, r, http.StatusInternalServerError, view{Error: "The login could not be kept: " + err.Error()})
		return
	}
	http.Redirect(w, r, PagePath+"?m=in", http.StatusSeeOther)
}

// serveLogout ends one of this browser's logins.
func (l *Login) serveLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_ = r.ParseForm()
	sid := r.PostForm.Get("session")
	id := browserID(r)
	l.mu.Lock()
	var s *session
	if b := l.browsers[id]; id != "" && b != nil && slices.Contains(b.sessions, sid) {
		s = l.sessions[sid]
	}
	l.mu.Unlock()
	if s == nil {
		l.render(w, r, http.StatusNotFound, view{Error: "No such login in this browser."})
		return
	}
	l.endBy(s, "logged out by the user", true)
	http.Redirect(w, r, PagePath+"?m=out", http.StatusSeeOther)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
