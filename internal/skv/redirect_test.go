package skv

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// elsewhere is a second server a redirect points to. It records whether it
// was called and with which headers.
type elsewhere struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []http.Header
}

func newElsewhere(t *testing.T) *elsewhere {
	t.Helper()
	e := &elsewhere{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.hits = append(e.hits, r.Header.Clone())
		e.mu.Unlock()
		respond(w, http.StatusOK, saldoBody)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *elsewhere) received() []http.Header {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]http.Header(nil), e.hits...)
}

// host is the host:port a redirect to e names.
func (e *elsewhere) host() string { u, _ := url.Parse(e.srv.URL); return u.Host }

// redirectTo answers with status and a Location on e whose query holds
// something that must never show up in an error.
func redirectTo(e *elsewhere, status int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.srv.URL+"/collect?leak=query-must-not-show", status)
	}
}

// checkRedirectRefused checks that err is a redirect not followed, naming
// status and e's host but not the Location's query, and that e was never
// called (so no header, the client secret included, reached it).
func checkRedirectRefused(t *testing.T, err error, status int, e *elsewhere) {
	t.Helper()
	if got := e.received(); len(got) != 0 {
		var leaked []string
		for _, h := range got {
			for _, name := range []string{"client_id", "client_secret", "Authorization"} {
				if h.Get(name) != "" {
					leaked = append(leaked, name)
				}
			}
		}
		t.Errorf("the redirect was followed: the other host got %d requests (with %v)", len(got), leaked)
	}
	if !errors.Is(err, ErrRedirect) {
		t.Fatalf("error = %v, want one wrapping ErrRedirect", err)
	}
	var re *RedirectError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want a *RedirectError in it", err)
	}
	if re.Status != status || re.Host != e.host() {
		t.Errorf("RedirectError = {Status %d, Host %q}, want {Status %d, Host %q}", re.Status, re.Host, status, e.host())
	}
	if Retryable(err) {
		t.Errorf("Retryable(%v) = true, want false", err)
	}
	if strings.Contains(err.Error(), "query-must-not-show") || strings.Contains(err.Error(), "/collect") {
		t.Errorf("error %q shows the Location's path or query", err)
	}
	mustNotContainSecrets(t, err.Error())
}

// The API's redirects are never followed: Go would send the client_id and
// client_secret headers to the new host, even over plain http. A redirect
// is a permanent error, not retried.
func TestAPIRedirectNotFollowed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		own    bool // Config.HTTPClient set by the caller
	}{
		{"302", http.StatusFound, false},
		{"301", http.StatusMovedPermanently, false},
		{"303", http.StatusSeeOther, false},
		{"307", http.StatusTemporaryRedirect, false},
		{"308", http.StatusPermanentRedirect, false},
		{"307 with the caller's http.Client", http.StatusTemporaryRedirect, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newElsewhere(t)
			f, srv := newFake(t, redirectTo(e, tc.status))
			cfg := testConfig(srv)
			var own *http.Client
			if tc.own {
				own = &http.Client{}
				cfg.HTTPClient = own
			}
			c := newTestClient(t, cfg)
			_, tr, err := c.Saldo(context.Background(), testOrg)
			checkRedirectRefused(t, err, tc.status, e)
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != tc.status || ae.Op != OpSaldo {
				t.Errorf("error = %v, want an *Error of saldo with status %d", err, tc.status)
			}
			if n := len(f.received()); n != 1 || tr.Attempts() != 1 {
				t.Errorf("API called %d times (trace %d attempts), want 1: a redirect is not retried", n, tr.Attempts())
			}
			if own != nil && own.CheckRedirect != nil {
				t.Error("New changed the caller's http.Client")
			}
		})
	}
}

// The token endpoint's redirects are not followed either: a 307 or 308
// would resend the form, client secret and all, to the new host.
func TestTokenRedirectNotFollowed(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			e := newElsewhere(t)
			var tokenCalls atomic.Int32
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/token" {
					tokenCalls.Add(1)
					redirectTo(e, status)(w, r)
					return
				}
				t.Errorf("API called without a token: %s", r.URL.Path)
				respond(w, http.StatusOK, saldoBody)
			}))
			t.Cleanup(api.Close)
			c := newTestClient(t, testConfig(api))
			err := c.Token(context.Background())
			checkRedirectRefused(t, err, status, e)
			// The oauth2 package tries HTTP Basic, then the form: two
			// requests. A retry would make more.
			before := tokenCalls.Load()
			if before > 2 {
				t.Errorf("token endpoint called %d times, want at most 2", before)
			}
			_, _, err = c.Saldo(context.Background(), testOrg)
			checkRedirectRefused(t, err, status, e)
			if n := tokenCalls.Load() - before; n > 2 {
				t.Errorf("Saldo called the token endpoint %d times, want at most 2: a redirect is not retried", n)
			}
		})
	}
}
