package loadtest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func loadReport() *Report {
	phase := func(name string) Phase {
		return Phase{Name: name, Requests: 20, Answered: 20, Seconds: 2, RefreshesPerSecond: 10, Events: 30, EventsPerSecond: 15,
			Latency: Latency{P50: 12.34, P95: 30, P99: 45.6, Max: 50}, APICalls: 50, APICallsPerRefresh: 2.5,
			WorkerCPUSeconds: 0.5, WorkerCPUMicrosPerRefresh: 25000}
	}
	return &Report{Accounts: 20, Transactions: 10, Workers: 2, ChangeRate: 0.5, RateLimit: 4,
		Baseline: phase("baseline"), Rounds: []Phase{phase("round-1")}, Steady: phase("steady"),
		WorkerCPUSeconds: 1, WorkerPeakRSSBytes: 30 << 20, Storage: Storage{StreamBytes: 3 << 20, BytesPerAccount: 1500}}
}

func TestLoadSummary(t *testing.T) {
	const table = `load test: 20 accounts × 10 transactions, 2 workers, 1 round after the baseline (50% of accounts changed in each)
rate limit: 4 API calls/s for the whole deployment, shared by its 2 workers
                     baseline                   steady (1 round)
  requests           20 (0 failed)              20 (0 failed)
  refreshes/s        10.0                       10.0
  events/s           15.0                       15.0
  latency p50        12.3 ms                    12.3 ms
  latency p99        45.6 ms                    45.6 ms
  API calls/refresh  2.50                       2.50
  429s               0                          0
  worker CPU         0.50 s (25000 µs/refresh)  0.50 s (25000 µs/refresh)
  worker RSS         30.0 MB peak
  stream             3.0 MB, 1500 B/account
`
	for _, tc := range []struct {
		name    string
		change  func(r *Report)
		err     error
		verdict string
	}{
		{"pass", func(*Report) {}, nil, "verdict: PASS: 40 requests answered once each, none failed"},
		{"failed fetch", func(r *Report) { r.Rounds[0].Failed = 1 }, nil, "verdict: FAIL: 1 fetch failed"},
		{"answered twice", func(r *Report) { r.UnknownAnswers = 2 }, nil,
			"verdict: FAIL: 2 answers for no outstanding request (answered twice?)"},
		{"stopped early", func(r *Report) { r.Rounds[0].Answered = 17 }, errors.New("round-1: stopped"),
			"verdict: FAIL: round-1: stopped; 3 of 40 requests unanswered"},
		{"stopped in the baseline", func(r *Report) {
			r.Baseline.Answered, r.Rounds, r.Steady, r.WorkerPeakRSSBytes, r.Storage = 5, nil, Phase{}, 0, Storage{}
		}, errors.New("baseline: stopped"), "verdict: FAIL: baseline: stopped; 15 of 20 requests unanswered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := loadReport()
			tc.change(r)
			var b strings.Builder
			if err := r.Summary(&b, tc.err); err != nil {
				t.Fatal(err)
			}
			got := b.String()
			if tc.name == "pass" && got != table+tc.verdict+"\n" {
				t.Errorf("summary:\n%s\nwant:\n%s%s", got, table, tc.verdict)
			}
			if tc.name == "stopped in the baseline" {
				// Nothing to show for the rounds, nor figures measured at the end.
				for _, want := range []string{`\n  requests +20 \(0 failed\) +-\n`, `\n  429s +0 +-\n`} {
					if !regexp.MustCompile(want).MatchString(got) {
						t.Errorf("summary lacks %s:\n%s", want, got)
					}
				}
				if strings.Contains(got, "worker RSS") || strings.Contains(got, "stream") {
					t.Errorf("summary shows figures not measured:\n%s", got)
				}
			}
			if !strings.HasSuffix(got, "\n"+tc.verdict+"\n") || strings.Count(got, "verdict:") != 1 {
				t.Errorf("summary does not end with one verdict line %q:\n%s", tc.verdict, got)
			}
			if pass := strings.HasPrefix(tc.verdict, "verdict: PASS"); r.Passed(tc.err) != pass {
				t.Errorf("Passed = %v, want %v", !pass, pass)
			}
		})
	}
}

func crashReport() *CrashReport {
	return &CrashReport{Accounts: 300, Transactions: 20, Workers: 1, Seed: 7, Seconds: 46, Rounds: 40, Changes: 1200,
		Kills: 12, WorkerRestarts: 12, NATSRestarts: 1, NATSStopped: "n0",
		Verdict: Verdict{EventsChecked: 9000, ExpectedTransactions: 2400, Requests: 12300}}
}

func TestCrashSummary(t *testing.T) {
	const pass = `crash test: single NATS server, 1 worker, 300 accounts × 20 transactions, seed 7: 46 s, 40 rounds, 1200 changes
  workers killed  12     (restarts 12, unexpected exits 0)
  NATS restarts   1      (stopped n0)
  requests        12300  (unanswered 0, answered twice 0, failed 0, unknown answers 0)
  events checked  9000   (every event in the stream)
  lost            0      of 2400 expected NewTransaction
  duplicated      0      (Nats-Msg-Id mismatches 0)
  unexpected      0      NewTransaction
  wrong balances  0      of 300 accounts
verdict: PASS: 12 kills, 1 NATS restart; nothing lost, duplicated or unexpected, every balance right
`
	checksErr := fmt.Errorf("%w: see the verdict's problems", errChecks)
	for _, tc := range []struct {
		name    string
		change  func(r *CrashReport)
		err     error
		verdict string
	}{
		{"pass", func(*CrashReport) {}, nil, ""},
		{"lost and duplicated", func(r *CrashReport) {
			r.Missing, r.Duplicates, r.BalanceWrong = 2, 1, 1
			r.Problems = []string{"account 1655…: NewTransaction 42 missing"}
		}, checksErr, "verdict: FAIL: 2 NewTransaction lost; 1 duplicated events; 1 accounts with a wrong last balance"},
		{"unexpected", func(r *CrashReport) { r.Unexpected = 3 }, checksErr, "verdict: FAIL: 3 unexpected NewTransaction"},
		{"nothing crashed", func(r *CrashReport) { r.NATSRestarts = 0 }, fmt.Errorf("%w: did not crash anything", errChecks),
			"verdict: FAIL: crashed too little: 12 kills, 0 NATS restarts"},
		{"stopped before the checks", func(r *CrashReport) { r.Verdict = Verdict{} }, errors.New("quiet period: 4 requests still unanswered"),
			"verdict: FAIL: quiet period: 4 requests still unanswered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := crashReport()
			tc.change(r)
			var b strings.Builder
			if err := r.Summary(&b, tc.err); err != nil {
				t.Fatal(err)
			}
			got := b.String()
			if tc.verdict == "" {
				if got != pass {
					t.Errorf("summary:\n%s\nwant:\n%s", got, pass)
				}
				tc.verdict = "verdict: PASS"
			}
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, tc.verdict) || strings.Count(got, "verdict:") != 1 {
				t.Errorf("last line %q, want one verdict line %q", last, tc.verdict)
			}
			for _, p := range r.Problems {
				if !strings.Contains(got, "problem: "+p) {
					t.Errorf("problem %q not shown:\n%s", p, got)
				}
			}
			if pass := strings.HasPrefix(tc.verdict, "verdict: PASS"); r.Passed(tc.err) != pass {
				t.Errorf("Passed = %v, want %v", !pass, pass)
			}
		})
	}
}

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n          int
		noun, want string
	}{
		{1, "worker", "1 worker"}, {0, "round", "0 rounds"}, {2, "fetch", "2 fetches"}, {3, "NATS restart", "3 NATS restarts"},
	} {
		if got := plural(tc.n, tc.noun); got != tc.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
}
