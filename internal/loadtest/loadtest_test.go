package loadtest

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.95, 95 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := percentile(d, tc.q); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

func TestAccountNumbers(t *testing.T) {
	seen := map[string]bool{}
	for _, omf := range accountNumbers(5000) {
		if seen[omf] {
			t.Fatalf("%s twice", omf)
		}
		seen[omf] = true
		n, err := idnr.Parse(omf)
		if err != nil {
			t.Fatalf("%s: %v", omf, err)
		}
		if n.String() != omf {
			t.Fatalf("%s canonical form %s", omf, n.String())
		}
	}
}

func TestMakeAccountInsideWindow(t *testing.T) {
	now := time.Now()
	from := windowStart(now).Format(time.DateOnly)
	for _, n := range []int{10, 50, 200, 1000} {
		a := makeAccount(accountNumbers(1)[0], 7, n, now)
		if len(a.Tidigare) != n {
			t.Errorf("%d transactions: got %d rows", n, len(a.Tidigare))
		}
		for i, r := range a.Tidigare {
			if r.Transaktionsdatum < from {
				t.Errorf("%d transactions: row %d dated %s, before the window (%s)", n, i, r.Transaktionsdatum, from)
				break
			}
			if i > 0 && r.Transaktionsdatum < a.Tidigare[i-1].Transaktionsdatum {
				t.Errorf("%d transactions: row %d out of order", n, i)
				break
			}
		}
		if got := len(expectedNewTransactions(a, now)); got != n {
			t.Errorf("%d transactions: %d expected NewTransaction ids", n, got)
		}
	}
}

func TestReadProc(t *testing.T) {
	st, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PeakRSS <= 0 || st.CPU < 0 {
		t.Errorf("readProc = %+v, want a positive peak RSS", st)
	}
}

func ev(t *testing.T, seq uint64, e events.Event) storedEvent {
	t.Helper()
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseEvent(seq, e.ID, b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	now := time.Now()
	acct := accountNumbers(1)[0]
	a := makeAccount(acct, 1, 3, now)
	a.SaldoSkatteverket, a.SaldoKronofogden = -100, 0
	skv, kfm := int64(-100), int64(0)
	var good []storedEvent
	for i, r := range a.Tidigare {
		tid := strconv.FormatInt(r.Transaktionsidentitet, 10)
		good = append(good, ev(t, uint64(i+1), events.Event{ID: events.NewID(acct, events.TypeNewTransaction, tid),
			Type: events.TypeNewTransaction, Subject: acct, Time: now, Data: events.NewTransaction{TransaktionID: tid}}))
	}
	good = append(good,
		ev(t, 10, events.Event{ID: "bal", Type: events.TypeBalanceChanged, Subject: acct, Time: now,
			Data: map[string]any{"current": events.Balance{SaldoSkatteverket: &skv, SaldoKronofogden: &kfm}}}),
		ev(t, 11, events.Event{ID: "fc", Type: events.TypeFetchCompleted, Subject: acct, Time: now, RequestID: "r1",
			Data: events.FetchCompleted{RequestIDs: []string{"r1"}}}))
	accts := []sim.Account{a}

	if v := verify(good, accts, []string{"r1"}, now); !v.OK() {
		t.Fatalf("verify of a good stream: %+v", v)
	}
	for _, tc := range []struct {
		name  string
		evs   []storedEvent
		reqs  []string
		check func(v Verdict) bool
	}{
		{"duplicate", append(append([]storedEvent(nil), good...), good[0]), []string{"r1"}, func(v Verdict) bool { return v.Duplicates == 1 }},
		// A second stored copy of an answer is a duplicate event, not a second answer.
		{"duplicate answer", append(append([]storedEvent(nil), good...), good[len(good)-1]), []string{"r1"},
			func(v Verdict) bool { return v.Duplicates == 1 && v.AnsweredTwice == 0 }},
		{"answered twice", append(append([]storedEvent(nil), good...), ev(t, 12, events.Event{ID: "fc2", Type: events.TypeFetchFailed,
			Subject: acct, Time: now, Data: events.FetchFailed{Reason: "exhausted", RequestIDs: []string{"r1"}}})), []string{"r1"},
			func(v Verdict) bool { return v.AnsweredTwice == 1 && v.Failed == 1 && v.Duplicates == 0 }},
		{"missing", good[1:], []string{"r1"}, func(v Verdict) bool { return v.Missing == 1 }},
		{"unanswered", good, []string{"r1", "r2"}, func(v Verdict) bool { return v.Unanswered == 1 }},
		{"unknown answer", good, nil, func(v Verdict) bool { return v.UnknownAnswers == 1 }},
		{"balance", good[:3], []string{}, func(v Verdict) bool { return v.BalanceWrong == 1 }},
	} {
		v := verify(tc.evs, accts, tc.reqs, now)
		if v.OK() || !tc.check(v) {
			t.Errorf("%s: verdict %+v", tc.name, v)
		}
	}
}

// workerBin builds cmd/worker once for the end-to-end tests.
func workerBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs worker processes")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wd, _ := os.Getwd()
	if err := os.Chdir(filepath.Join(wd, "..", "..")); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	bin, err := buildWorker(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestRunSmall(t *testing.T) {
	bin := workerBin(t)
	rep, err := Run(context.Background(), Config{Accounts: 20, Transactions: 10, Rounds: 1, ChangeRate: 0.5, WorkerBin: bin, Duration: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Baseline.Answered != 20 || rep.Steady.Answered != 20 || rep.Steady.Failed != 0 {
		t.Errorf("answered %d + %d (failed %d), want 20 + 20", rep.Baseline.Answered, rep.Steady.Answered, rep.Steady.Failed)
	}
	if rep.Baseline.APICalls == 0 || rep.Storage.StateSampled != 20 || rep.WorkerPeakRSSBytes == 0 {
		t.Errorf("report lacks figures: %+v", rep)
	}
}

func TestCrashSmall(t *testing.T) {
	bin := workerBin(t)
	rep, err := Crash(context.Background(), Config{Accounts: 20, Transactions: 5, WorkerBin: bin, Duration: 6 * time.Second,
		KillMin: 500 * time.Millisecond, KillMax: time.Second, Quiet: time.Minute})
	if err != nil {
		t.Fatalf("%v: %+v", err, rep)
	}
	if rep.Kills == 0 || rep.NATSRestarts != 1 || rep.EventsChecked == 0 {
		t.Errorf("report %+v", rep)
	}
}
