package skv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

func TestSaldo(t *testing.T) {
	f, srv := newFake(t, answer(200, saldoBody))
	c := newTestClient(t, testConfig(srv))
	got, tr, err := c.Saldo(context.Background(), testOrg)
	if err != nil {
		t.Fatalf("Saldo: %v", err)
	}
	want := Saldo{
		Common:            Common{NastaAvstamningsdatum: "2026-12-05", SenastUppdaterad: "2019-05-06T03:04:05Z"},
		SaldoSkatteverket: int64p(-14487),
		SaldoKronofogden:  int64p(-145409),
		RantaSkatteverket: int64p(-12),
		RantaKronofogden:  int64p(-10),
		OcrNummer:         "1948040320946",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Saldo mismatch (-want +got):\n%s", diff)
	}
	if tr.Attempts() != 1 || tr.Calls[0].HTTPStatus != 200 || tr.Calls[0].Operation != OpSaldo {
		t.Errorf("trace = %+v, want one saldo call with status 200", tr)
	}
	reqs := f.received()
	if got, want := reqs[0].URL.Path, "/v2/skattekonton/165566778899/saldo"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
	if reqs[0].Method != http.MethodGet {
		t.Errorf("method = %s, want GET", reqs[0].Method)
	}
}

func TestTransaktioner(t *testing.T) {
	body := `{"ocrNummer":"1655667788994","datumFrom":"2025-06-01","nastaAvstamningsdatum":"2026-12-05",
	"senastUppdaterad":"2026-11-24T22:10:00","informationstext":"Uppgifterna kan vara ofullständiga",
	"tidigareTransaktioner":[
	 {"transaktionsidentitet":123456789,"transaktionsdatum":"2026-11-12","ranteberakningsdatum":"2026-11-12","transaktionstext":"Debiterad preliminärskatt","beloppSkatteverket":-1292},
	 {"transaktionsidentitet":"123456790","transaktionsdatum":"2026-11-12","ranteberakningsdatum":"2026-11-12","transaktionstext":"Inbetalning bokförd 261012","beloppSkatteverket":1292,"beloppKronofogden":0},
	 {"transaktionsdatum":"2026-10-01","ranteberakningsdatum":"2026-10-01","transaktionstext":"Kostnadsränta","beloppKronofogden":-10,"unknownField":{"x":[1,2]}}],
	"kommandeTransaktioner":[
	 {"transaktionsdatum":"2026-12-12","forfallodatum":"2026-12-12","ranteberakningsdatum":"2026-12-12","beslutsdatum":"2026-11-20","transaktionstext":"Moms oktober 2026","beloppSkatteverket":-25000}]}`
	f, srv := newFake(t, answer(200, body))
	c := newTestClient(t, testConfig(srv))
	got, _, err := c.Transaktioner(context.Background(), testOrg, "2025-06-01")
	if err != nil {
		t.Fatalf("Transaktioner: %v", err)
	}
	want := Transaktioner{
		Common: Common{NastaAvstamningsdatum: "2026-12-05", SenastUppdaterad: "2026-11-24T22:10:00",
			Informationstext: []string{"Uppgifterna kan vara ofullständiga"}},
		OcrNummer: "1655667788994",
		DatumFrom: "2025-06-01",
		Tidigare: []Transaktion{
			{Transaktionsidentitet: "123456789", Transaktionsdatum: "2026-11-12", Ranteberakningsdatum: "2026-11-12", Transaktionstext: "Debiterad preliminärskatt", BeloppSkatteverket: int64p(-1292)},
			{Transaktionsidentitet: "123456790", Transaktionsdatum: "2026-11-12", Ranteberakningsdatum: "2026-11-12", Transaktionstext: "Inbetalning bokförd 261012", BeloppSkatteverket: int64p(1292), BeloppKronofogden: int64p(0)},
			{Transaktionsdatum: "2026-10-01", Ranteberakningsdatum: "2026-10-01", Transaktionstext: "Kostnadsränta", BeloppKronofogden: int64p(-10)},
		},
		Kommande: []Transaktion{
			{Transaktionsdatum: "2026-12-12", Forfallodatum: "2026-12-12", Ranteberakningsdatum: "2026-12-12", Beslutsdatum: "2026-11-20", Transaktionstext: "Moms oktober 2026", BeloppSkatteverket: int64p(-25000)},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Transaktioner mismatch (-want +got):\n%s", diff)
	}
	r := f.received()[0]
	if r.URL.Path != "/v2/skattekonton/165566778899/transaktioner" || r.URL.RawQuery != "datumFrom=2025-06-01" {
		t.Errorf("request %s?%s, want transaktioner?datumFrom=2025-06-01", r.URL.Path, r.URL.RawQuery)
	}

	// Without datumFrom no query parameter is sent.
	if _, _, err := c.Transaktioner(context.Background(), testOrg, ""); err != nil {
		t.Fatal(err)
	}
	if q := f.received()[1].URL.RawQuery; q != "" {
		t.Errorf("query without datumFrom = %q, want empty", q)
	}
}

func TestUtbetalningskonto(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		want       *string
	}{
		{"registered", `{"utbetalningskonto":"SE45 5000 0000 0583 9825 7466","nastaAvstamningsdatum":"2026-12-05","senastUppdaterad":"2026-11-24T22:10:00"}`, strp("SE45 5000 0000 0583 9825 7466")},
		{"none", `{"nastaAvstamningsdatum":"2026-12-05","senastUppdaterad":"2026-11-24T22:10:00"}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t, answer(200, tt.body))
			c := newTestClient(t, testConfig(srv))
			got, _, err := c.Utbetalningskonto(context.Background(), testOrg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Utbetalningskonto); diff != "" {
				t.Errorf("Utbetalningskonto mismatch (-want +got):\n%s", diff)
			}
			if got.NastaAvstamningsdatum != "2026-12-05" {
				t.Errorf("NastaAvstamningsdatum = %q", got.NastaAvstamningsdatum)
			}
			if p := f.received()[0].URL.Path; p != "/v2/skattekonton/165566778899/utbetalningskonto" {
				t.Errorf("path = %q", p)
			}
		})
	}
}

func TestUtbetalningssparrar(t *testing.T) {
	body := `{"nastaAvstamningsdatum":"2026-12-05","senastUppdaterad":"2026-11-24T22:10:00",
	"utbetalningssparrar":[{"sparridentitet":4711,"datumFrom":"2026-01-01","datumTom":"2026-12-31","sparrbelopp":50000},
	{"sparridentitet":"4712","datumFrom":"2026-03-01","totalsparr":true}]}`
	f, srv := newFake(t, answer(200, body))
	c := newTestClient(t, testConfig(srv))
	got, _, err := c.Utbetalningssparrar(context.Background(), testOrg)
	if err != nil {
		t.Fatal(err)
	}
	want := []Sparr{
		{Sparridentitet: "4711", DatumFrom: "2026-01-01", DatumTom: "2026-12-31", Sparrbelopp: int64p(50000)},
		{Sparridentitet: "4712", DatumFrom: "2026-03-01", Totalsparr: boolp(true)},
	}
	if diff := cmp.Diff(want, got.Sparrar); diff != "" {
		t.Errorf("Sparrar mismatch (-want +got):\n%s", diff)
	}
	if p := f.received()[0].URL.Path; p != "/v2/skattekonton/165566778899/utbetalningssparrar" {
		t.Errorf("path = %q", p)
	}
}

func TestFelkod(t *testing.T) {
	tests := []struct {
		felkod, status int
		retryable      bool
	}{
		{1, 400, false},
		{2, 400, false},
		{3, 404, false},
		{4, 500, true},
		{5, 503, true},
		{6, 403, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("felkod %d", tt.felkod), func(t *testing.T) {
			body := fmt.Sprintf(`{"felkod":%d,"felmeddelande":"meddelande %d"}`, tt.felkod, tt.felkod)
			_, srv := newFake(t, answer(tt.status, body))
			c := newTestClient(t, testConfig(srv))
			_, tr, err := c.Saldo(context.Background(), testOrg)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if e.Felkod != tt.felkod || e.Status != tt.status || e.Op != OpSaldo || e.Felmeddelande != fmt.Sprintf("meddelande %d", tt.felkod) {
				t.Errorf("error = %+v, want felkod %d status %d", e, tt.felkod, tt.status)
			}
			if got := Retryable(err); got != tt.retryable {
				t.Errorf("Retryable = %v, want %v", got, tt.retryable)
			}
			wantAttempts := 1
			if tt.retryable {
				wantAttempts = 3 // MaxAttempts
			}
			if tr.Attempts() != wantAttempts {
				t.Errorf("attempts = %d, want %d", tr.Attempts(), wantAttempts)
			}
			if e.CorrelationID != tr.CorrelationID() {
				t.Errorf("error correlation id %q, trace's last %q", e.CorrelationID, tr.CorrelationID())
			}
			for _, call := range tr.Calls {
				if call.Felkod != tt.felkod || call.HTTPStatus != tt.status {
					t.Errorf("call = %+v, want felkod %d status %d", call, tt.felkod, tt.status)
				}
			}
			mustNotContainSecrets(t, err.Error())
		})
	}
}

func TestRetryThenSuccess(t *testing.T) {
	for _, tt := range []struct {
		name  string
		first func(http.ResponseWriter, *http.Request)
	}{
		{"felkod 4", answer(500, `{"felkod":4,"felmeddelande":"Internt fel"}`)},
		{"felkod 5", answer(503, `{"felkod":"5","felmeddelande":"Skattekontot är stängt"}`)},
		{"503 without body", answer(503, ``)},
		{"502 html", answer(502, `<html>bad gateway</html>`)},
		{"504", answer(504, `{"error":"Gateway Timeout"}`)},
		{"429", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "0")
			respond(w, 429, `{"error":"Too many requests"}`)
		}},
		{"garbled 200", answer(200, `{"saldoSkatteverket":-14`)},
		{"empty 200", answer(200, ``)},
		{"felkod 4 in a 200", answer(200, `{"felkod":4,"felmeddelande":"Internt fel"}`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newFake(t, sequence(tt.first, tt.first, answer(200, saldoBody)))
			c := newTestClient(t, testConfig(srv))
			got, tr, err := c.Saldo(context.Background(), testOrg)
			if err != nil {
				t.Fatalf("Saldo: %v", err)
			}
			if *got.SaldoSkatteverket != -14487 {
				t.Errorf("SaldoSkatteverket = %d", *got.SaldoSkatteverket)
			}
			if tr.Attempts() != 3 {
				t.Errorf("attempts = %d, want 3", tr.Attempts())
			}
		})
	}
}

func TestNotRetried(t *testing.T) {
	for _, tt := range []struct {
		name    string
		status  int
		body    string
		wantErr error
		wantMsg string
	}{
		{"403 gateway", 403, `{"error":"The required scopes are not authorized"}`, nil, "The required scopes are not authorized"},
		{"404 plain", 404, `not found`, nil, ""},
		{"400", 400, `{"felkod":1,"felmeddelande":"Felaktigt organisationsnummer"}`, nil, "Felaktigt organisationsnummer"},
		{"409", 409, `{}`, nil, ""},
		{"array for object", 200, `[1,2]`, ErrUnexpectedResponse, ""},
		{"wrong type", 200, `{"saldoSkatteverket":"mycket"}`, ErrUnexpectedResponse, ""},
		{"null", 200, `null`, ErrUnexpectedResponse, ""},
		{"felkod 3 in a 200", 200, `{"felkod":3,"felmeddelande":"Registrerat skattekonto saknas"}`, nil, "Registrerat skattekonto saknas"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newFake(t, answer(tt.status, tt.body))
			c := newTestClient(t, testConfig(srv))
			_, tr, err := c.Saldo(context.Background(), testOrg)
			if err == nil {
				t.Fatal("Saldo succeeded, want error")
			}
			if Retryable(err) {
				t.Errorf("Retryable(%v) = true", err)
			}
			if tr.Attempts() != 1 {
				t.Errorf("attempts = %d, want 1", tr.Attempts())
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v is not %v", err, tt.wantErr)
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.status || e.Felmeddelande != tt.wantMsg {
				t.Errorf("error = %#v, want status %d felmeddelande %q", e, tt.status, tt.wantMsg)
			}
		})
	}
}

func TestGarbledExhausted(t *testing.T) {
	for _, body := range []string{``, `not json`, `{"saldoSkatteverket":-14487,`, `<html></html>`} {
		t.Run(body, func(t *testing.T) {
			_, srv := newFake(t, answer(200, body))
			c := newTestClient(t, testConfig(srv))
			_, tr, err := c.Saldo(context.Background(), testOrg)
			if !errors.Is(err, ErrGarbledResponse) {
				t.Fatalf("error %v is not ErrGarbledResponse", err)
			}
			if !strings.Contains(err.Error(), "garbled response") {
				t.Errorf("error %q does not say garbled response", err)
			}
			if !Retryable(err) || tr.Attempts() != 3 {
				t.Errorf("Retryable %v attempts %d, want true and 3", Retryable(err), tr.Attempts())
			}
		})
	}
}

func TestTruncatedBody(t *testing.T) {
	_, srv := newFake(t, sequence(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		fmt.Fprint(w, `{"saldoSkatteverket":`)
	}, answer(200, saldoBody)))
	c := newTestClient(t, testConfig(srv))
	_, tr, err := c.Saldo(context.Background(), testOrg)
	if err != nil {
		t.Fatalf("Saldo: %v", err)
	}
	if tr.Attempts() != 2 || tr.Calls[0].HTTPStatus != 200 {
		t.Errorf("trace = %+v, want a truncated 200 then success", tr.Calls)
	}
}

func TestResponseTooLarge(t *testing.T) {
	_, srv := newFake(t, answer(200, saldoBody))
	cfg := testConfig(srv)
	cfg.MaxResponseBytes = 64
	c := newTestClient(t, cfg)
	_, tr, err := c.Saldo(context.Background(), testOrg)
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("error %v is not ErrResponseTooLarge", err)
	}
	if Retryable(err) || tr.Attempts() != 1 {
		t.Errorf("Retryable %v attempts %d, want false and 1", Retryable(err), tr.Attempts())
	}

	cfg.MaxResponseBytes = int64(len(saldoBody))
	c = newTestClient(t, cfg)
	if _, _, err := c.Saldo(context.Background(), testOrg); err != nil {
		t.Errorf("body of exactly MaxResponseBytes: %v", err)
	}
}

func TestTooManyRequestsRetryAfter(t *testing.T) {
	_, srv := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "7")
		respond(w, 429, `{"error":"rate limited"}`)
	})
	cfg := testConfig(srv)
	cfg.MaxElapsed = time.Second // 7s does not fit: give up at once
	lim := &recordingLimiter{}
	cfg.Limiter = lim
	c := newTestClient(t, cfg)
	_, tr, err := c.Saldo(context.Background(), testOrg)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
	if e.Status != 429 || e.RetryAfter != 7*time.Second || !e.Retryable() {
		t.Errorf("error = %+v, want retryable 429 with RetryAfter 7s", e)
	}
	if tr.Attempts() != 1 {
		t.Errorf("attempts = %d, want 1 (Retry-After beyond MaxElapsed)", tr.Attempts())
	}
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if lim.waits != 1 || len(lim.throttled) != 1 || lim.throttled[0] != 7*time.Second {
		t.Errorf("limiter waits %d throttled %v, want 1 and [7s]", lim.waits, lim.throttled)
	}
}

type recordingLimiter struct {
	mu        sync.Mutex
	waits     int
	throttled []time.Duration
}

func (l *recordingLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits++
	return ctx.Err()
}

func (l *recordingLimiter) Throttled(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.throttled = append(l.throttled, d)
}

func TestRetryAfterBackOff(t *testing.T) {
	newB := func(maxElapsed time.Duration) *retryAfterBackOff {
		c := newTestClient(t, Config{BaseURL: "https://x", TokenURL: "https://x/t", ClientID: "id",
			InitialInterval: time.Millisecond, MaxInterval: time.Millisecond, MaxElapsed: maxElapsed})
		_ = c
		b := &retryAfterBackOff{exp: newExpBackOff(c.cfg)}
		b.Reset()
		return b
	}
	b := newB(time.Hour)
	b.retryAfter = 3 * time.Second
	if got := b.NextBackOff(); got != 3*time.Second {
		t.Errorf("NextBackOff with Retry-After 3s = %v, want 3s", got)
	}
	if got := b.NextBackOff(); got > 2*time.Millisecond {
		t.Errorf("NextBackOff after that = %v, want the backoff interval again", got)
	}
	b = newB(time.Minute)
	b.retryAfter = 2 * time.Minute
	if got := b.NextBackOff(); got != -1 {
		t.Errorf("NextBackOff with Retry-After beyond MaxElapsed = %v, want Stop", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-3", 0},
		{"soon", 0},
		{"Wed, 25 Nov 2026 08:00:30 GMT", 30 * time.Second},
		{"Wed, 25 Nov 2026 07:00:00 GMT", 0},
	} {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestTimeoutRetried(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	_, srv := newFake(t, sequence(func(w http.ResponseWriter, r *http.Request) {
		select { // block until the client gives up on this call
		case <-r.Context().Done():
		case <-release:
		}
	}, answer(200, saldoBody)))
	cfg := testConfig(srv)
	cfg.Timeout = 50 * time.Millisecond
	c := newTestClient(t, cfg)
	_, tr, err := c.Saldo(context.Background(), testOrg)
	if err != nil {
		t.Fatalf("Saldo: %v", err)
	}
	if tr.Attempts() != 2 || tr.Calls[0].HTTPStatus != 0 || tr.Calls[1].HTTPStatus != 200 {
		t.Errorf("calls = %+v, want a timed-out call (status 0) then success", tr.Calls)
	}
}

func TestTimeoutExhausted(t *testing.T) {
	_, srv := newFake(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	cfg := testConfig(srv)
	cfg.Timeout = 20 * time.Millisecond
	cfg.MaxAttempts = 2
	c := newTestClient(t, cfg)
	_, tr, err := c.Saldo(context.Background(), idnr.MustParse("19811218-9876"))
	if !Retryable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v: Retryable %v, want a retryable deadline", err, Retryable(err))
	}
	if tr.Attempts() != 2 {
		t.Errorf("attempts = %d, want 2", tr.Attempts())
	}
	if strings.Contains(err.Error(), "198112189876") {
		t.Errorf("error %q shows the personnummer", err)
	}
}

func TestConnectionRefusedRetried(t *testing.T) {
	_, srv := newFake(t, nil)
	cfg := testConfig(srv)
	srv.Close()
	cfg.MaxAttempts = 2
	c := newTestClient(t, cfg)
	err := c.Token(context.Background())
	if err == nil || !Retryable(err) {
		t.Errorf("Token against a closed server: %v, Retryable %v; want a retryable error", err, Retryable(err))
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, srv := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		cancel()
		respond(w, 503, `{"felkod":5,"felmeddelande":"Skattekontot är stängt"}`)
	})
	cfg := testConfig(srv)
	cfg.InitialInterval, cfg.MaxInterval = time.Hour, time.Hour // would wait forever
	cfg.MaxElapsed = 2 * time.Hour
	c := newTestClient(t, cfg)
	_, tr, err := c.Saldo(ctx, testOrg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v is not context.Canceled", err)
	}
	if Retryable(err) {
		t.Error("a cancelled call is retryable")
	}
	if tr.Attempts() != 1 {
		t.Errorf("attempts = %d, want 1", tr.Attempts())
	}

	// Already cancelled: no call at all.
	_, tr, err = c.Saldo(ctx, testOrg)
	if !errors.Is(err, context.Canceled) || tr.Attempts() != 0 {
		t.Errorf("cancelled ctx: err %v attempts %d, want Canceled and 0", err, tr.Attempts())
	}
}

func TestHeadersAndCorrelationIDs(t *testing.T) {
	for _, header := range []string{"", "skv_client_correlation_id"} {
		t.Run("header="+header, func(t *testing.T) {
			f, srv := newFake(t, sequence(answer(503, ``), answer(200, saldoBody)))
			cfg := testConfig(srv)
			cfg.CorrelationHeader = header
			want := header
			if want == "" {
				want = DefaultCorrelationHeader
			}
			c := newTestClient(t, cfg)
			var traced []string
			for range 3 {
				_, tr, err := c.Saldo(context.Background(), testOrg)
				if err != nil {
					t.Fatal(err)
				}
				for _, call := range tr.Calls {
					traced = append(traced, call.CorrelationID)
				}
			}
			reqs := f.received()
			if len(reqs) != 4 || len(traced) != 4 {
				t.Fatalf("got %d requests and %d traced calls, want 4", len(reqs), len(traced))
			}
			seen := map[string]bool{}
			for i, r := range reqs {
				h := r.Header
				if h.Get("Accept") != "application/json" || h.Get("Authorization") != "Bearer tok-1" ||
					h.Get("client_id") != testClientID || h.Get("client_secret") != testClientSecret {
					t.Errorf("request %d headers = %v", i, h)
				}
				id := h.Get(want)
				if _, err := uuid.Parse(id); err != nil || len(id) > 36 {
					t.Errorf("request %d correlation id %q is not a UUID of at most 36 characters", i, id)
				}
				if seen[id] {
					t.Errorf("correlation id %q reused", id)
				}
				seen[id] = true
				if id != traced[i] {
					t.Errorf("request %d correlation id %q, traced %q", i, id, traced[i])
				}
				for name := range h {
					switch http.CanonicalHeaderKey(name) {
					case "Accept", "Authorization", "Client_id", "Client_secret", http.CanonicalHeaderKey(want),
						"User-Agent", "Accept-Encoding":
					default:
						t.Errorf("unexpected header %q", name)
					}
				}
			}
		})
	}
}

func TestCallAtUsesClock(t *testing.T) {
	at := time.Date(2026, 11, 25, 8, 0, 1, 0, time.UTC)
	_, srv := newFake(t, answer(200, saldoBody))
	cfg := testConfig(srv)
	cfg.Now = func() time.Time { return at }
	c := newTestClient(t, cfg)
	_, tr, err := c.Saldo(context.Background(), testOrg)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Calls[0].At.Equal(at) {
		t.Errorf("At = %v, want %v", tr.Calls[0].At, at)
	}
}

func TestDatumFromValidation(t *testing.T) {
	f, srv := newFake(t, answer(200, `{}`))
	c := newTestClient(t, testConfig(srv))
	for _, d := range []string{"2025-13-01", "20250101", "2025-1-1", "2025-02-30", " 2025-01-01", "yesterday"} {
		_, tr, err := c.Transaktioner(context.Background(), testOrg, d)
		if !errors.Is(err, ErrInvalidArgument) || Retryable(err) || tr.Attempts() != 0 {
			t.Errorf("datumFrom %q: err %v attempts %d, want ErrInvalidArgument before any call", d, err, tr.Attempts())
		}
	}
	if n := len(f.received()); n != 0 || f.tokenCount.Load() != 0 {
		t.Errorf("%d API requests and %d token requests, want none", n, f.tokenCount.Load())
	}
	if _, _, err := c.Saldo(context.Background(), idnr.Number{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("zero Number: %v, want ErrInvalidArgument", err)
	}
}

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	f, srv := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			respond(w, 401, `{"error":"Token has been revoked."}`)
			return
		}
		respond(w, 200, saldoBody)
	})
	c := newTestClient(t, testConfig(srv))
	_, tr, err := c.Saldo(context.Background(), testOrg)
	if err != nil {
		t.Fatalf("Saldo: %v", err)
	}
	if got := f.tokenCount.Load(); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
	if tr.Attempts() != 2 || tr.Calls[0].HTTPStatus != 401 || tr.Calls[1].HTTPStatus != 200 {
		t.Errorf("calls = %+v, want 401 then 200", tr.Calls)
	}
}

func TestUnauthorizedTwiceNotRetried(t *testing.T) {
	f, srv := newFake(t, answer(401, `{"error":"Token has been revoked."}`))
	c := newTestClient(t, testConfig(srv))
	_, tr, err := c.Saldo(context.Background(), testOrg)
	var e *Error
	if !errors.As(err, &e) || e.Status != 401 || e.Retryable() {
		t.Fatalf("error %v, want a non-retryable 401", err)
	}
	if e.Felmeddelande != "Token has been revoked." {
		t.Errorf("Felmeddelande = %q", e.Felmeddelande)
	}
	if tr.Attempts() != 2 || f.tokenCount.Load() != 2 {
		t.Errorf("attempts %d token requests %d, want 2 and 2", tr.Attempts(), f.tokenCount.Load())
	}
	mustNotContainSecrets(t, err.Error())
}

func TestTokenReuseAndExpiry(t *testing.T) {
	f, srv := newFake(t, answer(200, saldoBody))
	c := newTestClient(t, testConfig(srv))
	for range 3 {
		if _, _, err := c.Saldo(context.Background(), testOrg); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.tokenCount.Load(); got != 1 {
		t.Errorf("token requests for 3 calls = %d, want 1", got)
	}

	// A token that expires within a minute is renewed before use.
	f2, srv2 := newFake(t, answer(200, saldoBody))
	f2.expiresIn = 30
	c2 := newTestClient(t, testConfig(srv2))
	for range 3 {
		if _, _, err := c2.Saldo(context.Background(), testOrg); err != nil {
			t.Fatal(err)
		}
	}
	if got := f2.tokenCount.Load(); got != 3 {
		t.Errorf("token requests with short-lived tokens = %d, want 3", got)
	}
	var auths []string
	for _, r := range f2.received() {
		auths = append(auths, r.Header.Get("Authorization"))
	}
	if diff := cmp.Diff([]string{"Bearer tok-1", "Bearer tok-2", "Bearer tok-3"}, auths); diff != "" {
		t.Errorf("tokens used (-want +got):\n%s", diff)
	}
}

func TestConcurrentCallsShareToken(t *testing.T) {
	f, srv := newFake(t, answer(200, saldoBody))
	c := newTestClient(t, testConfig(srv))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, _, err := c.Saldo(context.Background(), testOrg)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := f.tokenCount.Load(); got != 1 {
		t.Errorf("token requests for 20 concurrent calls = %d, want 1", got)
	}
}

func TestTokenErrors(t *testing.T) {
	for _, tt := range []struct {
		name       string
		status     int
		scope      string
		want       error
		retryable  bool
		wantTokens int32
	}{
		// A refusal is tried once with HTTP Basic and once with the
		// credentials in the form (the auto-detected client auth style).
		{"refused 401", 401, "", ErrTokenRefused, false, 2},
		{"refused 400", 400, "", ErrTokenRefused, false, 2},
		{"server error", 500, "", nil, true, 6},
		{"scope missing", 0, "skahmst", ErrScopeMissing, false, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t, answer(200, saldoBody))
			f.tokenStatus, f.tokenScope = tt.status, tt.scope
			c := newTestClient(t, testConfig(srv))
			_, tr, err := c.Saldo(context.Background(), testOrg)
			if err == nil {
				t.Fatal("Saldo succeeded, want error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v is not %v", err, tt.want)
			}
			if Retryable(err) != tt.retryable {
				t.Errorf("Retryable(%v) = %v, want %v", err, Retryable(err), tt.retryable)
			}
			if got := f.tokenCount.Load(); got != tt.wantTokens {
				t.Errorf("token requests = %d, want %d", got, tt.wantTokens)
			}
			if tr.Attempts() != 0 || len(f.received()) != 0 {
				t.Errorf("API calls made: %d", len(f.received()))
			}
			if tt.want != nil && !errors.Is(c.Token(context.Background()), tt.want) {
				t.Errorf("Token() does not report %v", tt.want)
			}
			mustNotContainSecrets(t, err.Error())
		})
	}
}

func TestNewValidation(t *testing.T) {
	base := Config{BaseURL: "https://api.test.skatteverket.se/beskattning/skattekonto/v2",
		TokenURL: "https://sysorgoauth2.test.skatteverket.se/oauth2/v1/sysorg/token", ClientID: "id"}
	for _, tt := range []struct {
		name  string
		mod   func(*Config)
		field string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"http loopback ip", func(c *Config) { c.BaseURL = "http://127.0.0.1:8080/v2"; c.TokenURL = "http://[::1]:9/token" }, ""},
		{"http localhost", func(c *Config) { c.BaseURL = "http://localhost:8080/v2" }, ""},
		{"http remote base", func(c *Config) { c.BaseURL = "http://api.skatteverket.se/v2" }, "BaseURL"},
		{"http remote token", func(c *Config) { c.TokenURL = "http://10.0.0.1/token" }, "TokenURL"},
		{"http localhost lookalike", func(c *Config) { c.BaseURL = "http://localhost.example.com/v2" }, "BaseURL"},
		{"ftp", func(c *Config) { c.BaseURL = "ftp://127.0.0.1/v2" }, "BaseURL"},
		{"no base", func(c *Config) { c.BaseURL = "" }, "BaseURL"},
		{"no token url", func(c *Config) { c.TokenURL = "" }, "TokenURL"},
		{"no client id", func(c *Config) { c.ClientID = "" }, "ClientID"},
		{"cert without key", func(c *Config) { c.CertFile = "cert.pem" }, "KeyFile"},
		{"missing cert files", func(c *Config) { c.CertFile, c.KeyFile = "/nonexistent/c.pem", "/nonexistent/k.pem" }, "CertFile"},
		{"missing CA", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }, "CAFile"},
		{"bad header", func(c *Config) { c.CorrelationHeader = "bad header" }, "CorrelationHeader"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "Timeout"},
		{"negative attempts", func(c *Config) { c.MaxAttempts = -1 }, "MaxAttempts"},
		{"bad scope", func(c *Config) { c.Scopes = []string{"ska extra"} }, "Scopes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.ClientSecret = testClientSecret
			tt.mod(&cfg)
			_, err := New(cfg)
			if tt.field == "" {
				if err != nil {
					t.Errorf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("New error %v, want one naming %s", err, tt.field)
			}
			if err != nil {
				mustNotContainSecrets(t, err.Error())
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Op: OpSaldo, Status: 404, Felkod: 3, Felmeddelande: "Registrerat skattekonto saknas", CorrelationID: "c-1"}
	want := `skv saldo: http 404, felkod 3, felmeddelande "Registrerat skattekonto saknas", correlation id c-1`
	if got := e.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = &Error{Op: OpSaldo, Err: ErrGarbledResponse}
	if got, want := e.Error(), "skv saldo: garbled response"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
