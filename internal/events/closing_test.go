package events

import (
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// TestClosingSubjects checks where the closing and problem events go and
// the ids they get.
func TestClosingSubjects(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	o := Origin{Omfragad: acct, FetchID: "f1", RequestID: "r1", Time: at}
	service := Origin{FetchID: "service-2026-11-25", Time: at}
	for _, tc := range []struct {
		name        string
		ev          Event
		wantSubject string
		wantID      string
		wantOmf     string
	}{
		{"completed", NewFetchCompleted(o, FetchCompleted{}, &Snapshot{}), acct, NewID(acct, TypeFetchCompleted, "f1"), acct},
		{"failed", NewFetchFailed(o, FetchFailed{Reason: ReasonRejected}), acct, NewID(acct, TypeFetchFailed, "f1"), acct},
		{"invalid, read", NewInvalidRequest(o, true, "bad", nil), acct, NewID(acct, TypeFetchFailed, "f1"), acct},
		{"invalid, unread", NewInvalidRequest(o, false, "bad", "x"), contract.InvalidToken, NewID(contract.InvalidToken, TypeFetchFailed, "f1"), acct},
		{"invalid, no account", NewInvalidRequest(Origin{FetchID: "f1"}, true, "bad", nil), contract.InvalidToken, NewID(contract.InvalidToken, TypeFetchFailed, "f1"), ""},
		{"account problem", NewAccessProblem(o, Problem{Kind: ProblemAuthorisationMissing, Since: at}, "2026-11-25").Event,
			acct, NewID(acct, TypeAccessProblem, ProblemAuthorisationMissing, "2026-11-25"), acct},
		{"service problem", NewAccessProblem(service, Problem{Kind: ProblemTokenRefused, Since: at}, "2026-11-25").Event,
			contract.ServiceToken, NewID(contract.ServiceToken, TypeAccessProblem, ProblemTokenRefused, "2026-11-25"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ev.Subject != tc.wantSubject || tc.ev.ID != tc.wantID {
				t.Errorf("subject %s, id %s; want %s, %s", tc.ev.Subject, tc.ev.ID, tc.wantSubject, tc.wantID)
			}
			var omf string
			switch d := tc.ev.Data.(type) {
			case FetchCompleted:
				omf = d.Omfragad
			case FetchFailed:
				omf = d.Omfragad
				if d.Calls == nil || d.Attempts != len(d.Calls) {
					t.Errorf("calls %v, attempts %d", d.Calls, d.Attempts)
				}
			case AccessProblem:
				omf = d.Omfragad
			}
			if omf != tc.wantOmf {
				t.Errorf("data omfragad %q, want %q", omf, tc.wantOmf)
			}
		})
	}
}

// TestFetchCompletedFromSnapshot: the first answer's senastUppdaterad
// and each informationstext once.
func TestFetchCompletedFromSnapshot(t *testing.T) {
	snap := Snapshot{
		Saldo:         &SaldoAnswer{Answer: Answer{SenastUppdaterad: "2026-11-25T04:00:00", Informationstext: []string{"a"}}},
		Transaktioner: &TransaktionerAnswer{Answer: Answer{SenastUppdaterad: "2026-11-24T04:00:00", Informationstext: []string{"a", "b"}}},
	}
	ev := NewFetchCompleted(Origin{Omfragad: acct, FetchID: "f"}, FetchCompleted{Calls: []Call{{}, {}}}, &snap)
	d := ev.Data.(FetchCompleted)
	if d.SenastUppdaterad != "2026-11-25T04:00:00" || len(d.Informationstext) != 2 || d.APICalls != 2 || d.Skipped == nil {
		t.Errorf("got %+v", d)
	}
}
