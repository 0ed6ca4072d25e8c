package sim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-padded-to-be-long"
	testRedirect = "http://127.0.0.1:8080/login/callback"
)

func challenge(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func authorizeParams() url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {DefaultClientID}, "redirect_uri": {testRedirect},
		"scope": {"ska"}, "state": {"st-1"}, "code_challenge": {challenge(testVerifier)}, "code_challenge_method": {"S256"},
	}
}

// noRedirect is a client that shows redirects instead of following them.
func noRedirect(e *env) *http.Client {
	c := *e.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// login posts the login form for person 0 and the given accounts and
// returns the code from the redirect.
func (e *env) login(t *testing.T, accounts ...string) string {
	t.Helper()
	form := authorizeParams()
	form.Set("person", "0")
	form.Set("action", "login")
	for i, a := range e.sim.Accounts() {
		for _, want := range accounts {
			if a.Omfragad == want {
				form.Add("account", strconv.Itoa(i))
			}
		}
	}
	resp, err := noRedirect(e).PostForm(e.sim.AuthorizeURL(e.srv.URL), form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Query().Get("state"); got != "st-1" {
		t.Fatalf("state = %q, want st-1", got)
	}
	if !strings.HasPrefix(loc.String(), testRedirect+"?") {
		t.Fatalf("redirect to %s, want %s", loc, testRedirect)
	}
	return loc.Query().Get("code")
}

type perTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
}

func (e *env) perToken(t *testing.T, form url.Values) (int, perTokens) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.sim.PerTokenURL(e.srv.URL), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
	st, b, _ := e.send(req)
	var pt perTokens
	if err := json.Unmarshal(b, &pt); err != nil {
		t.Fatalf("token answer %s: %v", b, err)
	}
	return st, pt
}

func exchange(code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
}

func TestAuthorizeValidates(t *testing.T) {
	e := newEnv(t, Config{})
	e.sim.SeedDemo()
	for _, tc := range []struct {
		name      string
		change    func(url.Values)
		status    int    // answered on the page
		redirErr  string // or sent back to the client
		wantState bool
	}{
		{"ok", func(url.Values) {}, http.StatusOK, "", false},
		{"unknown client", func(v url.Values) { v.Set("client_id", "other") }, http.StatusBadRequest, "", false},
		{"foreign redirect", func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") }, http.StatusBadRequest, "", false},
		{"no state", func(v url.Values) { v.Del("state") }, http.StatusFound, "invalid_request", false},
		{"plain pkce", func(v url.Values) { v.Set("code_challenge_method", "plain") }, http.StatusFound, "invalid_request", true},
		{"no challenge", func(v url.Values) { v.Del("code_challenge") }, http.StatusFound, "invalid_request", true},
		{"token flow", func(v url.Values) { v.Set("response_type", "token") }, http.StatusFound, "unsupported_response_type", true},
		{"wrong scope", func(v url.Values) { v.Set("scope", "skahmst") }, http.StatusFound, "invalid_scope", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := authorizeParams()
			tc.change(q)
			resp, err := noRedirect(e).Get(e.sim.AuthorizeURL(e.srv.URL) + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.redirErr != "" {
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if got := loc.Query().Get("error"); got != tc.redirErr {
					t.Errorf("error = %q, want %q", got, tc.redirErr)
				}
				if got := loc.Query().Get("state") != ""; got != tc.wantState {
					t.Errorf("state echoed %v, want %v", got, tc.wantState)
				}
			}
		})
	}
}

func TestLoginPageMasksPersons(t *testing.T) {
	e := newEnv(t, Config{})
	e.sim.SeedDemo()
	resp, err := e.srv.Client().Get(e.sim.AuthorizeURL(e.srv.URL) + "?" + authorizeParams().Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, p := range DefaultPersons() {
		if !ValidOmfragad(p.Personnummer) {
			t.Errorf("test person %s fails the Luhn check", Mask(p.Personnummer))
		}
		if strings.Contains(page, p.Personnummer) {
			t.Errorf("login page shows personnummer %s whole", Mask(p.Personnummer))
		}
	}
	if !strings.Contains(page, DemoAB) {
		t.Errorf("login page does not offer organisation account %s", DemoAB)
	}
}

func TestPersonFlow(t *testing.T) {
	e := newEnv(t, Config{UserTokenTTL: time.Minute, UserRefreshTTL: 5 * time.Minute, UserMaxRefreshes: 2})
	e.sim.SeedDemo()

	code := e.login(t, DemoAB)
	if st, pt := e.perToken(t, exchange(code, testVerifier+"x")); st != http.StatusBadRequest || pt.Error != "invalid_grant" {
		t.Fatalf("wrong verifier: status %d error %q, want 400 invalid_grant", st, pt.Error)
	}
	// The code was used up by the failed exchange.
	if st, _ := e.perToken(t, exchange(code, testVerifier)); st != http.StatusBadRequest {
		t.Fatalf("reused code: status %d, want 400", st)
	}

	code = e.login(t, DemoAB)
	wrongRedirect := exchange(code, testVerifier)
	wrongRedirect.Set("redirect_uri", "http://127.0.0.1:9/other")
	if st, _ := e.perToken(t, wrongRedirect); st != http.StatusBadRequest {
		t.Fatalf("other redirect_uri: status %d, want 400", st)
	}

	code = e.login(t, DemoAB)
	st, pt := e.perToken(t, exchange(code, testVerifier))
	if st != http.StatusOK || pt.AccessToken == "" || pt.RefreshToken == "" || pt.Scope != "ska" || pt.ExpiresIn != 60 {
		t.Fatalf("exchange: status %d %+v", st, pt)
	}
	e.token = pt.AccessToken
	if st, b := e.get(OpSaldo, DemoAB, ""); st != http.StatusOK {
		t.Fatalf("allowed account: status %d %s", st, b)
	}
	st, b := e.get(OpSaldo, DemoABInfo, "")
	var fk felkodError
	mustDecode(t, b, &fk)
	if st != http.StatusForbidden || fk.Felkod != 6 {
		t.Fatalf("account not allowed: status %d felkod %d, want 403 felkod 6", st, fk.Felkod)
	}
	// An organisation token still sees every account.
	e.token = ""
	if st, _ := e.get(OpSaldo, DemoABInfo, ""); st != http.StatusOK {
		t.Fatalf("organisation token: status %d", st)
	}

	// Refresh: rotation and the limit.
	refresh := func(rt string) (int, perTokens) {
		return e.perToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	rt := pt.RefreshToken
	for i := 1; i <= 2; i++ {
		st, next := refresh(rt)
		if st != http.StatusOK || next.RefreshToken == "" || next.RefreshToken == rt {
			t.Fatalf("refresh %d: status %d, new refresh token %v", i, st, next.RefreshToken != rt)
		}
		if st, old := refresh(rt); st != http.StatusBadRequest || old.Error != "invalid_grant" {
			t.Fatalf("refresh %d: the rotated-out token answered %d %q, want 400 invalid_grant", i, st, old.Error)
		}
		rt = next.RefreshToken
	}
	if st, last := refresh(rt); st != http.StatusBadRequest || last.Error != "invalid_grant" {
		t.Fatalf("refresh beyond the limit: status %d %q, want 400 invalid_grant", st, last.Error)
	}

	// A refresh token expires.
	code = e.login(t, DemoAB)
	_, pt = e.perToken(t, exchange(code, testVerifier))
	e.clock.Add(5 * time.Minute)
	if st, _ := refresh(pt.RefreshToken); st != http.StatusBadRequest {
		t.Fatalf("expired refresh token: status %d, want 400", st)
	}
}
