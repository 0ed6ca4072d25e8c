package login

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
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
	// cookieName is the browser cookie over plain http on loopback;
	// hostCookieName the one over https, which the __Host- prefix binds
	// to this host (Secure, Path=/, no Domain).
	cookieName     = "skattekonto_login"
	hostCookieName = "__Host-skattekonto_login"
)

//go:embed templates/*.html
var templateFS embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"join": strings.Join,
}).ParseFS(templateFS, "templates/page.html"))

// Handler serves the login page under /login/ (and redirects / there),
// to the clients Config.AllowNetworks and Config.ForwardAuthHeader admit.
// Serve it on a listener of its own (NewServer), apart from /metrics.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, PagePath, http.StatusSeeOther)
	})
	mux.HandleFunc("GET "+PagePath+"{$}", m.servePage)
	mux.HandleFunc("POST "+StartPath, m.serveStart)
	mux.HandleFunc("GET "+CallbackPath, m.serveCallback)
	mux.HandleFunc("POST "+LogoutPath, m.serveLogout)
	// The start form redirects to the authorize endpoint: form-action
	// must allow its origin.
	csp := "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
	if u, err := url.Parse(m.cfg.AuthorizeURL); err == nil {
		csp += " " + u.Scheme + "://" + u.Host
	}
	return securityHeaders(m.admit(mux), csp)
}

// NewServer returns the HTTP server of the login page on addr
// (LOGIN_ADDR), with timeouts fit for a page on the open network.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr: addr, Handler: h,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 90 * time.Second, // the callback waits for the token endpoint
		IdleTimeout:  60 * time.Second, MaxHeaderBytes: 16 << 10,
	}
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

type userKey struct{}

// admit refuses clients the guard does not admit, and passes the
// forwarded user on.
func (m *Manager) admit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := m.guard.admit(r)
		if !ok {
			if m.guard.logRefusal(m.cfg.Now()) {
				ip, _ := peer(r)
				m.cfg.Logger.Warn().Str("client", ip.String()).Msg("login page refused a client: not in LOGIN_ALLOW_CIDRS, or without the forward-auth user (one line a minute at most)")
			}
			http.Error(w, pageTexts[pageLang(r)].ErrForbidden, http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	})
}

func forwardedUser(r *http.Request) string {
	u, _ := r.Context().Value(userKey{}).(string)
	return u
}

// tls reports whether the page is served over https (the redirect URL
// says): then the cookie is Secure and __Host- prefixed. Only on a
// loopback host may the page run on plain http.
func (m *Manager) tls() bool {
	u, err := url.Parse(m.cfg.RedirectURL)
	return err != nil || u.Scheme == "https" || !loopback(u.Hostname())
}

func (m *Manager) cookieName() string {
	if m.tls() {
		return hostCookieName
	}
	return cookieName
}

// browserID returns the browser's id from its cookie, or "" without one.
func (m *Manager) browserID(r *http.Request) string {
	c, err := r.Cookie(m.cookieName())
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	return c.Value
}

func (m *Manager) setCookie(w http.ResponseWriter, id string) {
	c := &http.Cookie{
		Name: cookieName, Value: id, Path: PagePath,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		MaxAge: int((12 * time.Hour).Seconds()),
	}
	if m.tls() {
		c.Name, c.Path, c.Secure = hostCookieName, "/", true
	}
	http.SetCookie(w, c)
}

// view is what the page template gets.
type view struct {
	T         *texts
	Refresh   int
	Error     string
	Notice    string
	Accounts  string
	Simulator bool
	Logins    []loginView
}

type loginView struct {
	Ref            string
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
	Denied         []string
	Events         []eventView // newest first
}

type eventView struct {
	Time, Type, Account, Auth, Summary string
}

func (m *Manager) render(w http.ResponseWriter, r *http.Request, status int, v view) {
	lang := pageLang(r)
	v.T, v.Simulator = pageTexts[lang], m.cfg.Simulator
	v.Refresh = max(1, int(m.cfg.PageRefresh.Seconds()))
	if id := m.browserID(r); id != "" {
		key := browserKey(id, forwardedUser(r))
		var mine []*login
		for _, l := range m.known() {
			if rec, _ := l.snapshot(); rec.Browser == key {
				mine = append(mine, l)
			}
		}
		slices.SortFunc(mine, func(a, b *login) int {
			ra, _ := a.snapshot()
			rb, _ := b.snapshot()
			return rb.Started.Compare(ra.Started)
		})
		for _, l := range mine {
			v.Logins = append(v.Logins, l.view(lang))
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := page.Execute(w, v); err != nil {
		m.cfg.Logger.Error().Err(err).Msg("render login page")
	}
}

func (l *login) view(lang string) loginView {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &l.rec
	v := loginView{
		Ref: r.Ref, Accounts: r.masked(), Started: stockholm(r.Started), Ended: r.End != nil,
		Refreshes: r.Refreshes, Published: r.Published, LastRound: stockholm(r.LastRound),
		RefreshExpires: stockholm(r.RefreshExpires), Denied: slices.Clone(l.denied),
	}
	if r.Token != nil {
		v.AccessExpires = stockholm(r.Token.Expiry)
	}
	if r.End != nil {
		v.EndReason, v.EndedAt = r.End.reason(lang), stockholm(r.End.At)
	}
	for i := len(l.events) - 1; i >= 0; i-- {
		v.Events = append(v.Events, l.events[i].view(lang))
	}
	return v
}

// localPage returns the page's URL in lang.
func localPage(lang, query string) string {
	u := PagePath + "?lang=" + lang
	if query != "" {
		u += "&" + query
	}
	return u
}

func (m *Manager) servePage(w http.ResponseWriter, r *http.Request) {
	// The cookie belongs to the callback's host: on a developer's machine,
	// send 127.0.0.1 to localhost (or the other way) before it is set.
	if u, err := url.Parse(m.cfg.RedirectURL); err == nil && r.Host != u.Host && loopback(u.Hostname()) && loopback(hostOnly(r.Host)) &&
		portOf(r.Host) == u.Port() {
		http.Redirect(w, r, u.Scheme+"://"+u.Host+PagePath, http.StatusSeeOther)
		return
	}
	t := pageTexts[pageLang(r)]
	var v view
	switch r.URL.Query().Get("m") {
	case "in":
		v.Notice = t.LoggedIn
	case "out":
		v.Notice = t.LoggedOut
	}
	m.render(w, r, http.StatusOK, v)
}

// parseAccounts reads the accounts the user entered, separated by
// whitespace, commas or semicolons.
func parseAccounts(t *texts, in string) ([]string, error) {
	fields := strings.FieldsFunc(in, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if len(fields) == 0 {
		return nil, errors.New(t.ErrNoAccounts)
	}
	if len(fields) > MaxAccounts {
		return nil, errors.New(t.ErrTooMany)
	}
	var out []string
	for _, f := range fields {
		n, err := idnr.Parse(f)
		if err != nil {
			var pe *idnr.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf(t.ErrBadAccount, pe.Input, pe.Rule)
			}
			return nil, err
		}
		if !slices.Contains(out, n.String()) {
			out = append(out, n.String())
		}
	}
	return out, nil
}

// serveStart begins a login: PKCE verifier and state, kept in the bucket
// (any replica may get the callback) and bound to this browser's cookie,
// then off to the authorize endpoint.
func (m *Manager) serveStart(w http.ResponseWriter, r *http.Request) {
	lang := pageLang(r)
	t := pageTexts[lang]
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		m.render(w, r, http.StatusBadRequest, view{Error: t.ErrForm})
		return
	}
	in := r.PostForm.Get("accounts")
	accts, err := parseAccounts(t, in)
	if err != nil {
		m.render(w, r, http.StatusBadRequest, view{Error: err.Error(), Accounts: in})
		return
	}
	user := forwardedUser(r)
	now := m.cfg.Now()
	switch m.guard.start(m.guard.client(r, user), now) {
	case startRateLimited:
		m.render(w, r, http.StatusTooManyRequests, view{Error: t.ErrRate, Accounts: in})
		return
	case startBusy:
		m.cfg.Logger.Warn().Msg("login page busy: too many logins started (the cap or the client limit): refusing more for now")
		m.render(w, r, http.StatusServiceUnavailable, view{Error: t.ErrBusy, Accounts: in})
		return
	}
	id := m.browserID(r)
	if id == "" {
		id = randomID(32)
	}
	state := randomID(32)
	verifier := oauth2.GenerateVerifier()
	p := pending{Browser: browserKey(id, user), Verifier: verifier, Accounts: accts, Created: now, Lang: lang}
	if err := m.savePending(r.Context(), state, &p); err != nil {
		m.cfg.Logger.Error().Err(err).Msg("login: could not keep a started login")
		m.render(w, r, http.StatusInternalServerError, view{Error: t.ErrKeep, Accounts: in})
		return
	}
	m.setCookie(w, id)
	http.Redirect(w, r, m.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusSeeOther)
}

// serveCallback checks the state against the logins started in this
// browser, exchanges the code (with the PKCE verifier), stores the login
// and gives the browser a fresh id.
func (m *Manager) serveCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id, user := m.browserID(r), forwardedUser(r)
	p, err := m.takePending(r.Context(), q.Get("state"), browserKey(id, user))
	if err != nil || id == "" || m.cfg.Now().Sub(p.Created) > pendingTTL {
		if err != nil && !errors.Is(err, errNotFound) && !errors.Is(err, errConflict) {
			m.cfg.Logger.Error().Err(err).Msg("login callback: cannot read the started login")
		}
		m.cfg.Logger.Warn().Bool("cookie", id != "").Msg("login callback refused: its state matches no login started in this browser")
		m.render(w, r, http.StatusBadRequest, view{Error: pageTexts[pageLang(r)].ErrState})
		return
	}
	// The page answers in the language the login was started in.
	q.Set("lang", p.Lang)
	r.URL.RawQuery = q.Encode()
	t := pageTexts[p.Lang]
	if e := q.Get("error"); e != "" {
		m.render(w, r, http.StatusOK, view{Error: fmt.Sprintf(t.ErrRefused, safeCode(e)), Accounts: strings.Join(p.Accounts, " ")})
		return
	}
	code := q.Get("code")
	if code == "" {
		m.render(w, r, http.StatusBadRequest, view{Error: t.ErrNoCode})
		return
	}
	ctx, cancel := context.WithTimeout(m.octx, 60*time.Second)
	defer cancel()
	tok, err := m.oauth.Exchange(ctx, code, oauth2.VerifierOption(p.Verifier))
	if err != nil {
		m.cfg.Logger.Warn().Str("error", tokenErrText(err)).Msg("login: code exchange failed")
		m.render(w, r, http.StatusBadGateway, view{Error: fmt.Sprintf(t.ErrExchange, tokenErrText(err))})
		return
	}
	if granted, ok := tok.Extra("scope").(string); ok && granted != "" {
		have := strings.Fields(granted)
		for _, want := range m.cfg.Scopes {
			if !slices.Contains(have, want) {
				m.cfg.Logger.Warn().Str("granted", granted).Str("missing", want).Msg("login: scope missing from the user's token")
				m.render(w, r, http.StatusForbidden, view{Error: fmt.Sprintf(t.ErrScope, want)})
				return
			}
		}
	}
	// A fresh browser id from now on: an id planted in this browser before
	// the login (session fixation) sees nothing of it.
	fresh := randomID(32)
	now := m.cfg.Now()
	rec := record{Ref: newRef(), Browser: browserKey(fresh, user), Accounts: p.Accounts, Started: now,
		Secret: randomBytes(32), Token: tok, Issued: now, RefreshExpires: now.Add(refreshTTL(tok))}
	if err := m.start(ctx, rec, p.Browser); err != nil {
		m.cfg.Logger.Error().Err(err).Msg("login: could not keep the login")
		m.render(w, r, http.StatusInternalServerError, view{Error: t.ErrKeep})
		return
	}
	m.setCookie(w, fresh)
	http.Redirect(w, r, localPage(p.Lang, "m=in"), http.StatusSeeOther)
}

// start stores a new login, takes its lease (its first round of fetch
// requests follows at once) and moves the browser's earlier logins to its
// new id.
func (m *Manager) start(ctx context.Context, rec record, oldBrowser string) error {
	if _, err := m.create(ctx, rec); err != nil {
		return err
	}
	m.cfg.Logger.Info().Str("login", rec.Ref).Strs("accounts", rec.masked()).Dur("cadence", m.cfg.Cadence).
		Msg("user logged in: fetching the accounts with the user's login")
	m.mu.Lock()
	l := m.logins[rec.Ref]
	m.mu.Unlock()
	if l != nil {
		m.acquire(ctx, l)
	}
	for _, o := range m.known() {
		if r, _ := o.snapshot(); r.Browser == oldBrowser && r.Ref != rec.Ref {
			_, err := m.modify(ctx, r.Ref, func(r *record) error {
				if r.Browser != oldBrowser {
					return errMoved
				}
				r.Browser = rec.Browser
				return nil
			})
			if err != nil && !errors.Is(err, errMoved) {
				m.cfg.Logger.Warn().Str("login", r.Ref).Err(err).Msg("could not move a login to the browser's new id")
			}
		}
	}
	return nil
}

// serveLogout ends one of this browser's logins.
func (m *Manager) serveLogout(w http.ResponseWriter, r *http.Request) {
	lang := pageLang(r)
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_ = r.ParseForm()
	ref := r.PostForm.Get("login")
	id := m.browserID(r)
	var l *login
	if id != "" && validRef(ref) {
		m.mu.Lock()
		l = m.logins[ref]
		m.mu.Unlock()
	}
	if l != nil {
		if rec, _ := l.snapshot(); rec.Browser != browserKey(id, forwardedUser(r)) {
			l = nil
		}
	}
	if l == nil {
		m.render(w, r, http.StatusNotFound, view{Error: pageTexts[lang].ErrNoSuchLogin})
		return
	}
	err := m.finish(r.Context(), ref, "", end{Kind: endLogout, At: m.cfg.Now()})
	if err != nil && !errors.Is(err, errEnded) {
		m.cfg.Logger.Error().Str("login", ref).Err(err).Msg("could not log out")
		m.render(w, r, http.StatusInternalServerError, view{Error: pageTexts[lang].ErrKeep})
		return
	}
	http.Redirect(w, r, localPage(lang, "m=out"), http.StatusSeeOther)
}

// savePending keeps a started login for pendingTTL.
func (m *Manager) savePending(ctx context.Context, state string, p *pending) error {
	plain, err := json.Marshal(p)
	if err != nil {
		return err
	}
	key := pendingKey(state)
	_, err = m.bucket.create(ctx, key, m.sealer.seal(key, plain), pendingTTL)
	return err
}

// takePending returns the login started in browser with state, and
// removes it: a state is good for one callback, on whichever replica it
// lands. Another browser's callback leaves it alone.
func (m *Manager) takePending(ctx context.Context, state, browser string) (pending, error) {
	var p pending
	if state == "" || len(state) > 256 {
		return p, errNotFound
	}
	key := pendingKey(state)
	val, rev, err := m.bucket.get(ctx, key)
	if err != nil {
		return p, err
	}
	plain, err := m.sealer.open(key, val)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(plain, &p); err != nil {
		return p, err
	}
	if p.Browser != browser {
		return p, errNotFound
	}
	if err := m.bucket.remove(ctx, key, rev); err != nil {
		return p, err // errConflict: another callback took it
	}
	if pageTexts[p.Lang] == nil {
		p.Lang = langSV
	}
	return p, nil
}

func portOf(hostport string) string {
	_, port, _ := net.SplitHostPort(hostport)
	return port
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
