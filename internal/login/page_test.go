package login

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// TestPageAccess: the page answers only the networks allowed and, behind
// a forward-auth proxy, only requests that name a user; each user sees
// only the logins made under that name.
func TestPageAccess(t *testing.T) {
	t.Run("network not allowed", func(t *testing.T) {
		e := newTestEnv(t, envOptions{noWorker: true, config: func(c *Config) {
			c.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		}})
		for _, path := range []string{"", "start", "callback?state=x&code=y", "logout"} {
			req, _ := http.NewRequest(http.MethodGet, e.pageURL+path, nil)
			if path == "start" || path == "logout" {
				req, _ = http.NewRequest(http.MethodPost, e.pageURL+path, strings.NewReader("accounts="+sim.DemoAB))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "accounts") {
				t.Errorf("%s from a network not allowed: %d", path, resp.StatusCode)
			}
		}
	})
	t.Run("forward auth", func(t *testing.T) {
		e := newTestEnv(t, envOptions{noWorker: true, config: func(c *Config) { c.ForwardAuthHeader = "X-Forwarded-User" }})
		c := newBrowser(t, true)
		if st, _ := get(t, c, e.pageURL); st != http.StatusForbidden {
			t.Errorf("no forwarded user: %d, want 403", st)
		}
		as := func(user string) *http.Client {
			nc := *c
			nc.Transport = userTransport{user}
			return &nc
		}
		alice := as("alice@example.se")
		if st, _ := get(t, alice, e.pageURL); st != http.StatusOK {
			t.Fatalf("forwarded user: %d, want 200", st)
		}
		e.logIn(t, alice, sim.DemoAB)
		if _, body := get(t, alice, e.pageURL); !strings.Contains(body, `data-login="lg-`) {
			t.Error("the user does not see her login")
		}
		// The same browser (cookie) under another name sees nothing.
		if _, body := get(t, as("mallory@example.se"), e.pageURL); strings.Contains(body, `data-login="lg-`) {
			t.Error("another user with the same cookie sees the login")
		}
	})
}

type userTransport struct{ user string }

func (u userTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-User", u.user)
	return http.DefaultTransport.RoundTrip(r)
}

// TestStartLimits: a client may start only so many logins a minute, and
// only so many may be under way at once; anonymous posts beyond that
// allocate nothing.
func TestStartLimits(t *testing.T) {
	e := newTestEnv(t, envOptions{noWorker: true, config: func(c *Config) { c.StartsPerMinute, c.MaxPending = 3, 100 }})
	c := newBrowser(t, false)
	post := func() int {
		resp, err := c.PostForm(e.pageURL+"start", url.Values{"accounts": {sim.DemoAB}})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		return resp.StatusCode
	}
	for i := range 3 {
		if st := post(); st != http.StatusSeeOther {
			t.Fatalf("start %d: %d, want 303", i+1, st)
		}
	}
	if st := post(); st != http.StatusTooManyRequests {
		t.Errorf("fourth start within the minute: %d, want 429", st)
	}
}

func TestGuard(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC)
	type step struct {
		client string
		at     time.Duration
		want   int
	}
	for _, tc := range []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"starts per client and clients a minute", Config{StartsPerMinute: 2, MaxPending: 100, MaxClients: 2}, []step{
			{"a", 0, startOK},
			{"a", time.Second, startOK},
			{"a", 2 * time.Second, startRateLimited}, // 2 a minute
			{"b", 3 * time.Second, startOK},
			{"c", 4 * time.Second, startBusy}, // 2 clients a minute
			{"b", 5 * time.Second, startOK},
			// The next minute begins: a's two of the last minute count whole...
			{"a", 30 * time.Second, startRateLimited},
			// ...and half, half a minute on.
			{"a", 60 * time.Second, startOK},
			{"c", 61 * time.Second, startOK},
			// Two minutes on, nothing is remembered.
			{"a", 3 * time.Minute, startOK},
			{"a", 3*time.Minute + time.Second, startOK},
		}},
		{"logins under way", Config{StartsPerMinute: 100, MaxPending: 3, MaxClients: 100}, []step{
			{"a", 0, startOK},
			{"b", 0, startOK},
			{"c", time.Minute, startOK},
			{"d", 2 * time.Minute, startBusy},
			{"d", pendingTTL + time.Second, startOK}, // a's and b's are back or abandoned
			{"e", pendingTTL + time.Second, startOK},
			{"f", pendingTTL + time.Second, startBusy},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := tc.cfg.withDefaults()
			g := newGuard(cfg)
			for i, s := range tc.steps {
				if got := g.start(s.client, t0.Add(s.at)); got != s.want {
					t.Errorf("step %d (%s at +%v): %d, want %d", i, s.client, s.at, got, s.want)
				}
			}
		})
	}
}

func BenchmarkGuardStart(b *testing.B) {
	cfg, _ := Config{StartsPerMinute: 5, MaxPending: 1 << 20, MaxClients: 1 << 20}.withDefaults()
	g := newGuard(cfg)
	clients := make([]string, 1<<16)
	for i := range clients {
		clients[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		g.start(clients[i&(len(clients)-1)], now.Add(time.Duration(i)*time.Microsecond))
	}
}

func TestClientAddress(t *testing.T) {
	g := newGuard(Config{})
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.7:5555", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:1", "192.0.2.7"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/login/start", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("X-Forwarded-For", "203.0.113.9") // never trusted
		if got := g.client(r, ""); got != tc.want {
			t.Errorf("client(%s) = %s, want %s", tc.remote, got, tc.want)
		}
	}
}

// TestPageLanguageZoneAndSimulator: Swedish by default, English on
// request; times in Swedish time with the zone; a notice when the
// endpoints are the simulator's.
func TestPageLanguageZoneAndSimulator(t *testing.T) {
	e := newTestEnv(t, envOptions{noWorker: true, config: func(c *Config) { c.Simulator = true }})
	c := newBrowser(t, true)
	e.logIn(t, c, sim.DemoAB)
	for _, tc := range []struct {
		query, acceptLanguage, want, notWant string
	}{
		{"", "", "Hämta skattekonton", "Fetch tax accounts"},
		{"", "en-GB,en;q=0.8", "Fetch tax accounts", "Hämta skattekonton"},
		{"", "en-US,en;q=0.9,sv;q=0.8", "Hämta skattekonton", "Fetch tax accounts"},
		{"", "de-DE", "Hämta skattekonton", "Fetch tax accounts"},
		{"?lang=en", "sv-SE", "Fetch tax accounts", "Hämta skattekonton"},
		{"?lang=sv", "en", "Hämta skattekonton", "Fetch tax accounts"},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.pageURL+tc.query, nil)
		if tc.acceptLanguage != "" {
			req.Header.Set("Accept-Language", tc.acceptLanguage)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if !strings.Contains(body, tc.want) || strings.Contains(body, tc.notWant) {
			t.Errorf("%q with Accept-Language %q: want %q, not %q", tc.query, tc.acceptLanguage, tc.want, tc.notWant)
		}
		if !strings.Contains(body, `id="simulator"`) {
			t.Errorf("%q: no simulator notice", tc.query)
		}
		if !strings.Contains(body, " CET") && !strings.Contains(body, " CEST") {
			t.Errorf("%q: no time with its zone", tc.query)
		}
		if !strings.Contains(body, "Europe/Stockholm") {
			t.Errorf("%q: the zone is not named", tc.query)
		}
	}
	if got := stockholm(time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)); got != "2026-07-01 12:00:00 CEST" {
		t.Errorf("summer time: %s", got)
	}
	if got := stockholm(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)); got != "2026-12-01 11:00:00 CET" {
		t.Errorf("winter time: %s", got)
	}
	// Without the simulator no notice.
	e2 := newTestEnv(t, envOptions{noWorker: true})
	if _, body := get(t, newBrowser(t, true), e2.pageURL); strings.Contains(body, `id="simulator"`) {
		t.Error("simulator notice without the simulator")
	}
}

// TestHostCookieOverTLS: served over https, the browser cookie is
// __Host- prefixed, Secure, Path=/ and without Domain.
func TestHostCookieOverTLS(t *testing.T) {
	m, err := New(t.Context(), nil, nil, Config{ClientID: "c", AuthorizeURL: "https://idp.example.se/authorize",
		TokenURL: "https://idp.example.se/token", RedirectURL: "https://skattekonto.example.se/login/callback"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := httptest.NewRequest(http.MethodPost, StartPath, strings.NewReader("accounts="+sim.DemoAB))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "127.0.0.1:1234"
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies", len(cookies))
	}
	ck := cookies[0]
	if ck.Name != "__Host-skattekonto_login" || !ck.Secure || ck.Path != "/" || ck.Domain != "" || !ck.HttpOnly {
		t.Errorf("cookie %s Secure %v Path %q Domain %q HttpOnly %v; want __Host-skattekonto_login, Secure, /, none, HttpOnly",
			ck.Name, ck.Secure, ck.Path, ck.Domain, ck.HttpOnly)
	}
	// The callback reads the __Host- cookie and nothing else.
	r = httptest.NewRequest(http.MethodGet, CallbackPath+"?state=x&code=y", nil)
	r.RemoteAddr = "127.0.0.1:1234"
	r.AddCookie(&http.Cookie{Name: cookieName, Value: ck.Value})
	if m.browserID(r) != "" {
		t.Error("the plain cookie name is read over https")
	}
	r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	if m.browserID(r) != ck.Value {
		t.Error("the __Host- cookie is not read")
	}
}
