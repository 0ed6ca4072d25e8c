package events

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// TestSaldoMissingAmountKeepsLast: an answer without a mandatory amount
// (drift) keeps the last one known, in the state and in later events.
func TestSaldoMissingAmountKeepsLast(t *testing.T) {
	tests := []struct {
		name        string
		got         *SaldoAnswer
		want        []summary
		wantBalance Balance
		wantRanta   Interest
	}{
		{
			name:        "every amount missing",
			got:         &SaldoAnswer{Answer: saldo(0, 0).Answer, OcrNummer: "1655667788990"},
			want:        []summary{},
			wantBalance: saldo(-100, -50).Balance, wantRanta: saldo(-100, -50).Interest,
		},
		{
			name: "one missing, the other changed: the delta counts only the change",
			got: &SaldoAnswer{Answer: saldo(0, 0).Answer, OcrNummer: "1655667788990",
				Balance: Balance{SaldoKronofogden: amt(-70)}, Interest: Interest{RantaKronofogden: amt(-10)}},
			want:        []summary{{TypeBalanceChanged, "0,-20", false}},
			wantBalance: Balance{SaldoSkatteverket: amt(-100), SaldoKronofogden: amt(-70)}, wantRanta: saldo(-100, -50).Interest,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := Diff(State{}, Snapshot{Omfragad: acct, Saldo: saldo(-100, -50)}, now, Options{}).Next
			res := Diff(st, Snapshot{Omfragad: acct, Saldo: tc.got}, now, Options{})
			if diff := cmp.Diff(tc.want, summarize(res.Events)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantBalance, res.Next.Balance); diff != "" {
				t.Errorf("balance kept (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRanta, res.Next.Interest); diff != "" {
				t.Errorf("interest kept (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTxOlderThan: the time of the last transactions fetch is recorded by
// the diff of a transactions answer only.
func TestTxOlderThan(t *testing.T) {
	st := Diff(State{}, Snapshot{Omfragad: acct, Saldo: saldo(1, 1)}, now, Options{}).Next
	if !st.TxOlderThan(24*time.Hour, now) {
		t.Error("without a transactions fetch: not older than the max age")
	}
	st = Diff(st, Snapshot{Omfragad: acct, Transaktioner: tx(nil)}, now, Options{}).Next
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{{0, false}, {23 * time.Hour, false}, {24 * time.Hour, true}, {30 * time.Hour, true}} {
		if got := st.TxOlderThan(24*time.Hour, now.Add(tc.after)); got != tc.want {
			t.Errorf("%v after the fetch: older than 24h %v, want %v", tc.after, got, tc.want)
		}
	}
	later := Diff(st, Snapshot{Omfragad: acct, Saldo: saldo(2, 2)}, now.Add(30*time.Hour), Options{}).Next
	if later.TxAt != st.TxAt {
		t.Errorf("a balance-only fetch moved TxAt from %d to %d", st.TxAt, later.TxAt)
	}
	// A state stored before TxAt: from the start of its TxFetchedOn.
	old := st
	old.TxAt = 0
	midnight := time.Date(2026, 11, 25, 0, 0, 0, 0, contract.Stockholm)
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{{midnight.Add(23 * time.Hour), false}, {midnight.Add(24 * time.Hour), true}} {
		if got := old.TxOlderThan(24*time.Hour, tc.at); got != tc.want {
			t.Errorf("state without TxAt at %v: older %v, want %v", tc.at, got, tc.want)
		}
	}
}

// TestScopedProblemOncePerScopeAndDay: problems with a scope are
// reported once per kind, scope and day; a new day drops the records of
// earlier days.
func TestScopedProblemOncePerScopeAndDay(t *testing.T) {
	report := func(scope, day string) ProblemReport {
		return NewAccessProblem(Origin{FetchID: "service-" + day, Time: now},
			Problem{Kind: ProblemOperationUnavailable, Detail: "d", Since: now, Operation: scope, Scope: scope}, day)
	}
	var problems map[string]string
	steps := []struct {
		r        ProblemReport
		reported bool
	}{
		{report("utbetalningssparrar", "2026-11-25"), false},
		{report("utbetalningskonto", "2026-11-25"), false},
		{report("utbetalningssparrar", "2026-11-25"), true},
		{report("utbetalningssparrar", "2026-11-26"), false},
	}
	for i, s := range steps {
		if got := s.r.reported(problems); got != s.reported {
			t.Fatalf("step %d: reported %v, want %v", i, got, s.reported)
		}
		problems = s.r.recorded(problems)
	}
	want := map[string]string{"operation-unavailable/utbetalningssparrar": "2026-11-26"}
	if diff := cmp.Diff(want, problems); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if a, b := report("utbetalningssparrar", "2026-11-25"), report("utbetalningskonto", "2026-11-25"); a.Event.ID == b.Event.ID {
		t.Error("two operations' reports share an id")
	}
	unscoped := NewAccessProblem(Origin{Time: now}, Problem{Kind: ProblemTokenRefused, Since: now}, "2026-11-25")
	if unscoped.Event.ID != NewID(contract.ServiceToken, TypeAccessProblem, ProblemTokenRefused, "2026-11-25") {
		t.Error("an unscoped report's id changed")
	}
}

// TestMarkUnavailable: marks are stored in the service state with their
// report, written once however often they are made, and the marks that
// have passed are dropped.
func TestMarkUnavailable(t *testing.T) {
	s, js := newTestStore(t)
	ctx := context.Background()
	report := func(op string) ProblemReport {
		return NewAccessProblem(Origin{FetchID: "service-2026-11-25", Time: now},
			Problem{Kind: ProblemOperationUnavailable, Detail: "d", Since: now, Operation: op, Scope: op}, "2026-11-25")
	}
	mark := UnavailableMark{Until: now.Add(time.Hour).Unix(), HTTPStatus: 404, CorrelationID: "c1"}
	marks, published, err := s.MarkUnavailable(ctx, "utbetalningssparrar", mark, report("utbetalningssparrar"), now)
	if err != nil || !published || marks["utbetalningssparrar"] != mark {
		t.Fatalf("first mark: %v published %v marks %v", err, published, marks)
	}
	_, seq, _ := s.Load(ctx, contract.ServiceToken)
	again := UnavailableMark{Until: now.Add(90 * time.Minute).Unix(), HTTPStatus: 404, CorrelationID: "c2"}
	if _, published, err = s.MarkUnavailable(ctx, "utbetalningssparrar", again, report("utbetalningssparrar"), now.Add(30*time.Minute)); err != nil || published {
		t.Fatalf("second mark: %v published %v", err, published)
	}
	if _, seq2, _ := s.Load(ctx, contract.ServiceToken); seq2 != seq {
		t.Error("a mark the state holds already was written again")
	}
	// Later, another operation: the passed mark is dropped.
	later := now.Add(2 * time.Hour)
	other := UnavailableMark{Until: later.Add(time.Hour).Unix(), HTTPStatus: 404, CorrelationID: "c3"}
	if _, published, err = s.MarkUnavailable(ctx, "utbetalningskonto", other, report("utbetalningskonto"), later); err != nil || !published {
		t.Fatalf("other operation: %v published %v", err, published)
	}
	got, err := s.UnavailableOperations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]UnavailableMark{"utbetalningskonto": other}, got); diff != "" {
		t.Errorf("marks (-want +got):\n%s", diff)
	}
	if ids := streamIDs(t, js); len(ids) != 2 {
		t.Errorf("events %v, want the two reports", ids)
	}
}
