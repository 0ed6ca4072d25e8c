package jobs

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

const acctA = "165566778899"

func amount(v int64) *int64 { return &v }

// putAccount creates a small account: two booked rows, one upcoming, a
// payout account and a block.
func putAccount(t testing.TB, s *sim.Sim, acct string) sim.Account {
	t.Helper()
	today := time.Now()
	a := sim.Account{
		Omfragad:          acct,
		SaldoSkatteverket: -14487, SaldoKronofogden: -145409, RantaSkatteverket: -12, RantaKronofogden: -10,
		Utbetalningskonto: strp("SE45 5000 0000 0583 9825 7466"),
		Tidigare: []sim.Transaction{
			{Transaktionsdatum: today.AddDate(0, -1, 0).Format(time.DateOnly), Transaktionstext: "Debiterad preliminärskatt", BeloppSkatteverket: amount(-5000)},
			{Transaktionsdatum: today.AddDate(0, 0, -3).Format(time.DateOnly), Transaktionstext: "Inbetalning bokförd", BeloppSkatteverket: amount(5000)},
		},
		Kommande: []sim.Transaction{
			{Transaktionsdatum: today.AddDate(0, 0, 40).Format(time.DateOnly), Forfallodatum: today.AddDate(0, 0, 40).Format(time.DateOnly), Transaktionstext: "Moms oktober 2026", BeloppSkatteverket: amount(-1200)},
		},
		Sparrar: []sim.Block{{Sparridentitet: 7001, DatumFrom: today.AddDate(0, -2, 0).Format(time.DateOnly), Sparrbelopp: amount(50000)}},
	}
	if err := s.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Account(acct)
	return got
}

func strp(s string) *string { return &s }

func TestE2EBaselineThenNoChange(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	e.worker(Config{}, nil)

	first := e.fetch(acctA, "r1")
	want := []string{"BalanceChanged", "FetchCompleted", "InterestChanged", "NewTransaction", "NewTransaction", "OcrNumberChanged",
		"PayoutAccountChanged", "PayoutBlockAdded", "ReconciliationDateChanged", "ShortfallForecast", "UpcomingDue"}
	if diff := cmp.Diff(want, types(first)); diff != "" {
		t.Fatalf("baseline events (-want +got):\n%s", diff)
	}
	for _, s := range first {
		if s.Type != "FetchCompleted" && s.Data["baseline"] != true {
			t.Errorf("%s not marked baseline", s.Type)
		}
		if s.Subject != acctA || s.Data["omfragad"] != acctA {
			t.Errorf("%s subject %s omfragad %v", s.Type, s.Subject, s.Data["omfragad"])
		}
	}
	fc := only(first, "FetchCompleted").Data
	if fc["changes"] != float64(10) || fc["apiCalls"] != float64(4) {
		t.Errorf("FetchCompleted changes %v apiCalls %v", fc["changes"], fc["apiCalls"])
	}
	if !slices.Equal(toStrings(fc["requestIds"]), []string{"r1"}) {
		t.Errorf("requestIds %v", fc["requestIds"])
	}
	// Every event derived from an answer carries that call's correlation id.
	ids := e.sim.CorrelationIDs()
	for _, s := range first {
		if s.Type == "FetchCompleted" {
			continue
		}
		if !slices.Contains(ids, correlation(e, s.ID)) {
			t.Errorf("%s correlation id not among the calls made", s.Type)
		}
	}

	second := e.fetch(acctA, "r2")
	if diff := cmp.Diff([]string{"FetchCompleted"}, types(second)); diff != "" {
		t.Fatalf("unchanged account (-want +got):\n%s", diff)
	}
	if only(second, "FetchCompleted").Data["changes"] != float64(0) {
		t.Errorf("changes = %v", only(second, "FetchCompleted").Data["changes"])
	}
	e.checkOnce()
}

func correlation(e *env, id string) string {
	for _, s := range e.allRaw() {
		if s.ID == id {
			return s.CorrelationID
		}
	}
	return ""
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func TestE2EEachEventType(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	e.worker(Config{}, nil)
	e.fetch(acctA, "base")
	today := time.Now()
	steps := []struct {
		name   string
		change func() error
		want   []string
	}{
		{"booked transaction", func() error {
			return e.sim.PostTransaction(acctA, sim.Transaction{Transaktionsdatum: today.Format(time.DateOnly), Transaktionstext: "Kostnadsränta", BeloppSkatteverket: amount(-40)})
		}, []string{"BalanceChanged", "FetchCompleted", "NewTransaction"}},
		{"interest", func() error { return e.sim.SetInterest(acctA, -20, -10) }, []string{"FetchCompleted", "InterestChanged"}},
		{"upcoming appears", func() error {
			d := today.AddDate(0, 0, 20).Format(time.DateOnly)
			return e.sim.AddUpcoming(acctA, sim.Transaction{Transaktionsdatum: d, Forfallodatum: d, Transaktionstext: "Arbetsgivaravgift november 2026", BeloppSkatteverket: amount(-3000)})
		}, []string{"FetchCompleted", "UpcomingDue"}},
		{"upcoming withdrawn", func() error { return e.sim.WithdrawUpcoming(acctA, 1) }, []string{"FetchCompleted", "UpcomingWithdrawn"}},
		{"upcoming due soon gets a reminder", func() error {
			d := today.AddDate(0, 0, 5).Format(time.DateOnly)
			return e.sim.AddUpcoming(acctA, sim.Transaction{Transaktionsdatum: d, Forfallodatum: d, Transaktionstext: "Slutlig skatt", BeloppSkatteverket: amount(-800)})
		}, []string{"DueReminder", "FetchCompleted", "UpcomingDue"}},
		{"upcoming booked: new transaction, not withdrawn", func() error {
			a, _ := e.sim.Account(acctA)
			i := slices.IndexFunc(a.Kommande, func(t sim.Transaction) bool { return t.Transaktionstext == "Slutlig skatt" })
			return e.sim.BookUpcoming(acctA, i, today.Format(time.DateOnly))
		}, []string{"BalanceChanged", "FetchCompleted", "NewTransaction"}},
		{"upcoming amount changed", func() error {
			a, _ := e.sim.Account(acctA)
			a.Kommande[0].BeloppSkatteverket = amount(-1500)
			return e.sim.PutAccount(a)
		}, []string{"FetchCompleted", "UpcomingChanged"}},
		{"payout account changed", func() error { return e.sim.SetPayoutAccount(acctA, strp("8327-9, 123 456 789-0")) }, []string{"FetchCompleted", "PayoutAccountChanged"}},
		{"block added", func() error {
			return e.sim.AddBlock(acctA, sim.Block{Sparridentitet: 7002, DatumFrom: today.Format(time.DateOnly), Totalsparr: boolp(true)})
		}, []string{"FetchCompleted", "PayoutBlockAdded"}},
		{"block changed", func() error {
			a, _ := e.sim.Account(acctA)
			a.Sparrar[0].Sparrbelopp = amount(60000)
			return e.sim.PutAccount(a)
		}, []string{"FetchCompleted", "PayoutBlockChanged"}},
		{"block removed", func() error { return e.sim.RemoveBlock(acctA, 7002) }, []string{"FetchCompleted", "PayoutBlockRemoved"}},
		{"ocr number and reconciliation date", func() error {
			a, _ := e.sim.Account(acctA)
			a.OcrNummer = "1655667788991"
			a.NastaAvstamningsdatum = today.AddDate(0, 2, 0).Format(time.DateOnly)
			return e.sim.PutAccount(a)
		}, []string{"FetchCompleted", "OcrNumberChanged", "ReconciliationDateChanged"}},
		{"balance paid: the shortfall forecast ends", func() error { return e.sim.SetBalance(acctA, 100, 0) }, []string{"BalanceChanged", "FetchCompleted", "ShortfallForecast"}},
		{"balance only", func() error { return e.sim.SetBalance(acctA, 50, 0) }, []string{"BalanceChanged", "FetchCompleted"}},
	}
	for i, st := range steps {
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := e.fetch(acctA, fmt.Sprintf("step-%d", i))
		if diff := cmp.Diff(st.want, types(got)); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", st.name, diff)
		}
		for _, s := range got {
			if s.Data["baseline"] != false {
				t.Errorf("%s: %s marked baseline", st.name, s.Type)
			}
		}
	}
	e.checkOnce()
}

func boolp(b bool) *bool { return &b }

func TestE2ERetryThenSuccess(t *testing.T) {
	for _, f := range []sim.Fault{
		{Kind: sim.FaultFelkod, Felkod: 4, Count: 2},
		{Kind: sim.FaultFelkod, Felkod: 5, Count: 1},
		{Kind: sim.FaultHTTP503, Count: 1},
		{Kind: sim.FaultHTTP429, Count: 1, RetryAfter: time.Millisecond},
		{Kind: sim.FaultTruncated, Count: 1},
		{Kind: sim.FaultNonJSON, Count: 1},
	} {
		t.Run(string(f.Kind)+fmt.Sprint(f.Felkod), func(t *testing.T) {
			e := newEnv(t)
			putAccount(t, e.sim, acctA)
			e.worker(Config{}, nil)
			f.Omfragad, f.Operation = acctA, sim.OpSaldo
			e.sim.InjectFault(f)
			got := e.fetch(acctA, "r")
			fc := only(got, "FetchCompleted")
			if fc.ID == "" {
				t.Fatalf("no FetchCompleted: %v", types(got))
			}
			calls, _ := fc.Data["calls"].([]any)
			saldo := 0
			for _, c := range calls {
				if c.(map[string]any)["operation"] == "saldo" {
					saldo++
				}
			}
			if want := f.Count + 1; saldo != want {
				t.Errorf("saldo calls = %d, want %d", saldo, want)
			}
			if fc.Data["apiCalls"] != float64(len(calls)) {
				t.Errorf("apiCalls %v, calls %d", fc.Data["apiCalls"], len(calls))
			}
		})
	}
}

func TestE2ENonRetryableAndExhausted(t *testing.T) {
	tests := []struct {
		name     string
		fault    sim.Fault
		account  func(a *sim.Account)
		reason   string
		felkod   float64
		attempts float64
	}{
		{name: "felkod 1", fault: sim.Fault{Kind: sim.FaultFelkod, Felkod: 1}, reason: "rejected", felkod: 1, attempts: 1},
		{name: "felkod 2", fault: sim.Fault{Kind: sim.FaultFelkod, Felkod: 2}, reason: "rejected", felkod: 2, attempts: 1},
		{name: "felkod 3 unknown account", reason: "rejected", felkod: 3, attempts: 1},
		{name: "felkod 6 no authorisation", account: func(a *sim.Account) { a.Unauthorized = true }, reason: "rejected", felkod: 6, attempts: 1},
		{name: "felkod 5 closed account, retried then given up", account: func(a *sim.Account) { a.Closed = true }, reason: "exhausted", felkod: 5, attempts: 3},
		{name: "felkod 4 every time", fault: sim.Fault{Kind: sim.FaultFelkod, Felkod: 4}, reason: "exhausted", felkod: 4, attempts: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if !strings.Contains(tc.name, "unknown") {
				a := putAccount(t, e.sim, acctA)
				if tc.account != nil {
					tc.account(&a)
					if err := e.sim.PutAccount(a); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tc.fault.Kind != "" {
				tc.fault.Omfragad = acctA
				e.sim.InjectFault(tc.fault)
			}
			// Inside the service window (03:00–05:00 Stockholm) felkod 4
			// and 5 are deferred past it; this test runs at any hour.
			e.workerWith(Config{}, hooks{serviceWindow: func(time.Time) bool { return false }})
			got := e.fetch(acctA, "r")
			if diff := cmp.Diff([]string{"FetchFailed"}, types(got)); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
			d := got[0].Data
			if d["reason"] != tc.reason || d["felkod"] != tc.felkod || d["attempts"] != tc.attempts || d["operation"] != "saldo" {
				t.Errorf("FetchFailed reason %v felkod %v attempts %v operation %v", d["reason"], d["felkod"], d["attempts"], d["operation"])
			}
			if got[0].Subject != acctA {
				t.Errorf("subject %s", got[0].Subject)
			}
		})
	}
}

func TestE2EInvalidRequests(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	e.worker(Config{}, nil)
	tests := []struct {
		name, token, body, requestID, subject string
	}{
		{"not JSON", acctA, `{"requestId":"bad-1", nope`, "", "invalid"},
		{"unknown operation", acctA, `{"requestId":"bad-2","operations":["skulder"]}`, "bad-2", acctA},
		{"mismatched account", acctA, `{"requestId":"bad-3","omfragad":"165560000167"}`, "bad-3", acctA},
		{"invalid identity number in subject", "165566778898", `{"requestId":"bad-4"}`, "bad-4", "invalid"},
		{"not an identity number at all", "hello", `{"requestId":"bad-5"}`, "bad-5", "invalid"},
	}
	for _, tc := range tests {
		e.request(tc.token, tc.body)
	}
	deadline := time.Now().Add(20 * time.Second)
	var failed []stored
	for time.Now().Before(deadline) {
		failed = failed[:0]
		for _, s := range e.all() {
			if s.Type == "FetchFailed" {
				failed = append(failed, s)
			}
		}
		if len(failed) == len(tests) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(failed) != len(tests) {
		t.Fatalf("%d FetchFailed, want %d; log:\n%s", len(failed), len(tests), e.logs.String())
	}
	for _, tc := range tests {
		i := slices.IndexFunc(failed, func(s stored) bool { return s.RequestID == tc.requestID && s.Subject == tc.subject })
		if tc.requestID == "" {
			i = slices.IndexFunc(failed, func(s stored) bool { return s.RequestID == "" && s.Subject == tc.subject })
		}
		if i < 0 {
			t.Errorf("%s: no FetchFailed with request id %q on subject %s", tc.name, tc.requestID, tc.subject)
			continue
		}
		if failed[i].Data["reason"] != "invalid-request" || failed[i].Data["error"] == "" {
			t.Errorf("%s: %v", tc.name, failed[i].Data)
		}
	}
	if n := e.sim.CallCount(sim.OpSaldo) + e.sim.CallCount(sim.OpToken); n != 0 {
		t.Errorf("invalid requests made %d API calls", n)
	}
	// Each request was removed from the queue.
	e.checkOnce()
}

func TestE2ETwoWorkersShareTheStream(t *testing.T) {
	e := newEnv(t)
	accts := []string{}
	for i := 0; len(accts) < 8; i++ {
		a := sim.WithCheckDigit(fmt.Sprintf("1655660000%d", i))
		if err := e.sim.PutAccount(sim.RealisticAccount(a, int64(i), 30, time.Now())); err != nil {
			t.Fatal(err)
		}
		accts = append(accts, a)
	}
	e.worker(Config{Concurrency: 4}, nil)
	e.worker(Config{Concurrency: 4}, nil)
	for round := 0; round < 3; round++ {
		for _, a := range accts {
			e.request(a, fmt.Sprintf(`{"requestId":"%s-%d"}`, a, round))
		}
	}
	for round := 0; round < 3; round++ {
		for _, a := range accts {
			e.wait(fmt.Sprintf("%s-%d", a, round))
		}
	}
	all := e.checkOnce()
	for _, a := range accts {
		acc, _ := e.sim.Account(a)
		n := 0
		for _, s := range all {
			if s.Subject == a && s.Type == "NewTransaction" {
				n++
			}
		}
		if n != len(acc.Tidigare) {
			t.Errorf("%s: %d NewTransaction, want %d", sim.Mask(a), n, len(acc.Tidigare))
		}
		if c := count(filter(all, a), "BalanceChanged"); c != 1 {
			t.Errorf("%s: %d BalanceChanged, want 1", sim.Mask(a), c)
		}
	}
}

func filter(evs []stored, subject string) []stored {
	var out []stored
	for _, s := range evs {
		if s.Subject == subject {
			out = append(out, s)
		}
	}
	return out
}
