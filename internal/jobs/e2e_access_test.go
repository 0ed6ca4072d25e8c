package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

func problems(evs []stored, subject string) []string {
	var out []string
	for _, s := range evs {
		if s.Type == "AccessProblem" && s.Subject == subject {
			out = append(out, s.Data["kind"].(string))
		}
	}
	return out
}

// TestE2EAuthorisationMissing: felkod 6 on an account that answered before
// is reported once (per day) with the failed fetch; on an account that
// never answered it is just a rejected fetch.
func TestE2EAuthorisationMissing(t *testing.T) {
	e := newEnv(t)
	a := putAccount(t, e.sim, acctA)
	const other = "165560000167"
	b := putAccount(t, e.sim, other)
	b.Unauthorized = true
	if err := e.sim.PutAccount(b); err != nil {
		t.Fatal(err)
	}
	e.worker(Config{}, nil)
	e.fetch(acctA, "a1")
	a.Unauthorized = true
	if err := e.sim.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	first := e.fetch(acctA, "a2")
	second := e.fetch(acctA, "a3")
	never := e.fetch(other, "o1")
	if got := types(first); len(got) != 2 || got[0] != "AccessProblem" || got[1] != "FetchFailed" {
		t.Fatalf("grant revoked: %v", got)
	}
	if p := only(first, "AccessProblem"); p.Data["kind"] != "authorisation-missing" || p.Subject != acctA {
		t.Errorf("AccessProblem %v on %s", p.Data, p.Subject)
	}
	if got := types(second); len(got) != 1 || got[0] != "FetchFailed" {
		t.Errorf("while it holds: %v", got)
	}
	if got := types(never); len(got) != 1 || got[0] != "FetchFailed" {
		t.Errorf("never authorised: %v", got)
	}
}

// TestE2ETokenProblems: a refused token and a token without the scope
// are reported once on the service subject, and readiness shows them
// until a fetch succeeds.
func TestE2ETokenProblems(t *testing.T) {
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
			w := e.worker(Config{}, nil)
			w2 := e.worker(Config{}, nil)
			e.fetch(acctA, "t1")
			e.fetch(acctA, "t2")
			if got := problems(e.all(), "service"); len(got) != 1 || got[0] != tc.kind {
				t.Fatalf("service problems %v, want one %s", got, tc.kind)
			}
			if err := w.CheckAccess(context.Background()); err == nil && w2.CheckAccess(context.Background()) == nil {
				t.Error("readiness does not show the problem")
			}
			e.sim.ClearFaults()
			e.fetch(acctA, "t3")
			e.fetch(acctA, "t4")
			if err := w.CheckAccess(context.Background()); err != nil {
				t.Errorf("after a good fetch: %v", err)
			}
			if got := problems(e.checkOnce(), "service"); len(got) != 1 {
				t.Errorf("service problems after recovery %v", got)
			}
		})
	}
}

// TestE2ECertificateChecks: an expiring certificate is reported once,
// however many workers check it; an unusable one makes readiness fail.
func TestE2ECertificateChecks(t *testing.T) {
	e := newEnv(t)
	soon := func() (time.Time, error) { return time.Now().Add(10 * 24 * time.Hour), nil }
	e.worker(Config{CertificateExpiry: soon}, nil)
	e.worker(Config{CertificateExpiry: soon}, nil)
	deadline := time.Now().Add(10 * time.Second)
	for len(problems(e.all(), "service")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the second worker's check
	evs := e.checkOnce()
	if got := problems(evs, "service"); len(got) != 1 || got[0] != "certificate-expiring" {
		t.Fatalf("problems %v", got)
	}
	for _, s := range evs {
		if s.Type == "AccessProblem" && s.Data["expiresAt"] == nil {
			t.Error("no expiresAt")
		}
	}
	bad := e.worker(Config{CertificateExpiry: func() (time.Time, error) { return time.Time{}, errors.New("tls: failed to find any PEM data") }}, nil)
	for bad.CheckAccess(context.Background()) == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if bad.CheckAccess(context.Background()) == nil {
		t.Error("an unusable certificate does not fail readiness")
	}
}
