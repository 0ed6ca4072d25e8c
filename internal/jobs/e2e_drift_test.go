package jobs

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// The first contact with the real API: operations under other paths,
// answers that drift from the service description, the bound on the
// one-call shortcut, the service window, and the simple test service.

const movedBlocks = "/skattekonton/{omfragad}/sparrar"

var pathVariables = map[skv.Operation]string{skv.OpUtbetalningssparrar: "SKV_PATH_UTBETALNINGSSPARRAR"}

// useSim replaces the env's simulator and client with new ones: simCfg
// for the simulator, tune to change the client's configuration.
func (e *env) useSim(simCfg sim.Config, tune func(*skv.Config)) {
	e.t.Helper()
	e.sim = sim.New(simCfg)
	hs := httptest.NewServer(e.sim.Handler())
	e.t.Cleanup(hs.Close)
	e.t.Cleanup(e.sim.Close)
	cfg := skv.Config{
		BaseURL: e.sim.BaseURL(hs.URL), TokenURL: e.sim.TokenURL(hs.URL),
		ClientID: sim.DefaultClientID, ClientSecret: sim.DefaultClientSecret,
		Timeout: 5 * time.Second, MaxAttempts: 3, MaxElapsed: 10 * time.Second,
		InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
	}
	if tune != nil {
		tune(&cfg)
	}
	var err error
	if e.api, err = skv.New(cfg); err != nil {
		e.t.Fatal(err)
	}
}

// serviceProblems returns the AccessProblems of a kind on the service subject.
func serviceProblems(evs []stored, kind string) []stored {
	var out []stored
	for _, s := range evs {
		if s.Type == "AccessProblem" && s.Subject == contract.ServiceToken && s.Data["kind"] == kind {
			out = append(out, s)
		}
	}
	return out
}

// unavailableOf returns FetchCompleted.data.unavailable as maps.
func unavailableOf(fc stored) []map[string]any {
	l, _ := fc.Data["unavailable"].([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		out = append(out, x.(map[string]any))
	}
	return out
}

func callOps(fc stored) []string {
	l, _ := fc.Data["calls"].([]any)
	var out []string
	for _, c := range l {
		out = append(out, c.(map[string]any)["operation"].(string))
	}
	return out
}

// TestE2EBlocksUnderAnotherPath: the blocks operation is served under
// another path. Without SKV_PATH_UTBETALNINGSSPARRAR the default fetch
// still yields its balance and transaction events, leaves the known
// blocks alone, lists the operation in unavailable, and one AccessProblem
// names the variable; the operation is not called again for a while.
// With the variable set, the blocks are fetched as usual.
func TestE2EBlocksUnderAnotherPath(t *testing.T) {
	t.Run("variable unset", func(t *testing.T) {
		e := newEnv(t)
		const acctB = "165560000167"
		putAccount(t, e.sim, acctA)
		putAccount(t, e.sim, acctB)
		e.worker(Config{PathVariables: pathVariables}, nil)
		if got := count(e.fetch(acctA, "before"), "PayoutBlockAdded"); got != 1 {
			t.Fatalf("blocks before the move: %d PayoutBlockAdded", got)
		}
		if err := e.sim.SetPath(sim.OpUtbetalningssparrar, movedBlocks); err != nil {
			t.Fatal(err)
		}

		// The default fetch of a new account: balance and transactions
		// come, the blocks are listed as unavailable.
		e.request(acctB, `{"requestId":"moved"}`)
		evs := e.wait("moved")
		for _, typ := range []string{"BalanceChanged", "NewTransaction", "UpcomingDue"} {
			if count(evs, typ) == 0 {
				t.Errorf("no %s: %v", typ, types(evs))
			}
		}
		un := unavailableOf(only(evs, "FetchCompleted"))
		if len(un) != 1 || un[0]["operation"] != "utbetalningssparrar" || un[0]["httpStatus"] != float64(404) ||
			un[0]["correlationId"] == "" || un[0]["skipped"] != nil {
			t.Fatalf("unavailable %v", un)
		}
		problems := serviceProblems(e.all(), "operation-unavailable")
		if len(problems) != 1 {
			t.Fatalf("%d operation-unavailable problems", len(problems))
		}
		detail := problems[0].Data["detail"].(string)
		for _, want := range []string{"SKV_PATH_UTBETALNINGSSPARRAR", "/skattekonton/{omfragad}/utbetalningssparrar", un[0]["correlationId"].(string)} {
			if !strings.Contains(detail, want) {
				t.Errorf("detail %q lacks %q", detail, want)
			}
		}
		for _, never := range []string{"http://", "127.0.0.1", acctB} {
			if strings.Contains(detail, never) {
				t.Errorf("detail %q holds %q", detail, never)
			}
		}
		if problems[0].Data["operation"] != "utbetalningssparrar" {
			t.Errorf("operation %v", problems[0].Data["operation"])
		}

		// An account whose blocks are known: within SKV_UNAVAILABLE_RETRY
		// the operation is not called, is listed as skipped with the call
		// that found it, and its blocks are not removed.
		if err := e.sim.SetBalance(acctA, -20000, -145409); err != nil {
			t.Fatal(err)
		}
		again := e.fetch(acctA, "again")
		if count(again, "BalanceChanged") != 1 || count(again, "PayoutBlockRemoved") != 0 {
			t.Errorf("known account after the move: %v", types(again))
		}
		fc := only(again, "FetchCompleted")
		if ops := callOps(fc); slices.Contains(ops, "utbetalningssparrar") {
			t.Errorf("called again: %v", ops)
		}
		want := []map[string]any{{"operation": "utbetalningssparrar", "httpStatus": float64(404), "correlationId": un[0]["correlationId"], "skipped": true}}
		if diff := cmp.Diff(want, unavailableOf(fc)); diff != "" {
			t.Errorf("skipped operation (-want +got):\n%s", diff)
		}
		if n := len(serviceProblems(e.checkOnce(), "operation-unavailable")); n != 1 {
			t.Errorf("%d operation-unavailable problems after a second fetch", n)
		}
		if !strings.Contains(e.logs.String(), `"unavailable":["utbetalningssparrar"]`) {
			t.Error("the fetch's log line does not name the unavailable operation")
		}
	})
	t.Run("variable set", func(t *testing.T) {
		e := newEnv(t)
		e.useSim(sim.Config{}, func(c *skv.Config) {
			c.Paths = map[skv.Operation]string{skv.OpUtbetalningssparrar: movedBlocks}
		})
		putAccount(t, e.sim, acctA)
		if err := e.sim.SetPath(sim.OpUtbetalningssparrar, movedBlocks); err != nil {
			t.Fatal(err)
		}
		e.worker(Config{PathVariables: pathVariables}, nil)
		evs := e.fetch(acctA, "set")
		if count(evs, "PayoutBlockAdded") != 1 || len(unavailableOf(only(evs, "FetchCompleted"))) != 0 {
			t.Errorf("events %v, unavailable %v", types(evs), unavailableOf(only(evs, "FetchCompleted")))
		}
		if n := len(problems(e.all(), contract.ServiceToken)); n != 0 {
			t.Errorf("%d service problems", n)
		}
	})
}

// TestE2EUnavailableOncePerDayAcrossReplicas: two workers fetching
// several accounts at once report an unavailable operation once, whether
// they mark it (the default) or call it on every fetch
// (SKV_UNAVAILABLE_RETRY 0, negative here).
func TestE2EUnavailableOncePerDayAcrossReplicas(t *testing.T) {
	for _, tc := range []struct {
		name  string
		retry time.Duration
	}{{"marked", 0}, {"called every time", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			accts := []string{acctA, "165560000167", "165781006662", "161128000013"}
			for _, a := range accts {
				putAccount(t, e.sim, a)
			}
			if err := e.sim.SetPath(sim.OpUtbetalningskonto, "/skattekonton/{omfragad}/konto"); err != nil {
				t.Fatal(err)
			}
			e.worker(Config{UnavailableRetry: tc.retry}, nil)
			e.worker(Config{UnavailableRetry: tc.retry}, nil)
			for round := range 2 {
				for i, a := range accts {
					e.request(a, fmt.Sprintf(`{"requestId":"r%d-%d","operations":["saldo","utbetalningskonto"]}`, round, i))
				}
				for i := range accts {
					fc := only(e.wait(fmt.Sprintf("r%d-%d", round, i)), "FetchCompleted")
					un := unavailableOf(fc)
					if len(un) != 1 || un[0]["operation"] != "utbetalningskonto" || (tc.retry < 0 && un[0]["skipped"] != nil) {
						t.Errorf("round %d: unavailable %v", round, un)
					}
				}
			}
			if n := len(serviceProblems(e.checkOnce(), "operation-unavailable")); n != 1 {
				t.Errorf("%d operation-unavailable problems from two replicas", n)
			}
			marks, err := e.store.UnavailableOperations(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, marked := marks["utbetalningskonto"]; marked != (tc.retry >= 0) {
				t.Errorf("marks %v", marks)
			}
		})
	}
}

// TestE2EUnknownFieldInSaldo: a saldo answer with a field the client does
// not know completes the fetch, counts the drift, and reports it once as
// api-drift, naming the field but not its value.
func TestE2EUnknownFieldInSaldo(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	e.sim.InjectFault(sim.Fault{Operation: sim.OpSaldo, Kind: sim.FaultExtraField, Field: "nyttBelopp"})
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	e.worker(Config{Metrics: m}, nil)
	for _, id := range []string{"x1", "x2"} {
		if evs := e.fetch(acctA, id); count(evs, "FetchCompleted") != 1 {
			t.Fatalf("%s: %v", id, types(evs))
		}
	}
	drift := serviceProblems(e.checkOnce(), "api-drift")
	if len(drift) != 1 {
		t.Fatalf("%d api-drift problems", len(drift))
	}
	d := drift[0].Data
	if want := []any{map[string]any{"kind": "unknown-field", "path": "nyttBelopp"}}; !cmp.Equal(want, d["drift"]) || d["operation"] != "saldo" {
		t.Errorf("drift %v operation %v", d["drift"], d["operation"])
	}
	if detail := d["detail"].(string); !strings.Contains(detail, "nyttBelopp") || strings.Contains(detail, "simulerat") {
		t.Errorf("detail %q", detail)
	}
	want := `
# HELP skattekonto_api_drift_total Differences between API answers and the service description, by operation and kind (unknown-field, missing-field, unknown-list-key).
# TYPE skattekonto_api_drift_total counter
skattekonto_api_drift_total{kind="unknown-field",operation="saldo"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "skattekonto_api_drift_total"); err != nil {
		t.Error(err)
	}
}

// TestE2EMissingFields: a transaction row without its text fails the
// fetch at once with a FetchFailed naming the operation, not retried; a
// saldo answer without an amount completes and keeps the amount it had.
func TestE2EMissingFields(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	e.worker(Config{}, nil)
	e.fetch(acctA, "base")
	e.sim.ResetCalls()

	e.sim.InjectFault(sim.Fault{Operation: sim.OpTransaktioner, Kind: sim.FaultDropField, Field: "tidigareTransaktioner[].transaktionstext", Count: 1})
	e.request(acctA, `{"requestId":"m1","operations":["transaktioner"],"force":true}`)
	evs := e.wait("m1")
	ff := only(evs, "FetchFailed").Data
	if ff["reason"] != "rejected" || ff["operation"] != "transaktioner" || !strings.Contains(ff["error"].(string), "mandatory field") {
		t.Errorf("FetchFailed %v", ff)
	}
	if n := e.sim.CallCount(sim.OpTransaktioner); n != 1 {
		t.Errorf("%d transaktioner calls: a missing field was retried", n)
	}
	if d := serviceProblems(e.all(), "api-drift"); len(d) != 1 || d[0].Data["operation"] != "transaktioner" {
		t.Errorf("api-drift problems %v", d)
	}

	e.sim.InjectFault(sim.Fault{Operation: sim.OpSaldo, Kind: sim.FaultDropField, Field: "saldoKronofogden", Count: 1})
	evs = e.fetch(acctA, "m2")
	if got := types(evs); !slices.Equal(got, []string{"FetchCompleted"}) {
		t.Errorf("saldo without saldoKronofogden: %v", got)
	}
	if err := e.sim.SetBalance(acctA, -14487, -1000); err != nil {
		t.Fatal(err)
	}
	bc := only(e.fetch(acctA, "m3"), "BalanceChanged").Data
	if delta := bc["delta"].(map[string]any); delta["saldoKronofogden"] != float64(-1000+145409) {
		t.Errorf("delta after the amount came back %v: the missing amount was not kept", delta)
	}
}

// TestE2EQuietUpcomingSeenAfterMaxAge: an upcoming row added without
// moving senastUppdaterad is not seen while the one-call shortcut holds,
// and is seen once the last transactions fetch is older than
// TransactionsMaxAge.
func TestE2EQuietUpcomingSeenAfterMaxAge(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	e.sim.SetQuietUpcoming(true)
	var ahead atomic.Int64 // how far the worker's clock runs ahead
	e.worker(Config{Now: func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }}, nil)
	e.fetch(acctA, "q0")
	due := time.Now().AddDate(0, 0, 60).Format(time.DateOnly)
	if err := e.sim.AddUpcoming(acctA, sim.Transaction{Transaktionsdatum: due, Forfallodatum: due,
		Transaktionstext: "Slutlig skatt", BeloppSkatteverket: amount(-3000)}); err != nil {
		t.Fatal(err)
	}
	soon := e.fetch(acctA, "q1")
	if fc := only(soon, "FetchCompleted"); !slices.Contains(toStrings(fc.Data["skipped"]), "transaktioner") || count(soon, "UpcomingDue") != 0 {
		t.Fatalf("within the max age: %v, skipped %v", types(soon), fc.Data["skipped"])
	}
	ahead.Store(int64(25 * time.Hour))
	later := e.fetch(acctA, "q2")
	if count(later, "UpcomingDue") != 1 {
		t.Errorf("after the max age: %v", types(later))
	}
	if fc := only(later, "FetchCompleted"); slices.Contains(toStrings(fc.Data["skipped"]), "transaktioner") {
		t.Errorf("transaktioner skipped after the max age")
	}
}

// stockholm is today's date at hh:mm Stockholm time.
func stockholm(hh, mm, ss int) time.Time {
	t := time.Now().In(contract.Stockholm)
	return time.Date(t.Year(), t.Month(), t.Day(), hh, mm, ss, 0, contract.Stockholm)
}

// TestE2EServiceWindowDefers: inside the service window a request whose
// fetch meets the closed service is given back until 05:00, unanswered:
// it stays in the stream, with a log line and a metric.
func TestE2EServiceWindowDefers(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	if err := e.sim.SetServiceWindow(sim.ServiceWindow{Mode: sim.WindowOn}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	at := stockholm(3, 30, 0)
	e.worker(Config{Now: func() time.Time { return at }, Metrics: m}, nil)
	e.request(acctA, `{"requestId":"w1"}`)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(e.logs.String(), `"reason":"deferred-to-window-end"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no deferral; log:\n%s", e.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := `"deferredUntil":"` + stockholm(5, 0, 0).Format(time.RFC3339)
	if logs := e.logs.String(); !strings.Contains(logs, want) || !strings.Contains(logs, `"outcome":"deferred"`) {
		t.Errorf("log line lacks %s or the outcome; log:\n%s", want, logs)
	}
	if v := fetches(t, reg, metrics.OutcomeDeferred); v != 1 {
		t.Errorf("deferred fetches %v", v)
	}
	if n := len(e.all()); n != 0 {
		t.Errorf("%d events for a deferred request", n)
	}
	info, err := e.js.Stream(context.Background(), contract.FetchStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("fetch stream holds %d messages, want the deferred request", n)
	}
}

// fetches is the value of skattekonto_fetches_total for the outcome.
func fetches(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "skattekonto_fetches_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			if mt.GetLabel()[0].GetValue() == outcome {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestE2EServiceWindowDeferralKeepsDeliveries: with WORKER_MAX_DELIVER 1
// a request deferred past the window is still delivered after it (the
// consumer keeps a delivery for the deferral) and answered.
func TestE2EServiceWindowDeferralKeepsDeliveries(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	// The client's three attempts meet felkod 5; the next delivery's do not.
	e.sim.InjectFault(sim.Fault{Operation: sim.OpSaldo, Kind: sim.FaultFelkod, Felkod: 5, Count: 3})
	at := stockholm(4, 59, 59).Add(500 * time.Millisecond)
	e.worker(Config{MaxDeliver: 1, Now: func() time.Time { return at }}, nil)
	e.request(acctA, `{"requestId":"w2"}`)
	evs := e.wait("w2")
	if count(evs, "FetchCompleted") != 1 {
		t.Fatalf("after the window: %v; log:\n%s", types(evs), e.logs.String())
	}
	if !strings.Contains(e.logs.String(), `"reason":"deferred-to-window-end"`) {
		t.Errorf("the request was not deferred; log:\n%s", e.logs.String())
	}
}

// TestE2EKeysOnly: against the simple test service (keys only), a fetch
// through the worker completes and no token is ever requested.
func TestE2EKeysOnly(t *testing.T) {
	e := newEnv(t)
	e.useSim(sim.Config{KeysOnly: true}, func(c *skv.Config) { c.KeysOnly, c.TokenURL = true, "" })
	putAccount(t, e.sim, acctA)
	e.worker(Config{}, nil)
	evs := e.fetch(acctA, "k1")
	if count(evs, "FetchCompleted") != 1 || count(evs, "NewTransaction") != 2 {
		t.Fatalf("keys only: %v; log:\n%s", types(evs), e.logs.String())
	}
	if n := e.sim.CallCount(sim.OpToken); n != 0 {
		t.Errorf("%d token requests in keys-only mode", n)
	}
}
