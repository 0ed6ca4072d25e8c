package sim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testNow is 2026-03-05 10:00 Swedish time (09:00 UTC).
var testNow = time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)

// sleepRecorder replaces Sim.sleep: it records durations and returns at
// once (or the context's error).
type sleepRecorder struct {
	mu sync.Mutex
	ds []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.ds = append(r.ds, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *sleepRecorder) slept() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.ds...)
}

type env struct {
	t      *testing.T
	sim    *Sim
	clock  *fakeClock
	sleeps *sleepRecorder
	srv    *httptest.Server
	token  string
	n      int
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	clock := &fakeClock{t: testNow}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	s := New(cfg)
	rec := &sleepRecorder{}
	s.sleep = rec.sleep
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(s.Close)
	e := &env{t: t, sim: s, clock: clock, sleeps: rec, srv: srv}
	return e
}

// fetchToken gets a token from the token endpoint with the default
// credentials, failing the test on error.
func (e *env) fetchToken() string {
	e.t.Helper()
	st, body, _ := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "scope": {"ska"}}, DefaultClientID, DefaultClientSecret, true)
	if st != http.StatusOK {
		e.t.Fatalf("token: status %d body %s", st, body)
	}
	var ta struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &ta); err != nil {
		e.t.Fatal(err)
	}
	return ta.AccessToken
}

func (e *env) tokenRequest(form url.Values, id, secret string, basic bool) (int, []byte, http.Header) {
	e.t.Helper()
	if !basic {
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequest(http.MethodPost, e.sim.TokenURL(e.srv.URL), strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(id, secret)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) (int, []byte, http.Header) {
	e.t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// apiRequest builds a fully authorised API request; mod may change it.
func (e *env) apiRequest(op, omf, query string, mod func(*http.Request)) *http.Request {
	e.t.Helper()
	if e.token == "" {
		e.token = e.fetchToken()
	}
	u := e.sim.BaseURL(e.srv.URL) + "/skattekonton/" + omf + "/" + op
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.n++
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("client_id", DefaultClientID)
	req.Header.Set("client_secret", DefaultClientSecret)
	req.Header.Set("SKV-client_correlationid", "corr-"+strconv.Itoa(e.n))
	if mod != nil {
		mod(req)
	}
	return req
}

func (e *env) get(op, omf, query string) (int, []byte) {
	e.t.Helper()
	st, b, _ := e.send(e.apiRequest(op, omf, query, nil))
	return st, b
}

// admin sends a JSON admin request.
func (e *env) admin(method, path, body string) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	st, b, _ := e.send(req)
	return st, b
}

func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// keys returns the top-level keys of a JSON object.
func keys(t *testing.T, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	mustDecode(t, b, &m)
	return m
}

func i64(n int64) *int64 { return &n }

// testAccount is a small fixed account.
func testAccount() Account {
	return Account{
		Omfragad:          "165566778899",
		SaldoSkatteverket: -14487, SaldoKronofogden: -145409,
		RantaSkatteverket: -12, RantaKronofogden: -10,
		NastaAvstamningsdatum: "2026-04-04",
		Utbetalningskonto:     ptr("8327-9, 123 456 789-0"),
		Tidigare: []Transaction{
			{Transaktionsidentitet: 11, Transaktionsdatum: "2024-01-12", Transaktionstext: "Debiterad preliminärskatt", BeloppSkatteverket: i64(-1000)},
			{Transaktionsidentitet: 12, Transaktionsdatum: "2025-12-12", Transaktionstext: "Moms oktober 2025", BeloppSkatteverket: i64(-2000)},
			{Transaktionsidentitet: 13, Transaktionsdatum: "2026-02-26", Ranteberakningsdatum: "2026-02-20", Transaktionstext: "Kostnadsränta", BeloppKronofogden: i64(-30)},
			{Transaktionsidentitet: 10, Transaktionsdatum: "2023-05-12", Transaktionstext: "Slutlig skatt", BeloppSkatteverket: i64(-500)},
		},
		Kommande: []Transaction{
			{Transaktionsdatum: "2026-03-12", Forfallodatum: "2026-03-12", Beslutsdatum: "2026-02-20", Transaktionstext: "Moms januari 2026", BeloppSkatteverket: i64(-6250)},
		},
		Sparrar: []Block{{Sparridentitet: 7001, DatumFrom: "2026-01-01", DatumTom: "2026-06-30", Sparrbelopp: i64(25000), Totalsparr: ptr(false)}},
	}
}
