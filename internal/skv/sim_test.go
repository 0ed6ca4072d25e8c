package skv

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// Tests of the first contact with an API that differs from our guesses,
// against the simulator over real HTTP.

// simEnv is a simulator behind an HTTP server that records the headers of
// every request it receives.
type simEnv struct {
	sim *sim.Sim
	srv *httptest.Server

	mu      sync.Mutex
	headers []http.Header
}

func newSimEnv(t *testing.T, cfg sim.Config) *simEnv {
	t.Helper()
	e := &simEnv{sim: sim.New(cfg)}
	h := e.sim.Handler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.headers = append(e.headers, r.Header.Clone())
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.sim.Close)
	acct := sim.Account{
		Omfragad:          testOrg.String(),
		SaldoSkatteverket: -14487, SaldoKronofogden: -145409, RantaSkatteverket: -12, RantaKronofogden: -10,
		Tidigare: []sim.Transaction{{Transaktionsdatum: "2026-01-12", Transaktionstext: "Debiterad preliminärskatt", BeloppSkatteverket: int64p(-1000)}},
		Kommande: []sim.Transaction{{Forfallodatum: "2099-01-12", Transaktionstext: "Moms november 2098", BeloppSkatteverket: int64p(-500)}},
		Sparrar:  []sim.Block{{Sparridentitet: 4711, DatumFrom: "2026-01-01", Sparrbelopp: int64p(50000)}},
	}
	if err := e.sim.PutAccount(acct); err != nil {
		t.Fatal(err)
	}
	return e
}

// config is a client configuration for the simulator with fast retries.
func (e *simEnv) config() Config {
	return Config{
		BaseURL:         e.sim.BaseURL(e.srv.URL),
		TokenURL:        e.sim.TokenURL(e.srv.URL),
		ClientID:        sim.DefaultClientID,
		ClientSecret:    sim.DefaultClientSecret,
		Timeout:         5 * time.Second,
		MaxAttempts:     3,
		InitialInterval: time.Millisecond,
		MaxInterval:     2 * time.Millisecond,
		MaxElapsed:      10 * time.Second,
	}
}

func (e *simEnv) received() []http.Header {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]http.Header(nil), e.headers...)
}

const movedBlocks = "/skattekonton/{omfragad}/sparrinformation"

func TestBlocksUnderAnotherPathWithoutTheSetting(t *testing.T) {
	e := newSimEnv(t, sim.Config{})
	if err := e.sim.SetPath(sim.OpUtbetalningssparrar, movedBlocks); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, e.config())
	ctx := context.Background()
	_, tr, err := c.Utbetalningssparrar(ctx, testOrg)
	if !errors.Is(err, ErrOperationUnavailable) {
		t.Fatalf("error %v, want ErrOperationUnavailable", err)
	}
	u, ok := AsUnavailable(err)
	if !ok || u.Operation != OpUtbetalningssparrar || u.HTTPStatus != http.StatusNotFound || u.CorrelationID != tr.CorrelationID() || u.CorrelationID == "" {
		t.Errorf("AsUnavailable = %+v, %v; trace correlation id %s", u, ok, tr.CorrelationID())
	}
	if u.Path != DefaultPaths[OpUtbetalningssparrar] {
		t.Errorf("unavailable path %q, want the template called", u.Path)
	}
	if tr.Attempts() != 1 || Retryable(err) {
		t.Errorf("attempts %d, retryable %v: an unavailable operation is asked once", tr.Attempts(), Retryable(err))
	}
	var e2 *Error
	if !errors.As(err, &e2) || e2.Felkod != 0 || e2.Op != OpUtbetalningssparrar {
		t.Errorf("error %+v", e2)
	}
	if strings.Contains(err.Error(), testOrg.String()) {
		t.Errorf("error shows the identity number: %v", err)
	}
	// The other operations are unaffected.
	if _, _, err := c.Saldo(ctx, testOrg); err != nil {
		t.Errorf("saldo: %v", err)
	}
	if _, _, err := c.Transaktioner(ctx, testOrg, ""); err != nil {
		t.Errorf("transaktioner: %v", err)
	}
}

func TestBlocksUnderAnotherPathWithTheSetting(t *testing.T) {
	e := newSimEnv(t, sim.Config{})
	if err := e.sim.SetPath(sim.OpUtbetalningssparrar, movedBlocks); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Paths = map[Operation]string{OpUtbetalningssparrar: movedBlocks}
	c := newTestClient(t, cfg)
	got, tr, err := c.Utbetalningssparrar(context.Background(), testOrg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sparrar) != 1 || got.Sparrar[0].Sparridentitet != "4711" || tr.Drift != nil {
		t.Errorf("blocks %+v, drift %v", got.Sparrar, tr.Drift)
	}
	if p := c.Config().Paths; p[OpUtbetalningssparrar] != movedBlocks || p[OpSaldo] != DefaultPaths[OpSaldo] {
		t.Errorf("Config().Paths = %v", p)
	}
}

func TestFelkod3IsNotUnavailable(t *testing.T) {
	e := newSimEnv(t, sim.Config{})
	c := newTestClient(t, e.config())
	_, _, err := c.Saldo(context.Background(), idnr.MustParse(sim.WithCheckDigit("16123456789")))
	var se *Error
	if !errors.As(err, &se) || se.Felkod != 3 || se.Status != http.StatusNotFound {
		t.Fatalf("error %v, want felkod 3", err)
	}
	if errors.Is(err, ErrOperationUnavailable) {
		t.Errorf("felkod 3 taken for an unavailable operation")
	}
	if _, ok := AsUnavailable(err); ok {
		t.Errorf("AsUnavailable on felkod 3")
	}
}

func TestPathTemplateConfig(t *testing.T) {
	for _, tt := range []struct {
		name, template string
		ok             bool
	}{
		{"default", "/skattekonton/{omfragad}/saldo", true},
		{"other segments", "/konton/{omfragad}/dagssaldo", true},
		{"identity last", "/saldo/{omfragad}", true},
		{"path characters", "/a-b_c.d~e!$&'()*+,;=:@/{omfragad}", true},
		{"no placeholder", "/skattekonton/saldo", false},
		{"two placeholders", "/{omfragad}/{omfragad}", false},
		{"empty", "", false},
		{"relative", "skattekonton/{omfragad}/saldo", false},
		{"scheme and host", "https://evil.example/{omfragad}", false},
		{"network path", "//evil.example/{omfragad}", false},
		{"query", "/skattekonton/{omfragad}/saldo?datum=2026-01-01", false},
		{"fragment", "/skattekonton/{omfragad}/saldo#x", false},
		{"dot dot", "/skattekonton/../{omfragad}", false},
		{"dot", "/./{omfragad}", false},
		{"escape", "/skattekonton/%2e%2e/{omfragad}", false},
		{"space", "/skatte konton/{omfragad}", false},
		{"other braces", "/{id}/{omfragad}", false},
		{"trailing slash", "/skattekonton/{omfragad}/", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPathTemplate(tt.template)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckPathTemplate(%q) = %v, want ok %v", tt.template, err, tt.ok)
			}
			cfg := Config{BaseURL: "https://api.test.skatteverket.se/v2", TokenURL: "https://t.example/token", ClientID: "id",
				Paths: map[Operation]string{OpSaldo: tt.template}}
			_, err = New(cfg)
			if tt.ok != (err == nil) {
				t.Fatalf("New: %v, want ok %v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "Paths[saldo]") {
				t.Errorf("error %q does not name Paths[saldo]", err)
			}
		})
	}
	_, err := New(Config{BaseURL: "https://a.example/v2", TokenURL: "https://t.example/token", ClientID: "id",
		Paths: map[Operation]string{"kontoutdrag": "/x/{omfragad}"}})
	if err == nil || !strings.Contains(err.Error(), "Paths") {
		t.Errorf("unknown operation: %v", err)
	}
}

func TestPathTemplateSendsTheIdentityNumberOnce(t *testing.T) {
	e := newSimEnv(t, sim.Config{})
	if err := e.sim.SetPath(sim.OpSaldo, "/saldo/{omfragad}"); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.Paths = map[Operation]string{OpSaldo: "/saldo/{omfragad}"}
	c := newTestClient(t, cfg)
	s, _, err := c.Saldo(context.Background(), testOrg)
	if err != nil {
		t.Fatal(err)
	}
	if *s.SaldoSkatteverket != -14487 {
		t.Errorf("saldo %d", *s.SaldoSkatteverket)
	}
}

// driftRecorder is an Observer that records drift.
type driftRecorder struct {
	recordingObserver
	mu    sync.Mutex
	drift map[Operation][]Drift
}

func (r *driftRecorder) DriftSeen(op Operation, d Drift) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.drift == nil {
		r.drift = map[Operation][]Drift{}
	}
	r.drift[op] = append(r.drift[op], d)
}

func (r *driftRecorder) seen(op Operation) []Drift {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Drift(nil), r.drift[op]...)
}

func TestUnknownFieldInSaldo(t *testing.T) {
	e := newSimEnv(t, sim.Config{})
	e.sim.InjectFault(sim.Fault{Operation: sim.OpSaldo, Kind: sim.FaultExtraField, Field: "saldoForvantat", Count: 1})
	obs := &driftRecorder{}
	cfg := e.config()
	cfg.Observer = obs
	c := newTestClient(t, cfg)
	s, tr, err := c.Saldo(context.Background(), testOrg)
	if err != nil {
		t.Fatalf("an unknown field failed the call: %v", err)
	}
	if *s.SaldoSkatteverket != -14487 || s.NastaAvstamningsdatum == "" {
		t.Errorf("saldo %+v", s)
	}
	want := []Drift{{Kind: DriftUnknownField, Path: "saldoForvantat"}}
	if !equalDrift(tr.Drift, want) || !equalDrift(obs.seen(OpSaldo), want) {
		t.Errorf("trace drift %v, observed %v, want %v", tr.Drift, obs.seen(OpSaldo), want)
	}
	for _, d := range tr.Drift {
		if strings.Contains(d.String(), "simulerat") {
			t.Errorf("drift shows the field's value: %v", d)
		}
	}
	// The next answer is as described: no drift.
	if _, tr, err := c.Saldo(context.Background(), testOrg); err != nil || tr.Drift != nil {
		t.Errorf("second call: drift %v, error %v", tr.Drift, err)
	}
}

func TestMissingMandatoryField(t *testing.T) {
	e := newSimEnv(t, sim.Config{})
	obs := &driftRecorder{}
	cfg := e.config()
	cfg.Observer = obs
	c := newTestClient(t, cfg)
	ctx := context.Background()

	// A row without its text cannot be identified: the operation fails.
	e.sim.InjectFault(sim.Fault{Operation: sim.OpTransaktioner, Kind: sim.FaultDropField, Field: "tidigareTransaktioner[].transaktionstext"})
	_, tr, err := c.Transaktioner(ctx, testOrg, "")
	var mf *MissingFieldError
	if !errors.Is(err, ErrMissingField) || !errors.As(err, &mf) || Retryable(err) {
		t.Fatalf("error %v, want a non-retryable ErrMissingField", err)
	}
	if len(mf.Paths) != 1 || mf.Paths[0] != "tidigareTransaktioner[].transaktionstext" || tr.Attempts() != 1 {
		t.Errorf("paths %v, attempts %d", mf.Paths, tr.Attempts())
	}
	if !containsDrift(tr.Drift, Drift{DriftMissingField, "tidigareTransaktioner[].transaktionstext"}) {
		t.Errorf("trace drift %v", tr.Drift)
	}
	// ... and only that operation.
	if _, _, err := c.Saldo(ctx, testOrg); err != nil {
		t.Errorf("saldo: %v", err)
	}

	// A missing common field is drift, not a failure.
	e.sim.ClearFaults()
	e.sim.InjectFault(sim.Fault{Operation: sim.OpSaldo, Kind: sim.FaultDropField, Field: "senastUppdaterad", Count: 1})
	s, tr, err := c.Saldo(ctx, testOrg)
	if err != nil || s.SenastUppdaterad != "" {
		t.Fatalf("saldo without senastUppdaterad: %+v, %v", s, err)
	}
	if !equalDrift(tr.Drift, []Drift{{DriftMissingField, "senastUppdaterad"}}) {
		t.Errorf("drift %v", tr.Drift)
	}

	// A block without its identity fails the blocks operation.
	e.sim.InjectFault(sim.Fault{Operation: sim.OpUtbetalningssparrar, Kind: sim.FaultDropField, Field: "utbetalningssparrar[].sparridentitet", Count: 1})
	if _, _, err := c.Utbetalningssparrar(ctx, testOrg); !errors.Is(err, ErrMissingField) {
		t.Errorf("block without identity: %v", err)
	}
	if len(obs.seen(OpTransaktioner)) == 0 || len(obs.seen(OpUtbetalningssparrar)) == 0 {
		t.Errorf("observer saw %v", obs.drift)
	}
}

func TestBlocksUnderUnknownListKey(t *testing.T) {
	e := newSimEnv(t, sim.Config{})
	e.sim.InjectFault(sim.Fault{Operation: sim.OpUtbetalningssparrar, Kind: sim.FaultRenameField, Field: "utbetalningssparrar", To: "sparrlista"})
	c := newTestClient(t, e.config())
	got, tr, err := c.Utbetalningssparrar(context.Background(), testOrg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sparrar) != 1 || got.Sparrar[0].Sparridentitet != "4711" {
		t.Errorf("blocks under an unknown key not found: %+v", got.Sparrar)
	}
	if !equalDrift(tr.Drift, []Drift{{DriftUnknownListKey, "sparrlista"}}) {
		t.Errorf("drift %v", tr.Drift)
	}
}

func TestKeysOnlyAgainstSimulator(t *testing.T) {
	e := newSimEnv(t, sim.Config{KeysOnly: true})
	cfg := e.config()
	cfg.KeysOnly = true
	cfg.TokenURL = "" // not needed
	c := newTestClient(t, cfg)
	ctx := context.Background()
	if err := c.Token(ctx); err != nil {
		t.Errorf("Token: %v", err)
	}
	if _, _, err := c.Saldo(ctx, testOrg); err != nil {
		t.Errorf("saldo: %v", err)
	}
	if _, _, err := c.Transaktioner(ctx, testOrg, ""); err != nil {
		t.Errorf("transaktioner: %v", err)
	}
	if _, _, err := c.Utbetalningskonto(ctx, testOrg); err != nil {
		t.Errorf("utbetalningskonto: %v", err)
	}
	if _, _, err := c.Utbetalningssparrar(ctx, testOrg); err != nil {
		t.Errorf("utbetalningssparrar: %v", err)
	}
	if n := e.sim.CallCount(sim.OpToken); n != 0 {
		t.Errorf("token endpoint called %d times", n)
	}
	hs := e.received()
	if len(hs) != 4 {
		t.Errorf("%d requests, want 4", len(hs))
	}
	for _, h := range hs {
		if h.Get("Authorization") != "" || h.Get("client_id") != sim.DefaultClientID || h.Get("client_secret") == "" || h.Get(DefaultCorrelationHeader) == "" {
			t.Errorf("request headers: authorization %t, client_id %q, secret %t, correlation id %t",
				h.Get("Authorization") != "", h.Get("client_id"), h.Get("client_secret") != "", h.Get(DefaultCorrelationHeader) != "")
		}
	}
}

func TestKeysOnlyAgainstTheTokenGateway(t *testing.T) {
	e := newSimEnv(t, sim.Config{}) // wants a token
	cfg := e.config()
	cfg.KeysOnly = true
	c := newTestClient(t, cfg)
	_, tr, err := c.Saldo(context.Background(), testOrg)
	var se *Error
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized || tr.Attempts() != 1 {
		t.Errorf("error %v after %d calls, want one 401", err, tr.Attempts())
	}
	if n := e.sim.CallCount(sim.OpToken); n != 0 {
		t.Errorf("keys-only client asked for a token %d times", n)
	}
}

func TestKeysOnlyConfig(t *testing.T) {
	base := Config{BaseURL: "https://api.test.skatteverket.se/enkeltesttjanst/beskattning/skattekonto/v1", ClientID: "id", KeysOnly: true}
	if _, err := New(base); err == nil || !strings.Contains(err.Error(), "ClientSecret") {
		t.Errorf("keys only without a secret: %v", err)
	}
	base.ClientSecret = testClientSecret
	if _, err := New(base); err != nil {
		t.Errorf("keys only: %v", err)
	}
	base.TokenSource = &countingSource{tok: "t"}
	if _, err := New(base); err == nil || !strings.Contains(err.Error(), "TokenSource") {
		t.Errorf("keys only with a token source: %v", err)
	}
}

func equalDrift(got, want []Drift) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func containsDrift(list []Drift, d Drift) bool {
	for _, x := range list {
		if x == d {
			return true
		}
	}
	return false
}
