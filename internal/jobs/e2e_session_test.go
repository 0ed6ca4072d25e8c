package jobs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// fakeSessions serves one login, "s-ok", with the test's API client, to
// requests whose proof is "proof-ok" (login.Manager checks a keyed hash;
// here the worker's side is tested: that it asks, and what it does with
// the answer).
type fakeSessions struct{ api API }

var errForged = errors.New("not signed by the login it names")

func (f fakeSessions) Check(subject string, body []byte, proof string) error {
	if proof != "proof-ok" {
		return errForged
	}
	return nil
}

func (f fakeSessions) SessionAPI(session string) (API, error) {
	if session == "s-ok" {
		return f.api, nil
	}
	return nil, errors.New("the session has ended")
}

// userRequest publishes a request with "auth": "user" and the proof.
func (e *env) userRequest(acct, body, proof string) {
	e.t.Helper()
	m := &nats.Msg{Subject: contract.FetchSubject(acct), Data: []byte(body), Header: nats.Header{}}
	if proof != "" {
		m.Header.Set(contract.LoginProofHeader, proof)
	}
	if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
		e.t.Fatal(err)
	}
}

// TestE2EUserSessions: a request served by a user's login says so in
// every event; one for an ended session fails without calling the API.
func TestE2EUserSessions(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	e.worker(Config{Sessions: fakeSessions{api: e.api}}, nil)
	e.userRequest(acctA, `{"requestId":"u1","auth":"user","session":"s-ok"}`, "proof-ok")
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
	e.userRequest(acctA, `{"requestId":"u2","auth":"user","session":"s-gone"}`, "proof-ok")
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

// TestE2EUserRequestNeedsTheLogin: a request with "auth": "user" that the
// login component did not send — the login's reference read off an event,
// without the proof or with a wrong one — is answered invalid-request and
// never calls the API; the proof is copied into no event.
func TestE2EUserRequestNeedsTheLogin(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	e.worker(Config{Sessions: fakeSessions{api: e.api}}, nil)
	for _, tc := range []struct{ id, proof string }{{"f1", ""}, {"f2", "proof-forged"}} {
		e.userRequest(acctA, `{"requestId":"`+tc.id+`","auth":"user","session":"s-ok"}`, tc.proof)
		f := only(e.wait(tc.id), "FetchFailed")
		if f.Data["reason"] != "invalid-request" || !strings.Contains(f.Data["error"].(string), errForged.Error()) {
			t.Errorf("%s: FetchFailed %v, want invalid-request naming the refusal", tc.id, f.Data)
		}
	}
	if n := e.sim.CallCount("saldo"); n != 0 {
		t.Errorf("%d API calls for forged requests", n)
	}
	e.userRequest(acctA, `{"requestId":"u1","auth":"user","session":"s-ok"}`, "proof-ok")
	e.wait("u1")
	for _, raw := range e.rawMessages() {
		if strings.Contains(string(raw), "proof-ok") || strings.Contains(string(raw), "proof-forged") {
			t.Errorf("an event carries the proof: %s", raw)
		}
	}
}

// TestE2EUserProblemsAreNotTheOrganisations: what a person's token meets
// — felkod 6 on an account that answered before, a refused token, a
// token without the scope — is reported on the login (its FetchFailed),
// never as the organisation's: no AccessProblem, readiness unchanged; and
// a user fetch that succeeds does not clear the organisation's problem.
func TestE2EUserProblemsAreNotTheOrganisations(t *testing.T) {
	t.Run("felkod 6", func(t *testing.T) {
		e := newEnv(t)
		a := putAccount(t, e.sim, acctA)
		w := e.worker(Config{Sessions: fakeSessions{api: e.api}}, nil)
		e.fetch(acctA, "o1") // the account answered before
		a.Unauthorized = true
		if err := e.sim.PutAccount(a); err != nil {
			t.Fatal(err)
		}
		e.userRequest(acctA, `{"requestId":"u1","auth":"user","session":"s-ok"}`, "proof-ok")
		got := e.wait("u1")
		if f := only(got, "FetchFailed"); f.Data["felkod"] != float64(6) {
			t.Errorf("FetchFailed %v, want felkod 6", f.Data)
		}
		if p := problems(e.all(), acctA); len(p) != 0 {
			t.Errorf("account problems %v after a person's felkod 6, want none", p)
		}
		if err := w.CheckAccess(context.Background()); err != nil {
			t.Errorf("readiness: %v", err)
		}
		// The organisation's felkod 6 is still reported.
		e.fetch(acctA, "o2")
		if p := problems(e.all(), acctA); len(p) != 1 || p[0] != "authorisation-missing" {
			t.Errorf("account problems %v after the organisation's felkod 6", p)
		}
	})
	for _, tc := range []struct {
		fault sim.FaultKind
		kind  string
	}{
		{sim.FaultTokenRefused, "token-refused"},
		{sim.FaultScopeMissing, "scope-missing"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			e := newEnv(t)
			putAccount(t, e.sim, acctA)
			e.sim.InjectFault(sim.Fault{Kind: tc.fault})
			w := e.worker(Config{Sessions: fakeSessions{api: e.api}}, nil)
			e.userRequest(acctA, `{"requestId":"u1","auth":"user","session":"s-ok"}`, "proof-ok")
			if f := only(e.wait("u1"), "FetchFailed"); f.ID == "" {
				t.Fatal("no FetchFailed")
			}
			if p := problems(e.all(), "service"); len(p) != 0 {
				t.Errorf("service problems %v after a person's %s, want none", p, tc.kind)
			}
			if err := w.CheckAccess(context.Background()); err != nil {
				t.Errorf("readiness after a person's %s: %v", tc.kind, err)
			}
			// The organisation's problem is reported, and a person's
			// fetch that works does not clear it.
			e.fetch(acctA, "o1")
			if p := problems(e.all(), "service"); len(p) != 1 || p[0] != tc.kind {
				t.Fatalf("service problems %v, want one %s", p, tc.kind)
			}
			e.sim.ClearFaults()
			e.userRequest(acctA, `{"requestId":"u2","auth":"user","session":"s-ok"}`, "proof-ok")
			only(e.wait("u2"), "FetchCompleted")
			if err := w.CheckAccess(context.Background()); err == nil {
				t.Errorf("a person's fetch cleared the organisation's %s", tc.kind)
			}
			e.fetch(acctA, "o2")
			if err := w.CheckAccess(context.Background()); err != nil {
				t.Errorf("readiness after the organisation's fetch works: %v", err)
			}
		})
	}
}
