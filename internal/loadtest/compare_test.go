package loadtest

import (
	"context"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain runs the test binary as the comparison's peer when asked
// (TestCompareSmall starts it so).
func TestMain(m *testing.M) {
	if os.Getenv("LOADTEST_TEST_PEER") == "1" {
		// The workerSet stops the peer with SIGTERM.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		err := RunPeer(ctx, "")
		stop()
		if err != nil {
			os.Stderr.WriteString("peer: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestAckStreamSeq(t *testing.T) {
	for _, tc := range []struct {
		subj string
		want uint64
		ok   bool
	}{
		{"$JS.ACK.PEER_REQUESTS.peer.1.42.40.1700000000000000000.3", 42, true},
		{"$JS.ACK.hub.ACCHASH.PEER_REQUESTS.peer.2.43.41.1700000000000000000.0.xyz", 43, true},
		{"$JS.ACK.hub.ACCHASH.PEER_REQUESTS.peer.2.43.41.1700000000000000000.0", 43, true},
		{"$JS.ACK.PEER_REQUESTS.peer.1.x.40.1.3", 0, false},
		{"$JS.ACK.short", 0, false},
	} {
		got, ok := ackStreamSeq(tc.subj)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ackStreamSeq(%q) = %d, %v; want %d, %v", tc.subj, got, ok, tc.want, tc.ok)
		}
	}
}

// TestPeerTracker: an ack is matched to its request whether the
// request's publish ack comes before or after it; the phase is done once
// sealed with every request answered.
func TestPeerTracker(t *testing.T) {
	var pt ackTracker
	p := pt.begin(3)
	t0 := time.Now()
	pt.published(t0)
	pt.stored(1, t0)
	pt.acked(1)      // after its sequence is known
	pt.acked(2)      // before
	pt.stored(2, t0) //
	pt.forget()      // the third publish failed
	select {
	case <-p.done:
		t.Fatal("done before the phase was sealed")
	default:
	}
	pt.seal()
	select {
	case <-p.done:
	default:
		t.Fatalf("not done after two answers of two requests: %d answered", p.count())
	}
	ph := pt.phase("r")
	if ph.Requests != 2 || ph.Answered != 2 || len(ph.latencies) != 2 || ph.Seconds < 0 {
		t.Errorf("phase %+v", ph)
	}
}

// TestCompareSmall runs a small comparison end to end: the worker and the
// peer (this test binary, see TestMain) each answer every request, and
// the report holds the figures of both.
func TestCompareSmall(t *testing.T) {
	bin := workerBin(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Compare(context.Background(), Config{Accounts: 20, Transactions: 10, Rounds: 2, WorkerBin: bin, Duration: 2 * time.Minute},
		PeerConfig{Bin: self, Args: []string{"-test.run=^$"}, Concurrency: 4, Env: []string{"LOADTEST_TEST_PEER=1"}})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep)
	}
	if !rep.Passed(nil) {
		t.Fatalf("failures: %v", rep.failures(nil))
	}
	if len(rep.Ours.Rounds) != 3 || len(rep.Peer.Rounds) != 3 || len(rep.RoundRatios) != 3 {
		t.Fatalf("rounds: ours %d, peer %d, ratios %d; want 3", len(rep.Ours.Rounds), len(rep.Peer.Rounds), len(rep.RoundRatios))
	}
	if rep.Peer.Overall.Answered != 60 || rep.Ours.Overall.Answered != 60 {
		t.Errorf("answered: ours %d, peer %d; want 60 each", rep.Ours.Overall.Answered, rep.Peer.Overall.Answered)
	}
	if got := rep.Peer.Overall.APICallsPerRefresh; got != 2 {
		t.Errorf("peer API calls per refresh %v, want 2", got)
	}
	// Round 3 follows the payments: 2 of 20 accounts changed, each a
	// NewTransaction, a BalanceChanged and a FetchCompleted more.
	if got := rep.Ours.Rounds[2].Changed; got != 2 {
		t.Errorf("changed accounts in round 3: %d, want 2", got)
	}
	if r := rep.Ours.Rounds; r[0].Events < 20*10 || r[1].Events != 20 || r[2].Events < 20+2*2 {
		t.Errorf("our events per round %d, %d, %d; want ≥ 200, 20, ≥ 24", r[0].Events, r[1].Events, r[2].Events)
	}
	for _, side := range []Contender{rep.Ours, rep.Peer} {
		n := side.Steady.NATS
		if n.MsgsToServer == 0 || n.MsgsFromServer == 0 || n.Acks < 40 || n.RoundTripsPerRefresh < 2 {
			t.Errorf("NATS figures %+v", n)
		}
		if side.PeakRSSBytes == 0 || side.Overall.Seconds <= 0 {
			t.Errorf("figures missing: %+v", side.Overall)
		}
	}
	if rep.Peer.Rounds[0].RanFirst == rep.Ours.Rounds[0].RanFirst || rep.Peer.Rounds[1].RanFirst != true {
		t.Errorf("order: round 1 ours first, round 2 peer first; got ours %v/%v", rep.Ours.Rounds[0].RanFirst, rep.Ours.Rounds[1].RanFirst)
	}
	var sum strings.Builder
	if err := rep.Summary(&sum, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"steady (2–)", "NATS round trips/refresh", "verdict: PASS"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

// TestCompareSummaryRatios: the ratios are ours over the peer's, the
// goals are reported, and a request left unanswered fails the verdict.
func TestCompareSummaryRatios(t *testing.T) {
	round := func(answered int, secs float64) ComparePhase {
		p := ComparePhase{Phase: Phase{Requests: 100, Answered: answered, Seconds: secs}}
		p.finish()
		return p
	}
	rep := &CompareReport{Rounds: 3,
		Ours: Contender{Rounds: []ComparePhase{round(100, 1.1), round(100, 0.05), round(100, 0.05)}},
		Peer: Contender{Rounds: []ComparePhase{round(100, 0.1), round(100, 0.1), round(100, 0.1)}}}
	rep.finish()
	if rep.SteadyRatio != 2 || rep.OverallRatio != 0.25 || math.Abs(rep.RoundRatios[0]-1.0/11) > 1e-9 {
		t.Errorf("ratios steady %v overall %v rounds %v; want 2, 0.25, [0.09 2 2]", rep.SteadyRatio, rep.OverallRatio, rep.RoundRatios)
	}
	var s strings.Builder
	if err := rep.Summary(&s, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.String(), "steady 2.00× (goal ≥ 1.5×: met), overall 0.25× (goal ≥ 1.0×: not met)") {
		t.Errorf("summary:\n%s", s.String())
	}
	rep.Peer.Rounds[2] = round(99, 0.1)
	rep.finish()
	if rep.Passed(nil) || !strings.Contains(strings.Join(rep.failures(nil), "; "), "peer: 1 of 300 requests unanswered") {
		t.Errorf("failures %v", rep.failures(nil))
	}
}
