package sim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Test-side wire structs, independent of the simulator's.
type tCommon struct {
	NastaAvstamningsdatum string   `json:"nastaAvstamningsdatum"`
	SenastUppdaterad      string   `json:"senastUppdaterad"`
	Informationstext      []string `json:"informationstext"`
}

type tTx struct {
	Transaktionsidentitet *int64 `json:"transaktionsidentitet"`
	Transaktionsdatum     string `json:"transaktionsdatum"`
	Forfallodatum         string `json:"forfallodatum"`
	Ranteberakningsdatum  string `json:"ranteberakningsdatum"`
	Beslutsdatum          string `json:"beslutsdatum"`
	Transaktionstext      string `json:"transaktionstext"`
	BeloppSkatteverket    *int64 `json:"beloppSkatteverket"`
	BeloppKronofogden     *int64 `json:"beloppKronofogden"`
}

type tFelkod struct {
	Felkod        int    `json:"felkod"`
	Felmeddelande string `json:"felmeddelande"`
}

func TestSaldoShape(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	st, b := e.get(OpSaldo, "165566778899", "")
	if st != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", st, b)
	}
	var got struct {
		tCommon
		SaldoSkatteverket *int64 `json:"saldoSkatteverket"`
		SaldoKronofogden  *int64 `json:"saldoKronofogden"`
		RantaSkatteverket *int64 `json:"rantaSkatteverket"`
		RantaKronofogden  *int64 `json:"rantaKronofogden"`
		OcrNummer         string `json:"ocrNummer"`
	}
	mustDecode(t, b, &got)
	want := []int64{-14487, -145409, -12, -10}
	for i, p := range []*int64{got.SaldoSkatteverket, got.SaldoKronofogden, got.RantaSkatteverket, got.RantaKronofogden} {
		if p == nil || *p != want[i] {
			t.Errorf("amount %d: got %v, want %d", i, p, want[i])
		}
	}
	if got.OcrNummer != "1655667788990" && got.OcrNummer != OCR("165566778899") {
		t.Errorf("ocrNummer %q", got.OcrNummer)
	}
	if got.NastaAvstamningsdatum != "2026-04-04" {
		t.Errorf("nastaAvstamningsdatum %q", got.NastaAvstamningsdatum)
	}
	// 09:00 UTC in March is 10:00 in Stockholm.
	if got.SenastUppdaterad != "2026-03-05T10:00:00" {
		t.Errorf("senastUppdaterad got %q, want 2026-03-05T10:00:00", got.SenastUppdaterad)
	}
	if _, ok := keys(t, b)["informationstext"]; ok {
		t.Errorf("informationstext present without any text: %s", b)
	}
	// ?datum= is accepted.
	if st, b := e.get(OpSaldo, "165566778899", "datum=2026-03-01"); st != http.StatusOK {
		t.Errorf("saldo?datum: status %d: %s", st, b)
	}
}

func TestTransaktionerShape(t *testing.T) {
	e := newEnv(t, Config{})
	a := testAccount()
	a.Informationstext = []string{"Uppgifterna uppdateras."}
	if err := e.sim.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	st, b := e.get(OpTransaktioner, "165566778899", "datumFrom=2025-01-01")
	if st != http.StatusOK {
		t.Fatalf("status %d: %s", st, b)
	}
	var got struct {
		tCommon
		DatumFrom string `json:"datumFrom"`
		OcrNummer string `json:"ocrNummer"`
		Tidigare  []tTx  `json:"tidigareTransaktioner"`
		Kommande  []tTx  `json:"kommandeTransaktioner"`
	}
	mustDecode(t, b, &got)
	want := []tTx{
		{Transaktionsidentitet: i64(12), Transaktionsdatum: "2025-12-12", Ranteberakningsdatum: "2025-12-12", Transaktionstext: "Moms oktober 2025", BeloppSkatteverket: i64(-2000)},
		{Transaktionsidentitet: i64(13), Transaktionsdatum: "2026-02-26", Ranteberakningsdatum: "2026-02-20", Transaktionstext: "Kostnadsränta", BeloppKronofogden: i64(-30)},
	}
	if d := cmp.Diff(want, got.Tidigare); d != "" {
		t.Errorf("tidigare (-want +got):\n%s", d)
	}
	wantK := []tTx{{Transaktionsdatum: "2026-03-12", Forfallodatum: "2026-03-12", Ranteberakningsdatum: "2026-03-12", Beslutsdatum: "2026-02-20", Transaktionstext: "Moms januari 2026", BeloppSkatteverket: i64(-6250)}}
	if d := cmp.Diff(wantK, got.Kommande); d != "" {
		t.Errorf("kommande (-want +got):\n%s", d)
	}
	if got.DatumFrom != "2025-01-01" || got.OcrNummer != OCR("165566778899") || len(got.Informationstext) != 1 {
		t.Errorf("datumFrom %q ocr %q info %v", got.DatumFrom, got.OcrNummer, got.Informationstext)
	}
	// The KFM-only row has no beloppSkatteverket key at all.
	var raw struct {
		Tidigare []map[string]json.RawMessage `json:"tidigareTransaktioner"`
		Kommande []map[string]json.RawMessage `json:"kommandeTransaktioner"`
	}
	mustDecode(t, b, &raw)
	if _, ok := raw.Tidigare[1]["beloppSkatteverket"]; ok {
		t.Errorf("KFM-only row carries beloppSkatteverket: %s", b)
	}
	if _, ok := raw.Kommande[0]["transaktionsidentitet"]; ok {
		t.Errorf("upcoming row carries transaktionsidentitet: %s", b)
	}
}

func TestTransaktionerNoIdentities(t *testing.T) {
	e := newEnv(t, Config{})
	a := testAccount()
	a.NoIdentities = true
	if err := e.sim.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.PostTransaction(a.Omfragad, Transaction{Transaktionstext: "Intäktsränta", BeloppSkatteverket: i64(1)}); err != nil {
		t.Fatal(err)
	}
	_, b := e.get(OpTransaktioner, a.Omfragad, "")
	if strings.Contains(string(b), "transaktionsidentitet") {
		t.Errorf("noIdentities account shows identities: %s", b)
	}
}

func TestUtbetalningskontoAndSparrarShape(t *testing.T) {
	e := newEnv(t, Config{})
	a := testAccount()
	if err := e.sim.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	_, b := e.get(OpUtbetalningskonto, a.Omfragad, "")
	var uk struct {
		tCommon
		Utbetalningskonto *string `json:"utbetalningskonto"`
	}
	mustDecode(t, b, &uk)
	if uk.Utbetalningskonto == nil || *uk.Utbetalningskonto != "8327-9, 123 456 789-0" || uk.NastaAvstamningsdatum == "" || uk.SenastUppdaterad == "" {
		t.Errorf("utbetalningskonto answer %s", b)
	}
	if err := e.sim.SetPayoutAccount(a.Omfragad, nil); err != nil {
		t.Fatal(err)
	}
	_, b = e.get(OpUtbetalningskonto, a.Omfragad, "")
	if _, ok := keys(t, b)["utbetalningskonto"]; ok {
		t.Errorf("removed payout account still present: %s", b)
	}

	_, b = e.get(OpUtbetalningssparrar, a.Omfragad, "")
	var sp struct {
		tCommon
		Sparrar []struct {
			Sparridentitet *int64 `json:"sparridentitet"`
			DatumFrom      string `json:"datumFrom"`
			DatumTom       string `json:"datumTom"`
			Sparrbelopp    *int64 `json:"sparrbelopp"`
			Totalsparr     *bool  `json:"totalsparr"`
		} `json:"utbetalningssparrar"`
	}
	mustDecode(t, b, &sp)
	if len(sp.Sparrar) != 1 {
		t.Fatalf("got %d blocks, want 1: %s", len(sp.Sparrar), b)
	}
	g := sp.Sparrar[0]
	if g.Sparridentitet == nil || *g.Sparridentitet != 7001 || g.DatumFrom != "2026-01-01" || g.DatumTom != "2026-06-30" ||
		g.Sparrbelopp == nil || *g.Sparrbelopp != 25000 || g.Totalsparr == nil || *g.Totalsparr {
		t.Errorf("block %s", b)
	}
	if err := e.sim.RemoveBlock(a.Omfragad, 7001); err != nil {
		t.Fatal(err)
	}
	_, b = e.get(OpUtbetalningssparrar, a.Omfragad, "")
	if !strings.Contains(string(b), `"utbetalningssparrar":[]`) {
		t.Errorf("no blocks should be an empty array: %s", b)
	}
}

func TestAuth(t *testing.T) {
	const omf = "165566778899"
	tests := []struct {
		name       string
		mod        func(*http.Request)
		advance    time.Duration
		wantStatus int
		wantError  string
		wantWWW    bool
	}{
		{name: "valid", wantStatus: 200},
		{name: "missing token", mod: func(r *http.Request) { r.Header.Del("Authorization") }, wantStatus: 401, wantWWW: true},
		{name: "unknown token", mod: func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, wantStatus: 401, wantError: "Token has been revoked.", wantWWW: true},
		{name: "expired token", advance: DefaultTokenTTL, wantStatus: 401, wantWWW: true},
		{name: "nearly expired token", advance: DefaultTokenTTL - time.Second, wantStatus: 200},
		{name: "wrong client_id", mod: func(r *http.Request) { r.Header.Set("client_id", "other") }, wantStatus: 401},
		{name: "missing client_secret", mod: func(r *http.Request) { r.Header.Del("client_secret") }, wantStatus: 401},
		{name: "header names any case", mod: func(r *http.Request) {
			r.Header.Del("client_id")
			r.Header["CLIENT_ID"] = []string{DefaultClientID}
		}, wantStatus: 200},
		{name: "missing correlation id", mod: func(r *http.Request) { r.Header.Del(CorrelationHeader) }, wantStatus: 400},
		{name: "alternative correlation header", mod: func(r *http.Request) {
			r.Header.Del(CorrelationHeader)
			r.Header.Set("SKV_CLIENT_CORRELATION_ID", "alt-1")
		}, wantStatus: 200},
		{name: "correlation id too long", mod: func(r *http.Request) { r.Header.Set(CorrelationHeader, strings.Repeat("x", 37)) }, wantStatus: 400},
		{name: "correlation id of 36", mod: func(r *http.Request) { r.Header.Set(CorrelationHeader, strings.Repeat("x", 36)) }, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			if err := e.sim.PutAccount(testAccount()); err != nil {
				t.Fatal(err)
			}
			req := e.apiRequest(OpSaldo, omf, "", tt.mod)
			e.clock.Add(tt.advance)
			st, b, h := e.send(req)
			if st != tt.wantStatus {
				t.Fatalf("status got %d, want %d: %s", st, tt.wantStatus, b)
			}
			if st == 200 {
				return
			}
			m := keys(t, b)
			if _, ok := m["felkod"]; ok {
				t.Errorf("gateway answer carries felkod: %s", b)
			}
			var ge struct{ Error string }
			mustDecode(t, b, &ge)
			if ge.Error == "" || (tt.wantError != "" && ge.Error != tt.wantError) {
				t.Errorf("error got %q, want %q", ge.Error, tt.wantError)
			}
			if got := strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer"); got != tt.wantWWW {
				t.Errorf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestScopeMissing(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	e.sim.InjectFault(Fault{Kind: FaultScopeMissing, Count: 1})
	st, b, _ := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}}, DefaultClientID, DefaultClientSecret, true)
	var ta struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	mustDecode(t, b, &ta)
	if st != 200 || ta.Scope == "ska" {
		t.Fatalf("scope-missing token: status %d scope %q", st, ta.Scope)
	}
	e.token = ta.AccessToken
	st, b = e.get(OpSaldo, "165566778899", "")
	if st != http.StatusForbidden || !strings.Contains(string(b), "The required scopes are not authorized") {
		t.Errorf("got %d %s, want 403 scopes not authorized", st, b)
	}
	// The fault was used up: the next token has the scope.
	e.token = e.fetchToken()
	if st, b := e.get(OpSaldo, "165566778899", ""); st != 200 {
		t.Errorf("after fault: %d %s", st, b)
	}
}

func TestFelkoder(t *testing.T) {
	tests := []struct {
		name       string
		op, omf, q string
		fault      *Fault
		wantStatus int
		wantFelkod int
		wantText   string
	}{
		{"bad check digit", OpSaldo, "165566778898", "", nil, 400, 1, "Felaktigt organisationsnummer"},
		{"ten digits of a person", OpTransaktioner, "8112189876", "", nil, 400, 1, "Felaktigt organisationsnummer"},
		{"century 17", OpSaldo, "175566778899", "", nil, 400, 1, "Felaktigt organisationsnummer"},
		{"century 16 on a personnummer", OpSaldo, "168112189876", "", nil, 400, 1, "Felaktigt organisationsnummer"},
		{"century 19 on an organisation number", OpSaldo, "195566778899", "", nil, 400, 1, "Felaktigt organisationsnummer"},
		{"century 20 without a date", OpSaldo, "205566778899", "", nil, 400, 1, "Felaktigt organisationsnummer"},
		{"letters", OpUtbetalningskonto, "16556677889x", "", nil, 400, 1, "Felaktigt organisationsnummer"},
		{"bad datumFrom", OpTransaktioner, "165566778899", "datumFrom=2026-13-01", nil, 400, 2, "Felaktigt datum"},
		{"datumFrom format", OpTransaktioner, "165566778899", "datumFrom=20260101", nil, 400, 2, "Felaktigt datum"},
		{"future datumFrom", OpTransaktioner, "165566778899", "datumFrom=2026-03-06", nil, 400, 2, "Felaktigt datum"},
		{"bad saldo datum", OpSaldo, "165566778899", "datum=5-3-2026", nil, 400, 2, "Felaktigt datum"},
		{"unknown account", OpSaldo, WithCheckDigit("16123456789"), "", nil, 404, 3, "Registrerat skattekonto saknas"},
		{"internal error fault", OpSaldo, "165566778899", "", &Fault{Kind: FaultFelkod}, 500, 4, "Internt fel"},
		{"closed", OpUtbetalningssparrar, DemoClosed, "", nil, 503, 5, "Skattekontot är stängt"},
		{"unauthorized", OpTransaktioner, DemoUnauthorized, "", nil, 403, 6, "Auktorisation saknas"},
		{"felkod fault 3 on one account", OpSaldo, "165566778899", "", &Fault{Omfragad: "165566778899", Kind: FaultFelkod, Felkod: 3}, 404, 3, "Registrerat skattekonto saknas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.sim.SeedDemo()
			if err := e.sim.PutAccount(testAccount()); err != nil {
				t.Fatal(err)
			}
			if tt.fault != nil {
				e.sim.InjectFault(*tt.fault)
			}
			st, b, h := e.send(e.apiRequest(tt.op, tt.omf, tt.q, nil))
			if st != tt.wantStatus {
				t.Errorf("status got %d, want %d", st, tt.wantStatus)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got tFelkod
			mustDecode(t, b, &got)
			if d := cmp.Diff(tFelkod{tt.wantFelkod, tt.wantText}, got); d != "" {
				t.Errorf("body (-want +got):\n%s", d)
			}
			if n := len(keys(t, b)); n != 2 {
				t.Errorf("error body has %d keys, want 2: %s", n, b)
			}
		})
	}
}

func TestDatumFrom(t *testing.T) {
	e := newEnv(t, Config{})
	a := testAccount()
	if err := e.sim.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		q        string
		wantFrom string
		wantRows int
	}{
		{"", "2024-09-05", 2},                     // 18 months back from 2026-03-05
		{"datumFrom=", "2024-09-05", 2},           // empty is the default too
		{"datumFrom=2020-01-01", "2023-09-02", 3}, // clamped to 915 days back
		{"datumFrom=2023-09-02", "2023-09-02", 3},
		{"datumFrom=2024-01-12", "2024-01-12", 3}, // inclusive
		{"datumFrom=2026-03-05", "2026-03-05", 0}, // today is allowed
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			st, b := e.get(OpTransaktioner, a.Omfragad, tt.q)
			if st != 200 {
				t.Fatalf("status %d: %s", st, b)
			}
			var got struct {
				DatumFrom string `json:"datumFrom"`
				Tidigare  []tTx  `json:"tidigareTransaktioner"`
				Kommande  []tTx  `json:"kommandeTransaktioner"`
			}
			mustDecode(t, b, &got)
			if got.DatumFrom != tt.wantFrom || len(got.Tidigare) != tt.wantRows || len(got.Kommande) != 1 {
				t.Errorf("got datumFrom %s, %d rows, %d upcoming; want %s, %d, 1", got.DatumFrom, len(got.Tidigare), len(got.Kommande), tt.wantFrom, tt.wantRows)
			}
			for i := 1; i < len(got.Tidigare); i++ {
				if got.Tidigare[i].Transaktionsdatum < got.Tidigare[i-1].Transaktionsdatum {
					t.Errorf("rows not in date order: %s", b)
				}
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, Config{})
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req := e.apiRequest(OpSaldo, "165566778899", "", func(r *http.Request) { r.Method = m })
		if st, _, _ := e.send(req); st != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405", m, st)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.sim.TokenURL(e.srv.URL), nil)
	if st, _, _ := e.send(req); st != http.StatusMethodNotAllowed {
		t.Errorf("GET token: status %d, want 405", st)
	}
}

func TestFaults(t *testing.T) {
	const omf = "165566778899"
	tests := []struct {
		name       string
		fault      Fault
		wantStatus int
		check      func(t *testing.T, b []byte, h http.Header, e *env)
	}{
		{name: "http429", fault: Fault{Kind: FaultHTTP429, RetryAfter: 2500 * time.Millisecond, Count: 1}, wantStatus: 429,
			check: func(t *testing.T, b []byte, h http.Header, e *env) {
				if h.Get("Retry-After") != "3" {
					t.Errorf("Retry-After %q, want 3", h.Get("Retry-After"))
				}
			}},
		{name: "http503", fault: Fault{Kind: FaultHTTP503, Count: 1}, wantStatus: 503,
			check: func(t *testing.T, b []byte, h http.Header, e *env) {
				if strings.Contains(string(b), "felkod") {
					t.Errorf("gateway 503 with felkod: %s", b)
				}
			}},
		{name: "http502", fault: Fault{Kind: FaultHTTP502, Count: 1}, wantStatus: 502},
		{name: "felkod 5", fault: Fault{Kind: FaultFelkod, Felkod: 5, Count: 1}, wantStatus: 503,
			check: func(t *testing.T, b []byte, h http.Header, e *env) {
				var f tFelkod
				mustDecode(t, b, &f)
				if f.Felkod != 5 {
					t.Errorf("felkod %d", f.Felkod)
				}
			}},
		{name: "latency", fault: Fault{Kind: FaultLatency, Latency: 3 * time.Second, Count: 1}, wantStatus: 200,
			check: func(t *testing.T, b []byte, h http.Header, e *env) {
				if d := cmp.Diff([]time.Duration{3 * time.Second}, e.sleeps.slept()); d != "" {
					t.Errorf("sleeps (-want +got):\n%s", d)
				}
			}},
		{name: "truncated", fault: Fault{Kind: FaultTruncated, Count: 1}, wantStatus: 200,
			check: func(t *testing.T, b []byte, h http.Header, e *env) {
				if json.Valid(b) || !strings.HasPrefix(string(b), "{") {
					t.Errorf("truncated body should be an invalid JSON prefix: %s", b)
				}
			}},
		{name: "nonjson", fault: Fault{Kind: FaultNonJSON, Count: 1}, wantStatus: 200,
			check: func(t *testing.T, b []byte, h http.Header, e *env) {
				if json.Valid(b) || !strings.Contains(h.Get("Content-Type"), "text/html") {
					t.Errorf("nonjson: %s %s", h.Get("Content-Type"), b)
				}
			}},
		{name: "other account unaffected", fault: Fault{Omfragad: "165781006662", Kind: FaultHTTP503}, wantStatus: 200},
		{name: "other operation unaffected", fault: Fault{Operation: OpTransaktioner, Kind: FaultHTTP503}, wantStatus: 200},
		{name: "token fault does not touch API", fault: Fault{Kind: FaultTokenRefused}, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			if err := e.sim.PutAccount(testAccount()); err != nil {
				t.Fatal(err)
			}
			e.token = e.fetchToken()
			e.sim.InjectFault(tt.fault)
			st, b, h := e.send(e.apiRequest(OpSaldo, omf, "", nil))
			if st != tt.wantStatus {
				t.Fatalf("status got %d, want %d: %s", st, tt.wantStatus, b)
			}
			if tt.check != nil {
				tt.check(t, b, h, e)
			}
			if tt.fault.Count == 1 {
				if st, b := e.get(OpSaldo, omf, ""); st != 200 {
					t.Errorf("fault with count 1 acted twice: %d %s", st, b)
				}
			}
		})
	}
}

func TestFaultUntilCleared(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	e.sim.InjectFault(Fault{Operation: OpSaldo, Kind: FaultHTTP502})
	for i := 0; i < 3; i++ {
		if st, _ := e.get(OpSaldo, "165566778899", ""); st != 502 {
			t.Fatalf("call %d: status %d, want 502", i, st)
		}
	}
	e.sim.ClearFaults()
	if st, _ := e.get(OpSaldo, "165566778899", ""); st != 200 {
		t.Errorf("after ClearFaults: %d", st)
	}
	e.sim.InjectFault(Fault{Kind: "bogus"})
	if n := len(e.sim.Faults()); n != 0 {
		t.Errorf("invalid fault was added")
	}
}

func TestFaultHang(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	e.token = e.fetchToken()
	e.sim.InjectFault(Fault{Kind: FaultHang, Count: 1})
	ctx, cancel := context.WithCancel(context.Background())
	req := e.apiRequest(OpSaldo, "165566778899", "", nil).WithContext(ctx)
	done := make(chan error, 1)
	go func() {
		resp, err := e.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Wait until the fault was consumed, i.e. the handler is hanging.
	for len(e.sim.Faults()) != 0 {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("hanging call returned early: %v", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestConfigLatency(t *testing.T) {
	e := newEnv(t, Config{Latency: 250 * time.Millisecond})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	e.get(OpSaldo, "165566778899", "")
	if d := cmp.Diff([]time.Duration{250 * time.Millisecond}, e.sleeps.slept()); d != "" {
		t.Errorf("sleeps (-want +got):\n%s", d)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, Config{RateLimit: 2})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if st, b := e.get(OpSaldo, "165566778899", ""); st != 200 {
			t.Fatalf("call %d: %d %s", i, st, b)
		}
	}
	st, b, h := e.send(e.apiRequest(OpSaldo, "165566778899", "", nil))
	if st != http.StatusTooManyRequests || h.Get("Retry-After") != "1" {
		t.Fatalf("third call: status %d Retry-After %q %s, want 429 and 1", st, h.Get("Retry-After"), b)
	}
	e.clock.Add(500 * time.Millisecond) // one token back at 2/s
	if st, _ := e.get(OpSaldo, "165566778899", ""); st != 200 {
		t.Errorf("after refill: status %d", st)
	}
	if st, _ := e.get(OpSaldo, "165566778899", ""); st != 429 {
		t.Errorf("bucket should be empty again: status %d", st)
	}
}

func TestTokenEndpoint(t *testing.T) {
	cc := url.Values{"grant_type": {"client_credentials"}}
	tests := []struct {
		name       string
		form       url.Values
		id, secret string
		basic      bool
		fault      *Fault
		wantStatus int
		wantError  string
	}{
		{"basic", cc, DefaultClientID, DefaultClientSecret, true, nil, 200, ""},
		{"form", cc, DefaultClientID, DefaultClientSecret, false, nil, 200, ""},
		{"scope ska", url.Values{"grant_type": {"client_credentials"}, "scope": {"ska"}}, DefaultClientID, DefaultClientSecret, true, nil, 200, ""},
		{"wrong secret", cc, DefaultClientID, "x", true, nil, 401, "invalid_client"},
		{"wrong id in form", cc, "x", DefaultClientSecret, false, nil, 401, "invalid_client"},
		{"wrong grant", url.Values{"grant_type": {"password"}}, DefaultClientID, DefaultClientSecret, true, nil, 400, "unsupported_grant_type"},
		{"bad scope", url.Values{"grant_type": {"client_credentials"}, "scope": {"skahmst"}}, DefaultClientID, DefaultClientSecret, true, nil, 400, "invalid_scope"},
		{"token refused", cc, DefaultClientID, DefaultClientSecret, true, &Fault{Kind: FaultTokenRefused, Count: 1}, 401, "invalid_client"},
		{"token 503", cc, DefaultClientID, DefaultClientSecret, true, &Fault{Operation: OpToken, Kind: FaultHTTP503, Count: 1}, 503, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			if tt.fault != nil {
				e.sim.InjectFault(*tt.fault)
			}
			form := url.Values{}
			for k, v := range tt.form {
				form[k] = v
			}
			st, b, _ := e.tokenRequest(form, tt.id, tt.secret, tt.basic)
			if st != tt.wantStatus {
				t.Fatalf("status got %d, want %d: %s", st, tt.wantStatus, b)
			}
			if st != 200 {
				var oe struct{ Error string }
				mustDecode(t, b, &oe)
				if tt.wantError != "" && oe.Error != tt.wantError {
					t.Errorf("error got %q, want %q", oe.Error, tt.wantError)
				}
				return
			}
			var ta struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int    `json:"expires_in"`
				Scope       string `json:"scope"`
			}
			mustDecode(t, b, &ta)
			if len(ta.AccessToken) < 32 || ta.TokenType != "Bearer" || ta.ExpiresIn != 3600 || ta.Scope != "ska" {
				t.Errorf("token answer: type %q expires %d scope %q len %d", ta.TokenType, ta.ExpiresIn, ta.Scope, len(ta.AccessToken))
			}
		})
	}
}

func TestTokenTTLAndRevoke(t *testing.T) {
	e := newEnv(t, Config{TokenTTL: time.Minute})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.get(OpSaldo, "165566778899", ""); st != 200 {
		t.Fatalf("status %d", st)
	}
	e.clock.Add(time.Minute)
	if st, _ := e.get(OpSaldo, "165566778899", ""); st != 401 {
		t.Errorf("after TTL: status %d, want 401", st)
	}
	e.token = e.fetchToken()
	e.sim.RevokeTokens()
	st, b := e.get(OpSaldo, "165566778899", "")
	if st != 401 || !strings.Contains(string(b), "Token has been revoked.") {
		t.Errorf("after revoke: %d %s", st, b)
	}
}

func TestCallsAndCorrelationIDs(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	e.token = e.fetchToken()
	e.get(OpSaldo, "165566778899", "")
	e.get(OpSaldo, "165566778899", "")
	e.get(OpTransaktioner, "165566778899", "")
	e.send(e.apiRequest(OpUtbetalningskonto, "165566778899", "", func(r *http.Request) {
		r.Header.Del(CorrelationHeader)
		r.Header.Set(AltCorrelationHeader, "alt-id")
	}))
	e.send(e.apiRequest(OpUtbetalningssparrar, "165566778899", "", func(r *http.Request) { r.Header.Del("Authorization") }))
	want := map[string]int{OpToken: 1, OpSaldo: 2, OpTransaktioner: 1, OpUtbetalningskonto: 1, OpUtbetalningssparrar: 1}
	if d := cmp.Diff(want, e.sim.Calls()); d != "" {
		t.Errorf("calls (-want +got):\n%s", d)
	}
	if got := e.sim.CallCount(OpSaldo); got != 2 {
		t.Errorf("CallCount(saldo) = %d", got)
	}
	wantIDs := []string{"corr-1", "corr-2", "corr-3", "alt-id", "corr-5"}
	if d := cmp.Diff(wantIDs, e.sim.CorrelationIDs()); d != "" {
		t.Errorf("correlation ids (-want +got):\n%s", d)
	}
	e.sim.ResetCalls()
	if len(e.sim.Calls()) != 0 || len(e.sim.CorrelationIDs()) != 0 {
		t.Errorf("ResetCalls left %v %v", e.sim.Calls(), e.sim.CorrelationIDs())
	}
}

func TestUnknownAPIPath(t *testing.T) {
	e := newEnv(t, Config{})
	req := e.apiRequest("nope", "165566778899", "", nil)
	if st, _, _ := e.send(req); st != 404 {
		t.Errorf("status %d, want 404", st)
	}
}
