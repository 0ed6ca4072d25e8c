package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/loadtest"
)

// TestHelp: -h explains the output and describes -rate-limit as the
// worker's SKV_RATE_LIMIT, a budget for the whole deployment.
func TestHelp(t *testing.T) {
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"-h"}, &out, &errOut); err != nil {
		t.Fatalf("-h: %v", err)
	}
	help := errOut.String()
	_, rateLimit, _ := strings.Cut(help, "-rate-limit")
	rateLimit, _, _ = strings.Cut(rateLimit, "\n  -")
	for _, want := range []string{"SKV_RATE_LIMIT", "whole deployment", "shared by all worker replicas"} {
		if !strings.Contains(rateLimit, want) {
			t.Errorf("-rate-limit help %q lacks %q", rateLimit, want)
		}
	}
	for _, want := range []string{"verdict: PASS", "stdout", "-quiet"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if out.String() != "" {
		t.Errorf("help on stdout: %q", out.String())
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-accounts", "x"}, {"stray"}, {"-crash", "-cpuprofile", "p"}, {"-burst", "-crash"},
		{"-burst", "-cpuprofile", "p"}, {"-burst", "-fault", "flood"}, {"-burst", "-fault", "partition"}, {"-burst", "-rounds", "0"},
		{"-peer", "-crash"}} {
		var out, errOut strings.Builder
		if err := run(t.Context(), args, &out, &errOut); err == nil || errors.Is(err, errVerdict) {
			t.Errorf("%q: error %v", args, err)
		}
	}
}

// jsonKeys returns the top-level keys of a JSON object.
func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, b)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestFinish: stdout holds the JSON report alone, with the fields
// .ci/crash.sh and earlier BENCHMARKS runs read; stderr ends with the
// summary's one verdict line; a FAIL verdict is errVerdict.
func TestFinish(t *testing.T) {
	loadKeys := []string{"accounts", "apiLatencyMs", "baseline", "changeRate", "ratePerSecond", "rounds", "setupSeconds", "simRateLimit",
		"steady", "storage", "tooManyRequests", "transactionsPerAccount", "unknownAnswers", "workerCpuSeconds", "workerPeakRssBytes",
		"workerRateLimit", "workers"}
	crashKeys := []string{"accounts", "answeredTwice", "balanceWrong", "changes", "cluster", "duplicates", "eventsChecked",
		"expectedTransactions", "failed", "kills", "missing", "msgIdMismatch", "natsRestarts", "natsStopped", "quietSeconds",
		"requests", "rounds", "seconds", "seed", "transactionsPerAccount", "unanswered", "unexpected", "unexpectedExits",
		"unknownAnswers", "workerRestarts", "workers"}
	compareKeys := []string{"accounts", "changeRate", "firstRoundEventsPerSecond", "loadAverageEnd", "loadAverageStart", "ours",
		"overallRatio", "peer", "peerConcurrency", "roundRatios", "rounds", "steadyRatio", "transactionsPerAccount"}
	passing := &loadtest.CrashReport{Kills: 3, NATSRestarts: 1}
	for _, tc := range []struct {
		name    string
		rep     report
		runErr  error
		keys    []string
		verdict string
	}{
		{"load pass", &loadtest.Report{}, nil, loadKeys, "verdict: PASS"},
		{"load stopped", &loadtest.Report{}, errors.New("baseline: stopped"), loadKeys, "verdict: FAIL: baseline: stopped"},
		{"crash pass", passing, nil, crashKeys, "verdict: PASS"},
		{"compare pass", &loadtest.CompareReport{}, nil, compareKeys, "verdict: PASS"},
		{"compare stopped", &loadtest.CompareReport{Rounds: 5}, nil, compareKeys, "verdict: FAIL: ran 0 and 0 of 5 rounds"},
		{"crash lost", &loadtest.CrashReport{Kills: 3, NATSRestarts: 1, Verdict: loadtest.Verdict{Missing: 1}},
			nil, crashKeys, "verdict: FAIL: 1 NewTransaction lost"},
		{"crash stopped", passing, errors.New("quiet period: 2 requests still unanswered"), crashKeys,
			"verdict: FAIL: quiet period: 2 requests still unanswered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			file := filepath.Join(t.TempDir(), "r.json")
			err := finish(&out, &errOut, file, tc.rep, tc.runErr)
			if pass := strings.HasPrefix(tc.verdict, "verdict: PASS"); pass && err != nil || !pass && !errors.Is(err, errVerdict) {
				t.Errorf("finish: %v", err)
			}
			if got := jsonKeys(t, []byte(out.String())); !slices.Equal(got, tc.keys) {
				t.Errorf("JSON keys %q, want %q", got, tc.keys)
			}
			if b, err := os.ReadFile(file); err != nil || string(b) != out.String() {
				t.Errorf("-json file %q, %v; want stdout's", b, err)
			}
			lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, tc.verdict) || strings.Count(errOut.String(), "verdict:") != 1 {
				t.Errorf("stderr ends with %q, want one verdict line %q:\n%s", last, tc.verdict, errOut.String())
			}
		})
	}
}

// TestBurstFlags: -burst leaves -rounds and -quiet-timeout to the burst
// test's defaults unless given, and -fault all means every kind the mode
// can run (partition only on a cluster).
func TestBurstFlags(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		rounds int
		quiet  time.Duration
		faults []string
	}{
		{[]string{"-burst"}, 0, 0, nil},
		{[]string{"-burst", "-rounds", "12", "-quiet-timeout", "1m", "-fault", "nats-cut, latency"}, 12, time.Minute, []string{"nats-cut", "latency"}},
		{[]string{"-burst", "-fault", "all"}, 0, 0, []string{"nats-cut", "latency", "bandwidth", "api-reset", "storage-full"}},
		{[]string{"-burst", "-cluster", "-fault", "none,all"}, 0, 0, []string{"none", "nats-cut", "latency", "bandwidth", "api-reset", "partition", "storage-full"}},
	} {
		f, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !f.burst || f.cfg.Rounds != tc.rounds || f.cfg.Quiet != tc.quiet || !slices.Equal(f.faults, tc.faults) {
			t.Errorf("%q: burst %v, rounds %d, quiet %s, faults %q; want rounds %d, quiet %s, faults %q",
				tc.args, f.burst, f.cfg.Rounds, f.cfg.Quiet, f.faults, tc.rounds, tc.quiet, tc.faults)
		}
	}
}

// TestFinishBurst: a burst run's JSON is one object with its runs, each
// with the figures .ci/faults.sh reads.
func TestFinishBurst(t *testing.T) {
	runs := &loadtest.BurstRuns{Runs: []*loadtest.BurstReport{{Fault: "none", Settled: true}}}
	var out, errOut strings.Builder
	if err := finish(&out, &errOut, "", runs, nil); err != nil {
		t.Fatalf("finish: %v\n%s", err, errOut.String())
	}
	if got := jsonKeys(t, []byte(out.String())); !slices.Equal(got, []string{"runs"}) {
		t.Fatalf("JSON keys %q, want runs", got)
	}
	var doc struct {
		Runs []map[string]any `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil || len(doc.Runs) != 1 {
		t.Fatalf("runs: %v, %v", doc, err)
	}
	for _, k := range []string{"fault", "requests", "unanswered", "answeredTwice", "duplicates", "missing", "balanceWrong", "faults", "strictAnswers"} {
		if _, ok := doc.Runs[0][k]; !ok {
			t.Errorf("run lacks %q: %v", k, doc.Runs[0])
		}
	}
	if !strings.Contains(errOut.String(), "verdict: PASS") {
		t.Errorf("summary: %s", errOut.String())
	}
}
