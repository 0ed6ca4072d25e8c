package loadtest

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestBurstDefaults(t *testing.T) {
	c, err := Config{}.burstDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Accounts != 6 || c.Workers != 2 || c.Rounds != 40 || c.BurstSize != 5 || c.RoundInterval != time.Second || c.Quiet != 3*time.Minute {
		t.Errorf("defaults %+v, want 6 accounts, 2 workers, 40 rounds of 5 every 1s, quiet 3m", c)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"unknown fault", Config{Fault: "flood"}},
		{"partition without a cluster", Config{Fault: FaultPartition}},
		{"burst size", Config{BurstSize: 101}},
		{"negative ack wait", Config{AckWait: -time.Second}},
		{"no rounds", Config{Rounds: -1}},
		{"external NATS", Config{NATSURL: "nats://127.0.0.1:4222"}},
	} {
		if _, err := tc.cfg.burstDefaults(); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	for _, f := range FaultKinds {
		if _, err := (Config{Fault: f, Cluster: true}).burstDefaults(); err != nil {
			t.Errorf("fault %s on a cluster: %v", f, err)
		}
	}
}

func burstReport() *BurstReport {
	r := newBurstReport(Config{Accounts: 6, Transactions: 20, Workers: 2, Rounds: 40, BurstSize: 5, RoundInterval: time.Second,
		KillEachRound: true, NATSRestart: true, AckWait: 4 * time.Second, Seed: 7})
	r.Kills, r.NATSRestarts, r.Seconds, r.Settled = 40, 1, 95, true
	r.Verdict = Verdict{Requests: 1206, EventsChecked: 2000, ExpectedTransactions: 300}
	return r
}

// TestBurstSummary: the table has one row per run; duplicates, losses,
// wrong balances and a fault never injected always fail; unanswered and
// answered-twice requests only with StrictAnswers, else the verdict
// line gives their counts.
func TestBurstSummary(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(r *BurstReport)
		err     error
		verdict string
	}{
		{"pass", func(*BurstReport) {}, nil, "verdict: PASS: 1 run, 1206 requests: no event duplicated, none missing, every balance right; " +
			"answers not asserted (0 never answered, 0 answered twice; -strict-answers asserts them)"},
		{"answers reported", func(r *BurstReport) { r.Unanswered, r.AnsweredTwice = 15, 75 }, errChecks,
			"verdict: PASS: 1 run, 1206 requests: no event duplicated, none missing, every balance right; " +
				"answers not asserted (15 never answered, 75 answered twice; -strict-answers asserts them)"},
		{"answers asserted", func(r *BurstReport) { r.Unanswered, r.AnsweredTwice, r.StrictAnswers = 15, 75, true }, errChecks,
			"verdict: FAIL: none: 15 requests never answered; none: 75 requests answered twice"},
		{"strict pass", func(r *BurstReport) { r.StrictAnswers = true }, nil,
			"verdict: PASS: 1 run, 1206 requests: no event duplicated, none missing, every balance right, every request answered exactly once"},
		{"duplicate", func(r *BurstReport) { r.Duplicates = 2 }, errChecks, "verdict: FAIL: none: 2 duplicated events"},
		{"lost", func(r *BurstReport) { r.Missing, r.BalanceWrong = 1, 1 }, errChecks,
			"verdict: FAIL: none: 1 NewTransaction lost; none: 1 accounts with a wrong last balance"},
		{"no kill", func(r *BurstReport) { r.Kills = 0 }, errChecks, "verdict: FAIL: none: no worker killed"},
		{"fault never injected", func(r *BurstReport) { r.Fault = FaultLatency }, errChecks, "verdict: FAIL: latency: fault latency never injected"},
		{"stopped", func(r *BurstReport) { r.Error = "publish request x: timeout" }, nil, "verdict: FAIL: none: publish request x: timeout"},
		{"interrupted", func(*BurstReport) {}, context.Canceled, "verdict: FAIL: context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := burstReport()
			tc.change(r)
			var b strings.Builder
			if err := (&BurstRuns{Runs: []*BurstReport{r}}).Summary(&b, tc.err); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if got := lines[len(lines)-1]; got != tc.verdict {
				t.Errorf("verdict\n got %q\nwant %q", got, tc.verdict)
			}
			if !strings.Contains(lines[1], "never answered") || !strings.Contains(lines[2], "1 server, 2 workers, kill each round, NATS restart, ack wait 4s") {
				t.Errorf("table:\n%s", b.String())
			}
			if pass := strings.HasPrefix(tc.verdict, "verdict: PASS"); (&BurstRuns{Runs: []*BurstReport{r}}).Passed(tc.err) != pass {
				t.Errorf("Passed = %v, want %v", !pass, pass)
			}
		})
	}
}

// TestBurstSuiteBadConfig: a wrong fault kind is refused before any run
// starts.
func TestBurstSuiteBadConfig(t *testing.T) {
	runs, err := BurstSuite(context.Background(), Config{}, []string{"none", "flood"})
	if err == nil || runs != nil {
		t.Errorf("BurstSuite with fault flood: %v, %v; want an error and no runs", runs, err)
	}
}

// TestBurstSmall runs a short burst on two workers with kills and cuts in
// the middle of commits, and checks what today's workers must hold: no
// event twice, none missing, every balance right. (Answers are reported,
// not asserted: see StrictAnswers.)
func TestBurstSmall(t *testing.T) {
	bin := workerBin(t)
	rep, err := Burst(context.Background(), Config{Rounds: 4, Transactions: 5, WorkerBin: bin, KillEachRound: true,
		AckWait: 4 * time.Second, Fault: FaultNATSCut, Quiet: 2 * time.Minute})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep)
	}
	// 4 rounds × 6 accounts × 5, a final request per account, and one
	// more for each account whose final request went unanswered.
	if rep.Requests != 4*6*5+6+rep.FinalRetries || rep.Kills != 4 || rep.Faults == 0 || rep.EventsChecked == 0 {
		t.Errorf("report %+v", rep)
	}
}
