package jobs

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// TestE2ELogsHoldNoSecrets runs fetches for a sole trader (personnummer)
// with a payout account, one of them failing, and greps the worker's log
// for the personnummer, the payout account, the client secret and tokens.
func TestE2ELogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t)
	const pnr = "198112189876"
	a := putAccount(t, e.sim, pnr)
	e.worker(Config{}, nil)
	e.fetch(pnr, "p1")
	e.sim.InjectFault(sim.Fault{Omfragad: pnr, Kind: sim.FaultFelkod, Felkod: 6, Count: 1})
	e.fetch(pnr, "p2")
	e.request(pnr, `{"requestId":"p3","omfragad":"19811218-9877"}`) // bad check digit
	e.wait("p3")
	logs := e.logs.String()
	if !strings.Contains(logs, "19811218****") {
		t.Fatalf("log does not show the masked account; log:\n%s", logs)
	}
	for _, secret := range []string{pnr, "8112189876", "811218-9876", "811218-9877", *a.Utbetalningskonto, sim.DefaultClientSecret, "Bearer"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

// TestE2EMetricsMove checks that an end-to-end run moves the metrics.
func TestE2EMetricsMove(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	e.worker(Config{Metrics: m}, nil)
	e.sim.InjectFault(sim.Fault{Omfragad: acctA, Operation: sim.OpSaldo, Kind: sim.FaultFelkod, Felkod: 4, Count: 1})
	e.fetch(acctA, "m1")
	for _, name := range []string{
		"skattekonto_fetches_total", "skattekonto_api_calls_total", "skattekonto_api_retries_total",
		"skattekonto_events_published_total", "skattekonto_diff_duration_seconds", "skattekonto_fetch_duration_seconds",
	} {
		n, err := testutil.GatherAndCount(reg, name)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("metric %s has no samples after a fetch", name)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "skattekonto_events_published_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetValue() == "NewTransaction" {
					found = true
					if v := mt.GetCounter().GetValue(); v != 2 {
						t.Errorf("NewTransaction published = %v, want 2", v)
					}
				}
			}
		}
	}
	if !found {
		t.Error("no NewTransaction sample")
	}
}
