package skv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

const (
	testClientID     = "test-client-id"
	testClientSecret = "s3cret-never-logged"
)

var testOrg = idnr.MustParse("165566778899")

// fakeSKV is a small stand-in for the token endpoint and the API.
type fakeSKV struct {
	t testing.TB

	tokenCount  atomic.Int32
	tokenStatus int    // status of token answers, 0 = 200
	tokenScope  string // granted scope, "" = "ska"
	expiresIn   int    // 0 = 3600

	mu       sync.Mutex
	requests []*http.Request // API requests received
	api      http.HandlerFunc
}

func (f *fakeSKV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		f.serveToken(w, r)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	api := f.api
	f.mu.Unlock()
	if api == nil {
		http.NotFound(w, r)
		return
	}
	api(w, r)
}

func (f *fakeSKV) serveToken(w http.ResponseWriter, r *http.Request) {
	n := f.tokenCount.Add(1)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if got := r.PostForm.Get("grant_type"); got != "client_credentials" {
		f.t.Errorf("token request grant_type = %q, want client_credentials", got)
	}
	// The client authenticates with HTTP Basic (RFC 6749 §2.3.1) or, where
	// that was refused, with the credentials in the form.
	id, _, ok := r.BasicAuth()
	if !ok {
		id = r.PostForm.Get("client_id")
	}
	if id != testClientID {
		f.t.Errorf("token request client id = %q, want %q", id, testClientID)
	}
	if f.tokenStatus != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.tokenStatus)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	scope := f.tokenScope
	if scope == "" {
		scope = "ska"
	}
	exp := f.expiresIn
	if exp == 0 {
		exp = 3600
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": fmt.Sprintf("tok-%d", n),
		"token_type":   "Bearer",
		"expires_in":   exp,
		"scope":        scope,
	})
}

func (f *fakeSKV) received() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.requests...)
}

// newFake starts a fake with api as the API handler.
func newFake(t testing.TB, api http.HandlerFunc) (*fakeSKV, *httptest.Server) {
	t.Helper()
	f := &fakeSKV{t: t, api: api}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// testConfig is a config for srv with short timeouts and backoff.
func testConfig(srv *httptest.Server) Config {
	return Config{
		BaseURL:         srv.URL + "/v2",
		TokenURL:        srv.URL + "/token",
		ClientID:        testClientID,
		ClientSecret:    testClientSecret,
		Timeout:         5 * time.Second,
		MaxAttempts:     3,
		InitialInterval: time.Millisecond,
		MaxInterval:     2 * time.Millisecond,
		MaxElapsed:      10 * time.Second,
	}
}

func newTestClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// respond answers with status and body.
func respond(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// sequence answers the n-th API request with answers[n] (the last one
// repeats).
func sequence(answers ...func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(answers) {
			i = len(answers) - 1
		}
		answers[i](w, r)
	}
}

func answer(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) { respond(w, status, body) }
}

const saldoBody = `{"saldoSkatteverket":-14487,"saldoKronofogden":-145409,"rantaSkatteverket":-12,"rantaKronofogden":-10,` +
	`"ocrNummer":"1948040320946","nastaAvstamningsdatum":"2026-12-05","senastUppdaterad":"2019-05-06T03:04:05Z"}`

func int64p(v int64) *int64 { return &v }

func strp(s string) *string { return &s }

func boolp(b bool) *bool { return &b }

func mustNotContainSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{testClientSecret, "tok-"} {
		if strings.Contains(s, secret) {
			t.Errorf("text %q contains a secret", s)
		}
	}
}
