package sim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Paths of the authorization code flow for persons ("ACG per").
const (
	PerAuthorizePath = "/oauth2/v1/per/authorize"
	PerTokenPath     = "/oauth2/v1/per/token"
)

// OpPerToken counts calls to the per-person token endpoint in Calls.
const OpPerToken = "pertoken"

// Defaults of the person flow's limits (SKATTEKONTO.md).
const (
	DefaultUserTokenTTL     = 3600 * time.Second
	DefaultUserRefreshTTL   = 65 * time.Minute
	DefaultUserMaxRefreshes = 10
	// codeTTL is how long an authorization code may wait for its exchange.
	codeTTL = 2 * time.Minute
)

// Person is a test person who can log in on the simulated login page.
// Personnummer is the 12-digit form; it is never shown whole.
type Person struct {
	Personnummer string
	Name         string
}

// DefaultPersons are the test persons offered when Config.Persons is
// empty: made-up personnummer that pass the Luhn check. The first owns
// the demo enskild firma (DemoEF).
func DefaultPersons() []Person {
	return []Person{
		{Personnummer: DemoEF, Name: "Eva Firmasson (enskild firma)"},
		{Personnummer: WithCheckDigit("19750607123"), Name: "Ola Ombud (redovisningskonsult)"},
		{Personnummer: WithCheckDigit("19900101234"), Name: "Siv Styrelse (firmatecknare)"},
	}
}

// userGrant is one login of a person: the accounts it may see and how
// often its refresh tokens were used.
type userGrant struct {
	person    int
	accounts  []string
	refreshes int
}

type authCode struct {
	clientID, redirectURI, challenge string
	grant                            *userGrant
	expires                          time.Time
}

type refreshInfo struct {
	grant   *userGrant
	expires time.Time
}

// acgState is the person flow's state, guarded by its own lock.
type acgState struct {
	mu      sync.Mutex
	codes   map[string]authCode
	refresh map[string]refreshInfo
	// allowed maps a person's access token to the accounts it may see.
	allowed map[string][]string
}

func (s *Sim) acgRoutes(mux *http.ServeMux) {
	s.acg = &acgState{codes: map[string]authCode{}, refresh: map[string]refreshInfo{}, allowed: map[string][]string{}}
	mux.HandleFunc("GET "+PerAuthorizePath, s.serveAuthorize)
	mux.HandleFunc("POST "+PerAuthorizePath, s.serveLogin)
	mux.HandleFunc(PerTokenPath, s.servePerToken)
}

// AuthorizeURL returns the person flow's authorize endpoint for a server
// rooted at root.
func (s *Sim) AuthorizeURL(root string) string { return root + PerAuthorizePath }

// PerTokenURL returns the person flow's token endpoint for a server
// rooted at root.
func (s *Sim) PerTokenURL(root string) string { return root + PerTokenPath }

// Persons returns the test persons of the login page.
func (s *Sim) Persons() []Person { return slices.Clone(s.cfg.Persons) }

// personDenied reports whether r carries a person's access token that may
// not see account omf (the API then answers felkod 6). Organisation
// tokens are never denied here.
func (s *Sim) personDenied(r *http.Request, omf string) bool {
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	s.acg.mu.Lock()
	defer s.acg.mu.Unlock()
	accts, ok := s.acg.allowed[tok]
	return ok && !slices.Contains(accts, omf)
}

// authzRequest is a validated authorize request.
type authzRequest struct {
	ClientID, RedirectURI, Scope, State, Challenge string
}

// checkAuthorize validates the authorize parameters. A bad client or
// redirect URI is answered here (never redirect to an unchecked URI);
// other errors are sent back to the client's redirect URI.
func (s *Sim) checkAuthorize(w http.ResponseWriter, r *http.Request, q url.Values) (authzRequest, bool) {
	ar := authzRequest{
		ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), Scope: q.Get("scope"),
		State: q.Get("state"), Challenge: q.Get("code_challenge"),
	}
	if !secureEqual(ar.ClientID, s.cfg.ClientID) {
		loginError(w, http.StatusBadRequest, "unknown client_id")
		return ar, false
	}
	if !s.redirectAllowed(ar.RedirectURI) {
		loginError(w, http.StatusBadRequest, "redirect_uri is not registered for this client")
		return ar, false
	}
	back := func(code, desc string) (authzRequest, bool) {
		v := url.Values{"error": {code}, "error_description": {desc}}
		if ar.State != "" {
			v.Set("state", ar.State)
		}
		http.Redirect(w, r, withQuery(ar.RedirectURI, v), http.StatusFound)
		return ar, false
	}
	switch {
	case q.Get("response_type") != "code":
		return back("unsupported_response_type", "response_type must be code")
	case !hasScope(ar.Scope, s.cfg.Scope):
		return back("invalid_scope", "scope must include "+s.cfg.Scope)
	case ar.State == "":
		return back("invalid_request", "state is required")
	case q.Get("code_challenge_method") != "S256":
		return back("invalid_request", "code_challenge_method must be S256")
	case len(ar.Challenge) != 43 || !base64URL(ar.Challenge):
		return back("invalid_request", "code_challenge must be a base64url SHA-256")
	}
	return ar, true
}

// redirectAllowed accepts the configured redirect URIs, or without any,
// an http(s) URL on a loopback host.
func (s *Sim) redirectAllowed(raw string) bool {
	if len(s.cfg.RedirectURIs) > 0 {
		return slices.Contains(s.cfg.RedirectURIs, raw)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Fragment != "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

func base64URL(s string) bool {
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

func withQuery(raw string, v url.Values) string {
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	return raw + sep + v.Encode()
}

// serveAuthorize renders the login page: no BankID, a form that picks a
// test person and the accounts that person may see.
func (s *Sim) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	ar, ok := s.checkAuthorize(w, r, r.URL.Query())
	if !ok {
		return
	}
	type option struct {
		Index  int
		Label  string
		Masked string
	}
	var persons, accounts []option
	for i, p := range s.cfg.Persons {
		persons = append(persons, option{Index: i, Label: p.Name, Masked: Mask(p.Personnummer)})
	}
	for i, a := range s.Accounts() {
		accounts = append(accounts, option{Index: i, Masked: Mask(a.Omfragad)})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = loginPage.Execute(w, map[string]any{"Req": ar, "Persons": persons, "Accounts": accounts})
}

// serveLogin takes the login form and sends the browser back to the
// client with a code and the state.
func (s *Sim) serveLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		loginError(w, http.StatusBadRequest, "malformed form")
		return
	}
	ar, ok := s.checkAuthorize(w, r, r.PostForm)
	if !ok {
		return
	}
	if r.PostForm.Get("action") == "cancel" {
		http.Redirect(w, r, withQuery(ar.RedirectURI, url.Values{"error": {"access_denied"}, "state": {ar.State}}), http.StatusFound)
		return
	}
	person, err := strconv.Atoi(r.PostForm.Get("person"))
	if err != nil || person < 0 || person >= len(s.cfg.Persons) {
		loginError(w, http.StatusBadRequest, "pick a test person")
		return
	}
	all := s.Accounts()
	var accts []string
	for _, v := range r.PostForm["account"] {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= len(all) {
			loginError(w, http.StatusBadRequest, "unknown account")
			return
		}
		if !slices.Contains(accts, all[i].Omfragad) {
			accts = append(accts, all[i].Omfragad)
		}
	}
	code := randomToken()
	s.acg.mu.Lock()
	now := s.now()
	for k, c := range s.acg.codes {
		if now.After(c.expires) {
			delete(s.acg.codes, k)
		}
	}
	s.acg.codes[code] = authCode{clientID: ar.ClientID, redirectURI: ar.RedirectURI, challenge: ar.Challenge,
		grant: &userGrant{person: person, accounts: accts}, expires: now.Add(codeTTL)}
	s.acg.mu.Unlock()
	s.log.Debug().Str("person", Mask(s.cfg.Persons[person].Personnummer)).Int("accounts", len(accts)).Msg("sim person logged in")
	http.Redirect(w, r, withQuery(ar.RedirectURI, url.Values{"code": {code}, "state": {ar.State}}), http.StatusFound)
}

// personTokenAnswer is the token answer of the person flow.
type personTokenAnswer struct {
	tokenAnswer
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
}

// servePerToken is the person flow's token endpoint: authorization_code
// (with PKCE S256) and refresh_token (rotated on use, limited in life and
// number).
func (s *Sim) servePerToken(w http.ResponseWriter, r *http.Request) {
	st, reason := s.perToken(w, r)
	s.log.Debug().Str("op", OpPerToken).Int("status", st).Str("reason", reason).Msg("sim person token request")
}

func (s *Sim) perToken(w http.ResponseWriter, r *http.Request) (int, string) {
	s.mu.Lock()
	s.calls[OpPerToken]++
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	fail := func(status int, code, desc string) (int, string) {
		writeJSON(w, status, oauthError{Error: code, ErrorDescription: desc})
		return status, desc
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return fail(http.StatusMethodNotAllowed, "invalid_request", "use POST")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return fail(http.StatusBadRequest, "invalid_request", "malformed form body")
	}
	if f := s.takeFault("", OpPerToken); f != nil && f.Kind == FaultTokenRefused {
		return fail(http.StatusUnauthorized, "invalid_client", "fault injected")
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if !secureEqual(id, s.cfg.ClientID) || !secureEqual(secret, s.cfg.ClientSecret) {
		w.Header().Set("WWW-Authenticate", `Basic realm="per"`)
		return fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
	}
	f := r.PostForm
	s.acg.mu.Lock()
	defer s.acg.mu.Unlock()
	now := s.now()
	g, bad := s.perGrant(f, id, now)
	if bad != nil {
		return fail(bad.status, bad.code, bad.desc)
	}
	for k, ri := range s.acg.refresh {
		if !now.Before(ri.expires) {
			delete(s.acg.refresh, k)
		}
	}
	access, refresh := randomToken(), randomToken()
	s.mu.Lock()
	s.pruneTokens(now)
	s.tokens[access] = tokenInfo{expires: now.Add(s.cfg.UserTokenTTL), scope: s.cfg.Scope}
	s.mu.Unlock()
	s.acg.allowed[access] = g.accounts
	s.acg.refresh[refresh] = refreshInfo{grant: g, expires: now.Add(s.cfg.UserRefreshTTL)}
	writeJSON(w, http.StatusOK, personTokenAnswer{
		tokenAnswer:      tokenAnswer{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(s.cfg.UserTokenTTL.Seconds()), Scope: s.cfg.Scope},
		RefreshToken:     refresh,
		RefreshExpiresIn: int64(s.cfg.UserRefreshTTL.Seconds()),
	})
	return http.StatusOK, f.Get("grant_type")
}

// oauthFail is a refused token request: status, OAuth2 error code and
// description.
type oauthFail struct {
	status     int
	code, desc string
}

// perGrant checks an authorization_code or refresh_token request and
// returns the login it continues. Called with s.acg.mu held.
func (s *Sim) perGrant(f url.Values, id string, now time.Time) (*userGrant, *oauthFail) {
	switch f.Get("grant_type") {
	case "authorization_code":
		c, ok := s.acg.codes[f.Get("code")]
		if !ok || now.After(c.expires) {
			delete(s.acg.codes, f.Get("code"))
			return nil, &oauthFail{http.StatusBadRequest, "invalid_grant", "unknown or expired code"}
		}
		delete(s.acg.codes, f.Get("code")) // single use, even when the exchange fails
		if c.clientID != id || c.redirectURI != f.Get("redirect_uri") {
			return nil, &oauthFail{http.StatusBadRequest, "invalid_grant", "redirect_uri or client does not match the code"}
		}
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if v := f.Get("code_verifier"); len(v) < 43 || len(v) > 128 ||
			!secureEqual(base64.RawURLEncoding.EncodeToString(sum[:]), c.challenge) {
			return nil, &oauthFail{http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge"}
		}
		return c.grant, nil
	case "refresh_token":
		rt := f.Get("refresh_token")
		ri, ok := s.acg.refresh[rt]
		delete(s.acg.refresh, rt) // rotated: used once, whatever the outcome
		switch {
		case !ok:
			return nil, &oauthFail{http.StatusBadRequest, "invalid_grant", "unknown or already used refresh token"}
		case !now.Before(ri.expires):
			return nil, &oauthFail{http.StatusBadRequest, "invalid_grant", "refresh token expired"}
		case ri.grant.refreshes >= s.cfg.UserMaxRefreshes:
			return nil, &oauthFail{http.StatusBadRequest, "invalid_grant", "refresh limit reached: log in again"}
		}
		ri.grant.refreshes++
		return ri.grant, nil
	case "":
		return nil, &oauthFail{http.StatusBadRequest, "invalid_request", "grant_type missing"}
	default:
		return nil, &oauthFail{http.StatusBadRequest, "unsupported_grant_type", ""}
	}
}

func randomToken() string {
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

func loginError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = errorPage.Execute(w, msg)
}

var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="sv"><head><meta charset="utf-8"><title>Inloggning misslyckades</title></head>
<body><h1>Inloggning misslyckades</h1><p id="error">{{.}}</p></body></html>
`))

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="sv"><head><meta charset="utf-8"><title>Logga in (simulator)</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}fieldset{margin:1em 0}</style></head>
<body>
<h1>Logga in hos Skatteverket</h1>
<p>Simulator: no BankID here. Pick a test person and the accounts that person may see;
any other account answers felkod 6 (Auktorisation saknas).</p>
<form method="post">
<input type="hidden" name="response_type" value="code">
<input type="hidden" name="client_id" value="{{.Req.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.Req.RedirectURI}}">
<input type="hidden" name="scope" value="{{.Req.Scope}}">
<input type="hidden" name="state" value="{{.Req.State}}">
<input type="hidden" name="code_challenge" value="{{.Req.Challenge}}">
<input type="hidden" name="code_challenge_method" value="S256">
<fieldset><legend>Test person</legend>
{{range $i, $p := .Persons}}<label><input type="radio" name="person" value="{{$p.Index}}" data-masked="{{$p.Masked}}"{{if eq $i 0}} checked{{end}}> {{$p.Label}} ({{$p.Masked}})</label><br>
{{end}}</fieldset>
<fieldset><legend>Accounts this person may see</legend>
{{range .Accounts}}<label><input type="checkbox" name="account" value="{{.Index}}" data-masked="{{.Masked}}"> {{.Masked}}</label><br>
{{end}}</fieldset>
<button type="submit" id="login" name="action" value="login">Logga in</button>
<button type="submit" id="cancel" name="action" value="cancel">Avbryt</button>
</form>
</body></html>
`))
