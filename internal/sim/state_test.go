package sim

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMutations(t *testing.T) {
	clock := &fakeClock{t: testNow}
	s := New(Config{Now: clock.Now})
	a := testAccount()
	if err := s.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour)
	if err := s.PostTransaction(a.Omfragad, Transaction{Transaktionstext: "Inbetalning bokförd 260305", BeloppSkatteverket: i64(10000), BeloppKronofogden: i64(500)}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Account(a.Omfragad)
	if got.SaldoSkatteverket != -4487 || got.SaldoKronofogden != -144909 {
		t.Errorf("balance %d/%d, want -4487/-144909", got.SaldoSkatteverket, got.SaldoKronofogden)
	}
	last := got.Tidigare[len(got.Tidigare)-1]
	if last.Transaktionsidentitet == 0 || last.Transaktionsdatum != "2026-03-05" || last.Ranteberakningsdatum != "2026-03-05" {
		t.Errorf("posted row %+v", last)
	}
	if last.Transaktionsidentitet <= 13 {
		t.Errorf("identity %d collides with existing ones", last.Transaktionsidentitet)
	}
	if got.SenastUppdaterad != "2026-03-05T11:00:00" {
		t.Errorf("senastUppdaterad %q", got.SenastUppdaterad)
	}

	// Book the upcoming row: it leaves kommande, gets an identity, moves the balance.
	if err := s.BookUpcoming(a.Omfragad, 0, "2026-03-12"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Account(a.Omfragad)
	if len(got.Kommande) != 0 || got.SaldoSkatteverket != -4487-6250 {
		t.Errorf("after booking: %d upcoming, saldo %d", len(got.Kommande), got.SaldoSkatteverket)
	}
	b := got.Tidigare[len(got.Tidigare)-1]
	if b.Transaktionsdatum != "2026-03-12" || b.Transaktionsidentitet == 0 || b.Forfallodatum != "" || b.Transaktionstext != "Moms januari 2026" {
		t.Errorf("booked row %+v", b)
	}

	if err := s.AddUpcoming(a.Omfragad, Transaction{Forfallodatum: "2026-04-12", Transaktionstext: "Debiterad preliminärskatt", BeloppSkatteverket: i64(-1000)}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Account(a.Omfragad)
	if k := got.Kommande[0]; k.Transaktionsdatum != "2026-04-12" || k.Ranteberakningsdatum != "2026-04-12" {
		t.Errorf("upcoming defaults %+v", k)
	}
	if err := s.WithdrawUpcoming(a.Omfragad, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.WithdrawUpcoming(a.Omfragad, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("withdraw from empty: %v, want ErrNotFound", err)
	}
	if err := s.SetBalance(a.Omfragad, 1, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetInterest(a.Omfragad, -3, -4); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBlock(a.Omfragad, Block{DatumFrom: "2026-03-01", Totalsparr: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBlock(a.Omfragad, Block{Sparridentitet: 7001, DatumFrom: "2026-03-01"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("duplicate block id: %v, want ErrInvalid", err)
	}
	if err := s.RemoveBlock(a.Omfragad, 7001); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPayoutAccount(a.Omfragad, ptr("5000-1, 1")); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseAccount(a.Omfragad); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Account(a.Omfragad)
	if got.SaldoSkatteverket != 1 || got.RantaKronofogden != -4 || len(got.Sparrar) != 1 || got.Sparrar[0].Sparridentitet == 0 ||
		*got.Utbetalningskonto != "5000-1, 1" || !got.Closed {
		t.Errorf("account after mutations %+v", got)
	}

	var kinds []string
	for i, c := range s.Changes() {
		kinds = append(kinds, c.Kind)
		if c.Seq != int64(i+1) || c.Omfragad != a.Omfragad {
			t.Errorf("change %d: %+v", i, c)
		}
	}
	want := []string{KindPutAccount, KindPostTransaction, KindBookUpcoming, KindAddUpcoming, KindWithdrawUpcoming,
		KindSetBalance, KindSetInterest, KindAddBlock, KindRemoveBlock, KindSetPayoutAccount, KindCloseAccount}
	if d := cmp.Diff(want, kinds); d != "" {
		t.Errorf("change kinds (-want +got):\n%s", d)
	}
}

func TestMutationErrors(t *testing.T) {
	s := New(Config{Now: (&fakeClock{t: testNow}).Now})
	if err := s.PutAccount(testAccount()); err != nil {
		t.Fatal(err)
	}
	const omf = "165566778899"
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"bad omfragad", s.PutAccount(Account{Omfragad: "198112189877"}), ErrInvalid},
		{"unknown account", s.SetBalance(WithCheckDigit("16123456789"), 1, 1), ErrNotFound},
		{"missing text", s.PostTransaction(omf, Transaction{}), ErrInvalid},
		{"long text", s.PostTransaction(omf, Transaction{Transaktionstext: strings.Repeat("å", 51)}), ErrInvalid},
		{"bad date", s.PostTransaction(omf, Transaction{Transaktionstext: "x", Transaktionsdatum: "2026-02-30"}), ErrInvalid},
		{"bad book date", s.BookUpcoming(omf, 0, "tomorrow"), ErrInvalid},
		{"bad index", s.BookUpcoming(omf, 5, ""), ErrNotFound},
		{"unknown block", s.RemoveBlock(omf, 1), ErrNotFound},
		{"block dates", s.AddBlock(omf, Block{DatumFrom: "2026-03-01", DatumTom: "2026-02-01"}), ErrInvalid},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	// A personnummer never appears whole in an error.
	err := s.SetBalance("198112189876", 0, 0)
	if err == nil || strings.Contains(err.Error(), "198112189876") {
		t.Errorf("error %v leaks the personnummer", err)
	}
}

func TestAccountIsACopy(t *testing.T) {
	s := New(Config{})
	a := testAccount()
	if err := s.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	*a.Tidigare[0].BeloppSkatteverket = 99
	got, _ := s.Account(a.Omfragad)
	*got.Sparrar[0].Sparrbelopp = 1
	again, _ := s.Account(a.Omfragad)
	if *again.Sparrar[0].Sparrbelopp != 25000 || *again.Tidigare[0].BeloppSkatteverket == 99 {
		t.Errorf("simulator state shared with callers")
	}
}

func TestAdminAPI(t *testing.T) {
	e := newEnv(t, Config{})
	const omf = "165566778899"
	body, _ := json.Marshal(testAccount())
	steps := []struct {
		method, path, body string
		wantStatus         int
		check              func(t *testing.T, b []byte)
	}{
		{"PUT", "/admin/accounts/" + omf, string(body), 200, nil},
		{"PUT", "/admin/accounts/" + omf, `{"omfragad":"165781006662"}`, 400, nil},
		{"PUT", "/admin/accounts/" + omf, `{"saldoSkatteverkt":1}`, 400, nil},
		{"PUT", "/admin/accounts/165566778898", `{}`, 400, nil},
		{"GET", "/admin/accounts/" + omf, "", 200, func(t *testing.T, b []byte) {
			var a Account
			mustDecode(t, b, &a)
			if a.SaldoSkatteverket != -14487 || len(a.Tidigare) != 4 || a.OcrNummer != OCR(omf) {
				t.Errorf("account %s", b)
			}
		}},
		{"GET", "/admin/accounts/165781006662", "", 404, nil},
		{"POST", "/admin/accounts/" + omf + "/transactions", `{"transaktionsdatum":"2026-03-04","transaktionstext":"Intäktsränta","beloppSkatteverket":7}`, 200, func(t *testing.T, b []byte) {
			var a Account
			mustDecode(t, b, &a)
			if a.SaldoSkatteverket != -14480 {
				t.Errorf("saldo %d", a.SaldoSkatteverket)
			}
		}},
		{"POST", "/admin/accounts/" + omf + "/transactions", `{"transaktionstext":""}`, 400, nil},
		{"POST", "/admin/accounts/" + omf + "/upcoming", `{"forfallodatum":"2026-04-12","transaktionstext":"Slutlig skatt","beloppSkatteverket":-100}`, 200, nil},
		{"POST", "/admin/accounts/" + omf + "/upcoming/1/book", `{"date":"2026-03-05"}`, 200, nil},
		{"POST", "/admin/accounts/" + omf + "/upcoming/0/book", ``, 200, nil},
		{"POST", "/admin/accounts/" + omf + "/upcoming/0/book", ``, 404, nil},
		{"POST", "/admin/accounts/" + omf + "/upcoming/x/book", ``, 400, nil},
		{"POST", "/admin/accounts/" + omf + "/upcoming", `{"forfallodatum":"2026-04-12","transaktionstext":"Moms"}`, 200, nil},
		{"DELETE", "/admin/accounts/" + omf + "/upcoming/0", "", 200, func(t *testing.T, b []byte) {
			var a Account
			mustDecode(t, b, &a)
			if len(a.Kommande) != 0 || a.SaldoSkatteverket != -14480-6250-100 {
				t.Errorf("after withdraw: %d upcoming, saldo %d", len(a.Kommande), a.SaldoSkatteverket)
			}
		}},
		{"PUT", "/admin/accounts/" + omf + "/balance", `{"saldoSkatteverket":5,"saldoKronofogden":-6}`, 200, nil},
		{"PUT", "/admin/accounts/" + omf + "/balance", `{"saldoSkatteverket":5}`, 400, nil},
		{"PUT", "/admin/accounts/" + omf + "/interest", `{"rantaSkatteverket":-1,"rantaKronofogden":-2}`, 200, nil},
		{"PUT", "/admin/accounts/" + omf + "/payout-account", `{"utbetalningskonto":null}`, 200, func(t *testing.T, b []byte) {
			if strings.Contains(string(b), "utbetalningskonto") {
				t.Errorf("payout account not removed: %s", b)
			}
		}},
		{"POST", "/admin/accounts/" + omf + "/blocks", `{"sparridentitet":42,"datumFrom":"2026-03-01","sparrbelopp":1000}`, 200, nil},
		{"POST", "/admin/accounts/" + omf + "/blocks", `{"datumFrom":"bad"}`, 400, nil},
		{"DELETE", "/admin/accounts/" + omf + "/blocks/42", "", 200, nil},
		{"DELETE", "/admin/accounts/" + omf + "/blocks/42", "", 404, nil},
		{"POST", "/admin/accounts/" + omf + "/close", "", 200, func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), `"closed":true`) {
				t.Errorf("not closed: %s", b)
			}
		}},
		{"GET", "/admin/accounts", "", 200, func(t *testing.T, b []byte) {
			var as []Account
			mustDecode(t, b, &as)
			if len(as) != 1 {
				t.Errorf("%d accounts", len(as))
			}
		}},
		{"POST", "/admin/faults", `{"kind":"http429","operation":"saldo","count":2,"retryAfter":3}`, 200, func(t *testing.T, b []byte) {
			var fs []Fault
			mustDecode(t, b, &fs)
			if d := cmp.Diff([]Fault{{Kind: FaultHTTP429, Operation: OpSaldo, Count: 2, RetryAfter: 3 * time.Second}}, fs); d != "" {
				t.Errorf("faults (-want +got):\n%s", d)
			}
		}},
		{"POST", "/admin/faults", `{"kind":"explode"}`, 400, nil},
		{"POST", "/admin/faults", `{"kind":"latency","latency":"x"}`, 400, nil},
		{"POST", "/admin/faults", `{"kind":"http503","bogus":1}`, 400, nil},
		{"DELETE", "/admin/faults", "", 200, func(t *testing.T, b []byte) {
			if strings.TrimSpace(string(b)) != "[]" {
				t.Errorf("faults after clear: %s", b)
			}
		}},
		{"GET", "/admin/changes?since=2", "", 200, func(t *testing.T, b []byte) {
			var cs []Change
			mustDecode(t, b, &cs)
			if len(cs) == 0 || cs[0].Seq != 3 {
				t.Errorf("changes since 2: %s", b)
			}
		}},
		{"GET", "/admin/calls", "", 200, func(t *testing.T, b []byte) {
			var c struct {
				Calls          map[string]int `json:"calls"`
				CorrelationIDs []string       `json:"correlationIds"`
			}
			mustDecode(t, b, &c)
			if c.Calls == nil {
				t.Errorf("calls: %s", b)
			}
		}},
		{"DELETE", "/admin/calls", "", 200, nil},
		{"GET", "/admin/nothing", "", 404, nil},
		{"PATCH", "/admin/faults", "", 404, nil},
	}
	for i, st := range steps {
		code, b := e.admin(st.method, st.path, st.body)
		if code != st.wantStatus {
			t.Fatalf("step %d %s %s: status %d, want %d: %s", i, st.method, st.path, code, st.wantStatus, b)
		}
		if code >= 400 {
			var ae struct{ Error string }
			if err := json.Unmarshal(b, &ae); err != nil || ae.Error == "" {
				t.Errorf("step %d: error body %s", i, b)
			}
		}
		if st.check != nil {
			st.check(t, b)
		}
	}
}

// fakeTimers captures scenario timers.
type fakeTimers struct {
	mu    sync.Mutex
	delay []time.Duration
	fns   []func()
}

func (f *fakeTimers) afterFunc(d time.Duration, fn func()) func() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = append(f.delay, d)
	f.fns = append(f.fns, fn)
	return func() bool { return true }
}

func TestLoadScenario(t *testing.T) {
	clock := &fakeClock{t: testNow}
	s := New(Config{Now: clock.Now})
	timers := &fakeTimers{}
	s.afterFunc = timers.afterFunc
	f, err := os.Open(filepath.Join("testdata", "demo-scenario.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.LoadScenario(f); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.Account("165781006662"); !ok {
		t.Errorf("generated account missing")
	}
	want := []time.Duration{15 * time.Second, 30 * time.Second, 45 * time.Second, 60 * time.Second, 75 * time.Second, 90 * time.Second, 120 * time.Second}
	if d := cmp.Diff(want, timers.delay); d != "" {
		t.Fatalf("delays (-want +got):\n%s", d)
	}
	for _, fn := range timers.fns {
		fn()
	}
	a, _ := s.Account("165566778899")
	if len(a.Kommande) != 0 || len(a.Tidigare) != 7 || a.RantaSkatteverket != -25 || *a.Utbetalningskonto != "5000-1, 987 654 321" || len(a.Sparrar) != 2 {
		t.Errorf("after steps: %d upcoming, %d booked, ranta %d, konto %v, %d blocks", len(a.Kommande), len(a.Tidigare), a.RantaSkatteverket, *a.Utbetalningskonto, len(a.Sparrar))
	}
	if a.SaldoSkatteverket != -14487-12920+19170 {
		t.Errorf("saldo %d", a.SaldoSkatteverket)
	}
	if fs := s.Faults(); len(fs) != 1 || fs[0].Kind != FaultHTTP503 {
		t.Errorf("faults %+v", fs)
	}
}

func TestLoadScenarioInvalid(t *testing.T) {
	tests := map[string]string{
		"not json":       `{`,
		"unknown action": `{"steps":[{"action":"explode"}]}`,
		"bad after":      `{"steps":[{"after":"soon","action":"clear-faults"}]}`,
		"missing field":  `{"steps":[{"after":"1s","action":"post-transaction","omfragad":"165566778899"}]}`,
		"bad account":    `{"accounts":[{"omfragad":"123"}]}`,
		"unknown field":  `{"acounts":[]}`,
		"bad fault":      `{"steps":[{"action":"inject-fault","fault":{"kind":"nope"}}]}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			s := New(Config{})
			s.afterFunc = (&fakeTimers{}).afterFunc
			if err := s.LoadScenarioJSON([]byte(body)); err == nil {
				t.Errorf("scenario accepted")
			}
			if len(s.Changes()) != 0 {
				t.Errorf("invalid scenario changed state")
			}
		})
	}
}

func TestAdminScenarioImmediate(t *testing.T) {
	e := newEnv(t, Config{})
	body := `{"accounts":[{"omfragad":"165566778899"}],"steps":[{"omfragad":"165566778899","action":"set-balance","saldoSkatteverket":-100,"saldoKronofogden":0}]}`
	if st, b := e.admin("POST", "/admin/scenario", body); st != 200 {
		t.Fatalf("status %d: %s", st, b)
	}
	if a, _ := e.sim.Account("165566778899"); a.SaldoSkatteverket != -100 {
		t.Errorf("immediate step not run: %d", a.SaldoSkatteverket)
	}
}

func TestMTLS(t *testing.T) {
	certs, err := GenerateCerts([]string{"skvsim.test"}, "165566778899", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := certs.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(paths[FileClientKey]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("client key mode: %v %v", fi.Mode(), err)
	}
	loaded, err := LoadCerts(filepath.Dir(paths[FileCA]))
	if err != nil || !cmp.Equal(loaded, certs) {
		t.Fatalf("LoadCerts: %v", err)
	}
	serverCfg, err := certs.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if serverCfg.MinVersion != tls.VersionTLS12 || serverCfg.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("server config: min %x auth %v", serverCfg.MinVersion, serverCfg.ClientAuth)
	}
	s := New(Config{RequireMTLS: true})
	s.SeedDemo()
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.TLS = serverCfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()

	clientCfg, err := certs.ClientTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	good := &http.Client{Transport: &http.Transport{TLSClientConfig: clientCfg}}
	defer good.CloseIdleConnections()
	resp, err := good.Get(srv.URL + "/admin/accounts/" + DemoAB)
	if err != nil {
		t.Fatalf("with client certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	if cn := resp.TLS.PeerCertificates[0].Subject; cn.CommonName != "skvsim" {
		t.Errorf("server subject %v", cn)
	}

	bare := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: clientCfg.RootCAs}}}
	defer bare.CloseIdleConnections()
	if resp, err := bare.Get(srv.URL + "/admin/accounts"); err == nil {
		resp.Body.Close()
		t.Errorf("call without a client certificate succeeded")
	}

	// The client certificate carries the organisation number.
	cert, err := tls.X509KeyPair(certs.ClientCertPEM, certs.ClientKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf == nil || cert.Leaf.Subject.SerialNumber != "165566778899" {
		t.Errorf("client subject lacks the organisation number")
	}
}
