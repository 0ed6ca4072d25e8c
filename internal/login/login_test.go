package login

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// newBrowser is an HTTP client with its own cookie jar: one "browser".
func newBrowser(t *testing.T, follow bool) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// start posts the accounts to /login/start and returns the authorize
// URL it redirects to.
func (e *testEnv) start(t *testing.T, c *http.Client, accounts string) *url.URL {
	t.Helper()
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nc.PostForm(e.pageURL+"start", url.Values{"accounts": {accounts}})
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("start: status %d, want 303: %s", resp.StatusCode, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// simLogin submits the simulator's login form for the authorize request
// authz (person 0, may see allowed) and returns the callback URL it
// redirects to.
func (e *testEnv) simLogin(t *testing.T, authz *url.URL, allowed ...string) *url.URL {
	t.Helper()
	form := authz.Query()
	form.Set("person", "0")
	form.Set("action", "login")
	for i, a := range e.sim.Accounts() {
		for _, want := range allowed {
			if a.Omfragad == want {
				form.Add("account", strconv.Itoa(i))
			}
		}
	}
	c := newBrowser(t, false)
	resp, err := c.PostForm(authz.Scheme+"://"+authz.Host+authz.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sim login: status %d: %s", resp.StatusCode, body)
	}
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	return resp.StatusCode, body
}

func TestStartUsesPKCEAndState(t *testing.T) {
	e := newTestEnv(t, envOptions{noWorker: true})
	c := newBrowser(t, false)
	a := e.start(t, c, sim.DemoAB)
	q := a.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 {
		t.Errorf("authorize URL has code_challenge_method %q, challenge of %d chars; want S256, 43",
			q.Get("code_challenge_method"), len(q.Get("code_challenge")))
	}
	if len(q.Get("state")) < 40 || q.Get("response_type") != "code" || q.Get("scope") != "ska" {
		t.Errorf("authorize URL query %v: want a long random state, response_type=code, scope=ska", q)
	}
	b := e.start(t, c, sim.DemoAB)
	if b.Query().Get("state") == q.Get("state") || b.Query().Get("code_challenge") == q.Get("code_challenge") {
		t.Error("two logins got the same state or challenge")
	}
	// The cookie binding the state to the browser.
	resp, err := c.PostForm(e.pageURL+"start", url.Values{"accounts": {sim.DemoAB}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName && (!ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure) {
			t.Errorf("cookie HttpOnly %v SameSite %v Secure %v, want true, Lax, false on loopback", ck.HttpOnly, ck.SameSite, ck.Secure)
		}
	}
	// Invalid accounts are refused before any redirect.
	resp, err = c.PostForm(e.pageURL+"start", url.Values{"accounts": {"165566778890"}})
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "id=\"error\"") {
		t.Errorf("bad account: status %d, want 400 with a message", resp.StatusCode)
	}
}

func TestForgedCallbackRefused(t *testing.T) {
	e := newTestEnv(t, envOptions{noWorker: true})
	victim := newBrowser(t, true)
	authz := e.start(t, victim, sim.DemoAB)
	cb := e.simLogin(t, authz, sim.DemoAB)

	// Another browser (no cookie, or its own) presenting the victim's
	// code and state is refused.
	attacker := newBrowser(t, true)
	if st, body := get(t, attacker, cb.String()); st != http.StatusBadRequest || !strings.Contains(body, "påbörjades inte i den här webbläsaren") {
		t.Errorf("callback from another browser: status %d, want 400", st)
	}
	e.start(t, attacker, sim.DemoAB) // the attacker's own cookie does not help
	if st, _ := get(t, attacker, cb.String()); st != http.StatusBadRequest {
		t.Errorf("callback with another browser's cookie: status %d, want 400", st)
	}
	// A forged state in the victim's browser is refused.
	forged := *cb
	q := forged.Query()
	q.Set("state", "forged-"+q.Get("state")[:10])
	forged.RawQuery = q.Encode()
	if st, _ := get(t, victim, forged.String()); st != http.StatusBadRequest {
		t.Errorf("forged state: status %d, want 400", st)
	}
	// A code from another login (injected into the victim's login) fails
	// the PKCE check at the token endpoint.
	other := e.start(t, victim, sim.DemoAB)
	otherCB := e.simLogin(t, other, sim.DemoAB)
	swapped := *cb
	q = swapped.Query()
	q.Set("code", otherCB.Query().Get("code"))
	swapped.RawQuery = q.Encode()
	if st, body := get(t, victim, swapped.String()); st != http.StatusBadGateway || !strings.Contains(body, "invalid_grant") {
		t.Errorf("code of another login: status %d, want 502 invalid_grant", st)
	}
	// The state was used up by that attempt.
	if st, _ := get(t, victim, cb.String()); st != http.StatusBadRequest {
		t.Errorf("replayed state: status %d, want 400", st)
	}
	// The injected code was used up too (a code is single use); a new
	// login completes in the victim's own browser.
	if st, _ := get(t, victim, otherCB.String()); st != http.StatusBadGateway {
		t.Errorf("callback with a used code: status %d, want 502", st)
	}
	st, body := get(t, victim, e.simLogin(t, e.start(t, victim, sim.DemoAB), sim.DemoAB).String())
	if st != http.StatusOK || !strings.Contains(body, "Inloggad") {
		t.Fatalf("genuine callback: status %d\n%s", st, body)
	}
	if n := len(e.login.known()); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}
	e.noSecrets("the log", e.logs.String())
	e.noSecrets("the page", body)
}

func TestSeal(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"access_token":"very-secret-access-token-value"}`)
	sealed := s.seal("session.a", plain)
	if bytes.Contains(sealed, []byte("very-secret")) {
		t.Fatal("sealed value contains the plaintext")
	}
	if bytes.Equal(sealed, s.seal("session.a", plain)) {
		t.Error("sealing twice gave the same bytes: nonce reused")
	}
	got, err := s.open("session.a", sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open = %q, %v; want the plaintext", got, err)
	}
	if _, err := s.open("session.b", sealed); err == nil {
		t.Error("opened under another key name")
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := s.open("session.a", tampered); err == nil {
		t.Error("opened a tampered value")
	}
	other := make([]byte, 32)
	_, _ = rand.Read(other)
	s2, _ := newSealer(other)
	if _, err := s2.open("session.a", sealed); err == nil {
		t.Error("opened with another key")
	}
	if _, err := s.open("session.a", sealed[:5]); err == nil {
		t.Error("opened a truncated value")
	}
	if _, err := New(context.Background(), nil, nil, Config{TokenKey: []byte("short")}); err == nil {
		t.Error("New accepted a token key that is not 32 bytes")
	}
}

func TestTokensSealedInKV(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	e := newTestEnv(t, envOptions{noWorker: true, tokenKey: key})
	c := newBrowser(t, true)
	id := e.logIn(t, c, sim.DemoAB)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := e.js.Stream(ctx, "KV_"+contract.LoginBucket)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := stream.GetLastMsgForSubject(ctx, "$KV."+contract.LoginBucket+"."+loginKey(id))
	if err != nil {
		t.Fatal(err)
	}
	e.noSecrets("the KV value", string(raw.Data))
	// The key lives as long as the refresh token (65 minutes in the sim)
	// and a while more, to show and report the login's end.
	if ttl := raw.Header.Get("Nats-TTL"); ttl == "" {
		t.Error("stored login has no per-key TTL (Nats-TTL header)")
	} else {
		t.Logf("stored login: %d sealed bytes, Nats-TTL %s", len(raw.Data), ttl)
	}

	// Another process with the same key knows the login...
	l2, err := New(ctx, e.nc, e.js, Config{ClientID: sim.DefaultClientID, ClientSecret: sim.DefaultClientSecret,
		AuthorizeURL: e.login.cfg.AuthorizeURL, TokenURL: e.login.cfg.TokenURL, RedirectURL: e.login.cfg.RedirectURL,
		API: e.login.cfg.API, Cadence: time.Hour, TokenKey: key, Logger: e.login.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	api, err := l2.SessionAPI(id)
	if err != nil {
		t.Fatalf("SessionAPI on another process: %v", err)
	}
	if _, _, err := api.Saldo(ctx, mustParse(t, sim.DemoAB)); err != nil {
		t.Errorf("Saldo with the login on another process: %v", err)
	}
	// ...one with another key does not.
	other := make([]byte, 32)
	_, _ = rand.Read(other)
	l3, err := New(ctx, e.nc, e.js, Config{ClientID: sim.DefaultClientID, AuthorizeURL: e.login.cfg.AuthorizeURL,
		TokenURL: e.login.cfg.TokenURL, RedirectURL: e.login.cfg.RedirectURL, API: e.login.cfg.API, TokenKey: other})
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if _, err := l3.SessionAPI(id); err == nil {
		t.Error("a Manager with another key could use the login")
	}

	// Logging out ends the login everywhere and drops its tokens.
	resp, err := c.PostForm(e.pageURL+"logout", url.Values{"login": {id}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	eventually(t, 10*time.Second, "the other process to see the logout", func() bool {
		_, err := l2.SessionAPI(id)
		return errors.Is(err, skv.ErrLoginEnded)
	})
	rec, _, err := e.login.load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Token != nil || rec.End == nil || rec.End.Kind != endLogout {
		t.Errorf("after logout the record keeps a token (%v) or no end (%+v)", rec.Token != nil, rec.End)
	}
	e.noSecrets("the log", e.logs.String())
}

func mustParse(t *testing.T, s string) idnr.Number {
	t.Helper()
	n, err := idnr.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// logIn logs browser c in with accounts (all of which the person may
// see) and returns the login's reference.
func (e *testEnv) logIn(t *testing.T, c *http.Client, accounts ...string) string {
	t.Helper()
	return e.logInAllowed(t, c, accounts, accounts)
}

// logInAllowed logs browser c in with accounts, of which the person may
// see allowed.
func (e *testEnv) logInAllowed(t *testing.T, c *http.Client, accounts, allowed []string) string {
	t.Helper()
	before := map[string]bool{}
	for _, l := range e.login.known() {
		before[l.ref] = true
	}
	cb := e.simLogin(t, e.start(t, c, strings.Join(accounts, " ")), allowed...)
	if st, body := get(t, c, cb.String()); st != http.StatusOK {
		t.Fatalf("callback: %d %s", st, body)
	}
	var ref string
	eventually(t, 10*time.Second, "the new login on the first replica", func() bool {
		for _, l := range e.login.known() {
			if !before[l.ref] {
				ref = l.ref
				return true
			}
		}
		return false
	})
	return ref
}

// encodings are the ways a secret could be written out.
func encodings(b []byte) []string {
	return []string{string(b), hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)}
}
