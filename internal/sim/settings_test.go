package sim

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// getPath calls path (below APIPrefix) with a fully authorised request.
func (e *env) getPath(path string) (int, []byte) {
	e.t.Helper()
	req := e.apiRequest(OpSaldo, "165566778899", "", func(r *http.Request) {
		r.URL.Path = APIPrefix + path
	})
	st, b, _ := e.send(req)
	return st, b
}

func TestServeUnderAnotherPath(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	const moved = "/skattekonton/{omfragad}/sparrinformation"
	if err := e.sim.SetPath(OpUtbetalningssparrar, moved); err != nil {
		t.Fatal(err)
	}
	st, b := e.getPath("/skattekonton/165566778899/utbetalningssparrar")
	if st != http.StatusNotFound {
		t.Fatalf("old path: status %d, want 404: %s", st, b)
	}
	if _, ok := keys(t, b)["felkod"]; ok {
		t.Errorf("old path answered with a felkod: %s", b)
	}
	st, b = e.getPath("/skattekonton/165566778899/sparrinformation")
	if st != http.StatusOK {
		t.Fatalf("new path: status %d: %s", st, b)
	}
	if _, ok := keys(t, b)["utbetalningssparrar"]; !ok {
		t.Errorf("new path does not answer the blocks: %s", b)
	}
	if got := e.sim.CallCount(OpUtbetalningssparrar); got != 1 {
		t.Errorf("blocks calls %d, want 1 (a call to a missing path is no operation)", got)
	}
	if got := e.sim.Paths()[OpUtbetalningssparrar]; got != moved {
		t.Errorf("Paths %q, want %q", got, moved)
	}
	// The other operations stay where they were.
	if st, b := e.get(OpSaldo, "165566778899", ""); st != http.StatusOK {
		t.Errorf("saldo: status %d: %s", st, b)
	}
	e.sim.ResetPaths()
	if st, _ := e.get(OpUtbetalningssparrar, "165566778899", ""); st != http.StatusOK {
		t.Errorf("after ResetPaths: status %d", st)
	}
}

func TestSetPathRefusesBadTemplates(t *testing.T) {
	s := New(Config{})
	for _, tc := range []struct{ op, template string }{
		{"saldo", "/skattekonton/saldo"},
		{"saldo", "skattekonton/{omfragad}/saldo"},
		{"saldo", "/skattekonton/{omfragad}/saldo?x=1"},
		{"saldo", "/skattekonton/{omfragad}/{omfragad}"},
		{"saldo", "/../{omfragad}"},
		{"saldo", "/skattekonton/{omfragad}/transaktioner"}, // taken by transaktioner
		{"token", "/x/{omfragad}"},
	} {
		if err := s.SetPath(tc.op, tc.template); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetPath(%s, %q) = %v, want ErrInvalid", tc.op, tc.template, err)
		}
	}
	if got := s.Paths(); got[OpSaldo] != DefaultPaths[OpSaldo] {
		t.Errorf("a refused template changed the path: %q", got[OpSaldo])
	}
}

func TestTenDigitOrganisationNumber(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	st12, b12 := e.get(OpSaldo, "165566778899", "")
	st10, b10 := e.get(OpSaldo, "5566778899", "")
	if st12 != http.StatusOK || st10 != http.StatusOK || string(b10) != string(b12) {
		t.Errorf("ten digits %d %s, twelve digits %d %s: want the same answer", st10, b10, st12, b12)
	}
	if st, b := e.get(OpSaldo, "5566778898", ""); st != http.StatusBadRequest {
		t.Errorf("ten digits with a bad check digit: status %d: %s", st, b)
	}
}

func TestValidOmfragadCentury(t *testing.T) {
	for _, tc := range []struct {
		name, first11 string
		want          bool
	}{
		{"legal person", "16556677889", true},
		{"GD number", "16302000000", true},
		{"person", "19811218987", true},
		{"person born this century", "20260304123", true},
		{"samordningsnummer: day + 60", "19811278123", true},
		{"29 February of a leap year", "20040229123", true},
		{"29 February of 2000", "20000229000", true},
		{"29 February of 2001", "20010229123", false},
		{"month 13", "20991301123", false},
		{"day 0", "19811200123", false},
		{"day 32", "19811232123", false},
		{"samordningsnummer day 32", "19811292123", false},
		{"century 15", "15556677889", false},
		{"century 17", "17811218123", false},
		{"century 18", "18990101123", false},
		{"century 21", "21000101000", false},
		{"16 before a personnummer", "16811218123", false},
		{"16 before a third digit below 2", "16101010101", false},
		{"19 before an organisation number", "19556677889", false},
	} {
		if got := ValidOmfragad(WithCheckDigit(tc.first11)); got != tc.want {
			t.Errorf("%s: ValidOmfragad(%s) = %v, want %v", tc.name, Mask(WithCheckDigit(tc.first11)), got, tc.want)
		}
	}
}

func TestNastaAvstamningsdatumMovesForward(t *testing.T) {
	e := newEnv(t, Config{})
	a := testAccount()
	a.NastaAvstamningsdatum = ""
	if err := e.sim.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	pinned := testAccount()
	pinned.Omfragad = DemoAB
	if err := e.sim.PutAccount(pinned); err != nil { // 2026-04-04
		t.Fatal(err)
	}
	recon := func(omf string) string {
		t.Helper()
		st, b := e.get(OpSaldo, omf, "")
		if st != http.StatusOK {
			t.Fatalf("status %d: %s", st, b)
		}
		var c tCommon
		mustDecode(t, b, &c)
		return c.NastaAvstamningsdatum
	}
	// 2026-03-05 (Thursday): March's first Saturday, the 7th, is ahead.
	for _, step := range []struct {
		advance     time.Duration
		live, fixed string
	}{
		{0, "2026-03-07", "2026-04-04"},
		{2 * 24 * time.Hour, "2026-03-07", "2026-04-04"},  // the day itself
		{24 * time.Hour, "2026-04-04", "2026-04-04"},      // the 8th: next month's
		{28 * 24 * time.Hour, "2026-05-02", "2026-05-02"}, // the 5th of April: the pinned date has passed
	} {
		e.clock.Add(step.advance)
		e.token = "" // a fresh token on the new date
		if got := recon("165566778899"); got != step.live {
			t.Errorf("%s: computed date %s, want %s", e.clock.Now().Format(time.DateOnly), got, step.live)
		}
		if got := recon(DemoAB); got != step.fixed {
			t.Errorf("%s: pinned date %s, want %s", e.clock.Now().Format(time.DateOnly), got, step.fixed)
		}
		if got, _ := e.sim.Account("165566778899"); got.NastaAvstamningsdatum != step.live {
			t.Errorf("Account shows %s, the API %s", got.NastaAvstamningsdatum, step.live)
		}
	}
}

func TestQuietUpcoming(t *testing.T) {
	e := newEnv(t, Config{})
	omf := "165566778899"
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	stamp := func() string {
		a, _ := e.sim.Account(omf)
		return a.SenastUppdaterad
	}
	before := stamp()
	e.clock.Add(time.Hour)
	if st, b := e.admin("PUT", "/admin/settings", `{"quietUpcoming":true}`); st != http.StatusOK || !strings.Contains(string(b), `"quietUpcoming":true`) {
		t.Fatalf("settings: %d %s", st, b)
	}
	row := Transaction{Forfallodatum: "2026-04-12", Transaktionstext: "Slutlig skatt", BeloppSkatteverket: i64(-900)}
	if err := e.sim.AddUpcoming(omf, row); err != nil {
		t.Fatal(err)
	}
	if st, b := e.admin("PUT", "/admin/accounts/"+omf+"/upcoming/0", `{"forfallodatum":"2026-03-12","transaktionstext":"Moms januari 2026","beloppSkatteverket":-7000}`); st != http.StatusOK {
		t.Fatalf("change upcoming: %d %s", st, b)
	}
	if err := e.sim.WithdrawUpcoming(omf, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.AddUpcoming(omf, row); err != nil {
		t.Fatal(err)
	}
	if got := stamp(); got != before {
		t.Errorf("quiet upcoming changes moved senastUppdaterad from %s to %s", before, got)
	}
	var tr struct {
		tCommon
		Kommande []tTx `json:"kommandeTransaktioner"`
	}
	_, b := e.get(OpTransaktioner, omf, "")
	mustDecode(t, b, &tr)
	if len(tr.Kommande) != 2 || *tr.Kommande[0].BeloppSkatteverket != -7000 || tr.Kommande[1].Transaktionstext != "Slutlig skatt" {
		t.Errorf("upcoming rows not changed: %+v", tr.Kommande)
	}
	if tr.SenastUppdaterad != before {
		t.Errorf("the API shows senastUppdaterad %s, want %s", tr.SenastUppdaterad, before)
	}
	// Booking is not an upcoming-only change: it moves the timestamp.
	if err := e.sim.BookUpcoming(omf, 0, ""); err != nil {
		t.Fatal(err)
	}
	if stamp() == before {
		t.Errorf("booking an upcoming row left senastUppdaterad")
	}
	// Off again: an upcoming change moves it.
	e.sim.SetQuietUpcoming(false)
	booked := stamp()
	e.clock.Add(time.Hour)
	if err := e.sim.AddUpcoming(omf, row); err != nil {
		t.Fatal(err)
	}
	if stamp() == booked {
		t.Errorf("upcoming change with the switch off left senastUppdaterad")
	}
}

func TestServiceWindow(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	// 10:00 Swedish time: open.
	if err := e.sim.SetServiceWindow(ServiceWindow{Mode: WindowClock}); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.get(OpSaldo, "165566778899", ""); st != http.StatusOK {
		t.Errorf("10:00: status %d, want 200", st)
	}
	e.token = e.fetchToken()
	// 03:30 Swedish time (UTC+1 in March): closed, felkod 5 by default.
	e.clock.Add(-(6*time.Hour + 30*time.Minute))
	st, b := e.get(OpSaldo, "165566778899", "")
	var f tFelkod
	mustDecode(t, b, &f)
	if st != http.StatusServiceUnavailable || f.Felkod != 5 {
		t.Errorf("03:30: status %d %s, want 503 felkod 5", st, b)
	}
	// The token endpoint stays open.
	if tok := e.fetchToken(); tok == "" {
		t.Errorf("no token in the window")
	}
	// Through the admin API: a gateway 503 without felkod.
	if st, b := e.admin("PUT", "/admin/settings", `{"serviceWindow":{"mode":"clock","kind":"http503"}}`); st != http.StatusOK {
		t.Fatalf("settings: %d %s", st, b)
	}
	st, b = e.get(OpTransaktioner, "165566778899", "")
	if _, ok := keys(t, b)["felkod"]; st != http.StatusServiceUnavailable || ok {
		t.Errorf("http503 window: status %d %s", st, b)
	}
	// 05:00: open again.
	e.clock.Add(90 * time.Minute)
	if st, b := e.get(OpSaldo, "165566778899", ""); st != http.StatusOK {
		t.Errorf("05:00: status %d %s", st, b)
	}
	// Mode on closes it whatever the time; hang answers nothing.
	if err := e.sim.SetServiceWindow(ServiceWindow{Mode: WindowOn, Kind: FaultHang}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req := e.apiRequest(OpSaldo, "165566778899", "", nil).WithContext(ctx)
	if resp, err := e.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("hang window answered %d", resp.StatusCode)
	}
}

func TestServiceWindowValidate(t *testing.T) {
	for _, w := range []ServiceWindow{{Mode: "sometimes"}, {Mode: WindowOn, Kind: FaultNonJSON}, {Mode: WindowOn, Kind: FaultFelkod, Felkod: 3}} {
		if err := w.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", w, err)
		}
	}
	e := newEnv(t, Config{})
	if st, _ := e.admin("PUT", "/admin/settings", `{"paths":{"saldo":"/s/{omfragad}"},"serviceWindow":{"mode":"sometimes"}}`); st != http.StatusBadRequest {
		t.Errorf("bad settings: status %d, want 400", st)
	}
	if got := e.sim.Settings(); got.Paths[OpSaldo] != DefaultPaths[OpSaldo] || got.ServiceWindow.Mode != WindowOff {
		t.Errorf("refused settings applied in part: %+v", got)
	}
	if st, b := e.admin("PUT", "/admin/settings", `{"paths":{"saldo":"/s/{omfragad}"}}`); st != http.StatusOK || !strings.Contains(string(b), `"saldo":"/s/{omfragad}"`) {
		t.Errorf("paths setting: %d %s", st, b)
	}
	if st, _ := e.admin("PUT", "/admin/settings", `{"paths":{"saldo":""}}`); st != http.StatusOK || e.sim.Paths()[OpSaldo] != DefaultPaths[OpSaldo] {
		t.Errorf("empty path did not restore the default: %d %q", st, e.sim.Paths()[OpSaldo])
	}
}

func TestKeysOnly(t *testing.T) {
	e := newEnv(t, Config{KeysOnly: true})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	noToken := func(r *http.Request) { r.Header.Del("Authorization") }
	e.token = "unused"
	st, b, _ := e.send(e.apiRequest(OpSaldo, "165566778899", "", noToken))
	if st != http.StatusOK {
		t.Errorf("keys only: status %d %s", st, b)
	}
	wrong := func(r *http.Request) { noToken(r); r.Header.Set("client_secret", "wrong") }
	if st, _, _ := e.send(e.apiRequest(OpSaldo, "165566778899", "", wrong)); st != http.StatusUnauthorized {
		t.Errorf("wrong secret: status %d, want 401", st)
	}
	noCorr := func(r *http.Request) { noToken(r); r.Header.Del(CorrelationHeader) }
	if st, _, _ := e.send(e.apiRequest(OpSaldo, "165566778899", "", noCorr)); st != http.StatusBadRequest {
		t.Errorf("no correlation id: status %d, want 400", st)
	}
	if n := e.sim.CallCount(OpToken); n != 0 {
		t.Errorf("token endpoint called %d times", n)
	}
}

func TestAdminRequiresJSON(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	before, _ := e.sim.Account("165566778899")
	for _, tc := range []struct{ method, path, ctype, body string }{
		{"POST", "/admin/accounts/165566778899/close", "text/plain", ""},
		{"POST", "/admin/accounts/165566778899/grant/revoke", "", ""},
		{"PUT", "/admin/accounts/165566778899/balance", "application/x-www-form-urlencoded", `{"saldoSkatteverket":1,"saldoKronofogden":2}`},
		{"POST", "/admin/faults", "text/plain;charset=UTF-8", `{"kind":"http503"}`},
		{"POST", "/admin/tokens/revoke", "multipart/form-data; boundary=x", ""},
		{"PUT", "/admin/settings", "text/json", `{"quietUpcoming":true}`},
	} {
		req, err := http.NewRequest(tc.method, e.srv.URL+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		if st, b, _ := e.send(req); st != http.StatusUnsupportedMediaType {
			t.Errorf("%s %s as %q: status %d, want 415: %s", tc.method, tc.path, tc.ctype, st, b)
		}
	}
	after, _ := e.sim.Account("165566778899")
	if after.Closed || after.Unauthorized || after.SaldoSkatteverket != before.SaldoSkatteverket || len(e.sim.Faults()) != 0 || e.sim.Settings().QuietUpcoming {
		t.Errorf("a refused request changed the simulator")
	}
	// JSON with a charset is JSON; reads and deletes need no body type.
	req, _ := http.NewRequest("POST", e.srv.URL+"/admin/faults", strings.NewReader(`{"kind":"http503"}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if st, b, _ := e.send(req); st != http.StatusOK {
		t.Errorf("application/json; charset=utf-8: status %d %s", st, b)
	}
	for _, m := range []string{"GET", "DELETE"} {
		req, _ := http.NewRequest(m, e.srv.URL+"/admin/faults", nil)
		if st, b, _ := e.send(req); st != http.StatusOK {
			t.Errorf("%s without a body type: status %d %s", m, st, b)
		}
	}
}

func TestScenarioChangeUpcoming(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	body := `{"steps":[{"omfragad":"165566778899","action":"change-upcoming","index":0,
		"transaction":{"forfallodatum":"2026-03-12","transaktionstext":"Moms januari 2026","beloppSkatteverket":-8000}}]}`
	if err := e.sim.LoadScenarioJSON([]byte(body)); err != nil {
		t.Fatal(err)
	}
	a, _ := e.sim.Account("165566778899")
	if len(a.Kommande) != 1 || *a.Kommande[0].BeloppSkatteverket != -8000 {
		t.Errorf("upcoming %+v", a.Kommande)
	}
	if err := e.sim.LoadScenarioJSON([]byte(`{"steps":[{"omfragad":"165566778899","action":"change-upcoming","index":0}]}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("change-upcoming without a transaction: %v", err)
	}
}

func TestReshapeFaults(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.sim.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	omf := "165566778899"
	for _, tc := range []struct {
		name  string
		fault Fault
		check func(t *testing.T, b []byte)
	}{
		{"extra top-level field", Fault{Operation: OpSaldo, Kind: FaultExtraField, Field: "nyttFalt"}, func(t *testing.T, b []byte) {
			if string(keys(t, b)["nyttFalt"]) != `"simulerat"` {
				t.Errorf("no nyttFalt: %s", b)
			}
		}},
		{"dropped row field", Fault{Operation: OpTransaktioner, Kind: FaultDropField, Field: "tidigareTransaktioner[].transaktionstext"}, func(t *testing.T, b []byte) {
			var tr struct {
				Tidigare []map[string]any `json:"tidigareTransaktioner"`
			}
			mustDecode(t, b, &tr)
			for _, r := range tr.Tidigare {
				if _, ok := r["transaktionstext"]; ok || r["transaktionsdatum"] == nil {
					t.Errorf("row %v", r)
				}
			}
			if len(tr.Tidigare) == 0 {
				t.Error("no rows")
			}
		}},
		{"renamed list", Fault{Operation: OpUtbetalningssparrar, Kind: FaultRenameField, Field: "utbetalningssparrar", To: "sparrlista"}, func(t *testing.T, b []byte) {
			k := keys(t, b)
			if _, ok := k["utbetalningssparrar"]; ok || k["sparrlista"] == nil {
				t.Errorf("not renamed: %s", b)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.sim.InjectFault(Fault{Omfragad: omf, Operation: tc.fault.Operation, Kind: tc.fault.Kind, Field: tc.fault.Field, To: tc.fault.To, Count: 1})
			st, b := e.get(tc.fault.Operation, omf, "")
			if st != http.StatusOK {
				t.Fatalf("status %d %s", st, b)
			}
			tc.check(t, b)
			// Count 1: the next answer is whole again.
			if _, b := e.get(tc.fault.Operation, omf, ""); strings.Contains(string(b), "simulerat") || strings.Contains(string(b), "sparrlista") {
				t.Errorf("fault outlived its count: %s", b)
			}
		})
	}
	for _, bad := range []Fault{
		{Kind: FaultExtraField},
		{Kind: FaultDropField, Field: "list[]."},
		{Kind: FaultRenameField, Field: "utbetalningssparrar"},
		{Kind: FaultRenameField, Field: "a[].b", To: "c"},
		{Kind: FaultExtraField, Field: "x", Operation: OpToken},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
	if st, b := e.admin("POST", "/admin/faults", `{"kind":"rename-field","field":"utbetalningssparrar","to":"sparrlista","count":1}`); st != http.StatusOK || !strings.Contains(string(b), `"to":"sparrlista"`) {
		t.Errorf("admin fault: %d %s", st, b)
	}
}
