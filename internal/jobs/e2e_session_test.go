package jobs

import (
	"errors"
	"testing"
)

// fakeSessions serves one session with the test's API client.
type fakeSessions struct{ api API }

func (f fakeSessions) SessionAPI(session string) (API, error) {
	if session == "s-ok" {
		return f.api, nil
	}
	return nil, errors.New("the session has ended")
}

// TestE2EUserSessions: a request served by a user's login says so in
// every event; one for an ended session fails without calling the API.
func TestE2EUserSessions(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	e.worker(Config{Sessions: fakeSessions{api: e.api}}, nil)
	e.request(acctA, `{"requestId":"u1","auth":"user","session":"s-ok"}`)
	got := e.wait("u1")
	if only(got, "FetchCompleted").ID == "" {
		t.Fatalf("no FetchCompleted: %v", types(got))
	}
	for _, s := range e.allRaw() {
		if s.RequestID == "u1" && s.Auth != "user" {
			t.Errorf("%s carries auth %q", s.ID, s.Auth)
		}
	}
	calls := e.sim.CallCount("saldo")
	e.request(acctA, `{"requestId":"u2","auth":"user","session":"s-gone"}`)
	f := only(e.wait("u2"), "FetchFailed")
	if f.Data["reason"] != "rejected" || e.sim.CallCount("saldo") != calls {
		t.Errorf("ended session: %v, %d calls", f.Data, e.sim.CallCount("saldo")-calls)
	}
	e.request(acctA, `{"requestId":"o1"}`)
	e.wait("o1")
	for _, s := range e.allRaw() {
		if s.RequestID == "o1" && s.Auth != "organisation" {
			t.Errorf("organisation fetch carries auth %q", s.Auth)
		}
	}
}
