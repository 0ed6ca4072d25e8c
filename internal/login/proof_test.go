package login

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// TestCheck: a fetch request with "auth": "user" is accepted only as
// the login component sent it, for an account the person chose.
func TestCheck(t *testing.T) {
	e := newTestEnv(t, envOptions{tokenKey: tokenKey(t), replicas: 2, noWorker: true})
	ref := e.logIn(t, newBrowser(t, true), sim.DemoAB, sim.DemoABInfo)
	other := e.logIn(t, newBrowser(t, true), sim.DemoAB)
	ctx := context.Background()
	rec, _, err := e.login.load(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	otherRec, _, err := e.login.load(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid, err := fetchRequest(&rec, sim.DemoAB, "login-"+ref+"-99", now)
	if err != nil {
		t.Fatal(err)
	}
	proof := valid.Header.Get(contract.LoginProofHeader)
	body := string(valid.Data)
	subject := valid.Subject
	signed := func(r *record, subject, body string, at time.Time) string {
		return sign(r.Secret, at, subject, []byte(body))
	}
	// The same request for an account of the person's that the login was
	// not made for, signed by the login itself (cannot happen: the login
	// signs only its accounts; the check holds anyway).
	notChosen := contract.FetchSubject(sim.DemoEF)

	for _, tc := range []struct {
		name                 string
		subject, body, proof string
		want                 error
	}{
		{"as sent", subject, body, proof, nil},
		{"no proof (a session read off an event)", subject, body, "", ErrBadProof},
		{"garbled proof", subject, body, "v1 12 !!", ErrBadProof},
		{"another version", subject, body, "v2" + proof[2:], ErrBadProof},
		{"body changed", subject, strings.Replace(body, `"requestId"`, `"force":true,"requestId"`, 1), proof, ErrBadProof},
		{"sent to another account", contract.FetchSubject(sim.DemoABInfo), body, proof, ErrBadProof},
		{"signed by another login", subject, body, signed(&otherRec, subject, body, now), ErrBadProof},
		{"signed with a time ahead", subject, body, signed(&rec, subject, body, now.Add(time.Hour)), ErrBadProof},
		{"too old to be served", subject, body, signed(&rec, subject, body, now.Add(-e.login.cfg.RequestMaxAge-time.Minute)), ErrStaleRequest},
		{"account not chosen", notChosen, body, signed(&rec, notChosen, body, now), ErrAccountNotChosen},
		{"not a fetch subject", "skattekonto.other." + sim.DemoAB, body, signed(&rec, "skattekonto.other."+sim.DemoAB, body, now), ErrAccountNotChosen},
		{"no login named", subject, `{"auth":"user"}`, proof, ErrBadProof},
		{"unknown login", subject, strings.ReplaceAll(body, ref, "lg-AAAAAAAAAAAAAAAAAAAAAA"), proof, ErrUnknownSession},
		{"not a login reference", subject, strings.ReplaceAll(body, ref, "../../x"), proof, ErrUnknownSession},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range e.replicas {
				err := r.mgr.Check(tc.subject, []byte(tc.body), tc.proof)
				if !errors.Is(err, tc.want) {
					t.Errorf("replica %s: Check = %v, want %v", r.name, err, tc.want)
				}
				if err != nil && strings.Contains(err.Error(), string(rec.Secret)) {
					t.Error("the error shows the secret")
				}
			}
		})
	}
}

// TestEventsShowNoCapability: events and logs name the login by its
// reference only; a request rebuilt from an event (a session and an
// account read off the events stream) is refused.
func TestEventsShowNoCapability(t *testing.T) {
	e := newTestEnv(t, envOptions{tokenKey: tokenKey(t), cadence: time.Hour})
	ref := e.logInAllowed(t, newBrowser(t, true), []string{sim.DemoAB, sim.DemoABOld}, []string{sim.DemoAB})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// DemoABOld answers felkod 6 to this person: a FetchFailed that
	// echoes the request.
	c, err := e.js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{contract.EventSubject(sim.DemoABOld, "FetchFailed")}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.Next(jetstream.FetchMaxWait(30 * time.Second))
	if err != nil {
		t.Fatalf("no FetchFailed: %v", err)
	}
	var ev struct {
		RequestID string `json:"requestid"`
		Data      struct {
			Request map[string]any `json:"request"`
		} `json:"data"`
	}
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ev.RequestID, "login-"+ref+"-") || ev.Data.Request["session"] != ref {
		t.Errorf("event requestid %q, request.session %v; want the login's reference %s", ev.RequestID, ev.Data.Request["session"], ref)
	}
	forged, _ := json.Marshal(map[string]any{"auth": "user", "session": ev.Data.Request["session"], "requestId": "forged"})
	if err := e.login.Check(contract.FetchSubject(sim.DemoAB), forged, ""); !errors.Is(err, ErrBadProof) {
		t.Errorf("a request rebuilt from an event: Check = %v, want ErrBadProof", err)
	}
	// Published (once the login's own fetch of the account is done), the
	// worker answers it invalid-request and fetches nothing.
	e.waitEvent(ctx, t, contract.EventSubject(sim.DemoAB, "FetchCompleted"), func(string, string) bool { return true })
	calls := e.sim.CallCount(sim.OpSaldo)
	if _, err := e.js.Publish(ctx, contract.FetchSubject(sim.DemoAB), forged); err != nil {
		t.Fatal(err)
	}
	e.waitEvent(ctx, t, contract.EventSubject(sim.DemoAB, "FetchFailed"), func(requestID, reason string) bool {
		if requestID != "forged" {
			return false
		}
		if reason != "invalid-request" {
			t.Errorf("forged request answered %q, want invalid-request", reason)
		}
		return true
	})
	if n := e.sim.CallCount(sim.OpSaldo); n != calls {
		t.Errorf("%d API calls for the forged request", n-calls)
	}
	text := e.streamText(ctx)
	if strings.Contains(text, contract.LoginProofHeader) {
		t.Error("an event carries the login proof header")
	}
	e.noSecrets("the streams", text)
	e.noSecrets("the log", e.logs.String())
}

func TestSignature(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	at := time.Unix(1_800_000_000, 0)
	p := sign(secret, at, "skattekonto.fetch.165560000167", []byte(`{"a":1}`))
	unix, mac, err := parseProof(p)
	if err != nil || unix != at.Unix() || len(mac) != 32 {
		t.Fatalf("parseProof(%q) = %d, %d bytes, %v", p, unix, len(mac), err)
	}
	if p == sign(secret, at.Add(time.Second), "skattekonto.fetch.165560000167", []byte(`{"a":1}`)) ||
		p == sign(secret, at, "skattekonto.fetch.165560000168", []byte(`{"a":1}`)) ||
		p == sign(secret, at, "skattekonto.fetch.165560000167", []byte(`{"a":2}`)) {
		t.Error("the signature does not cover the time, the subject and the body")
	}
	for _, bad := range []string{"", "v1", "v1 1 ", "v1 -1 " + p[14:], "v1 1e9 " + p[14:], "v1  " + p[3:], "v1 1 2 3", strings.Repeat("v", 200),
		"v1 9999999999999 " + strings.Fields(p)[2], "v1 1 " + strings.Fields(p)[2] + "A"} {
		if _, _, err := parseProof(bad); err == nil {
			t.Errorf("parseProof(%q) accepted", bad)
		}
	}
}

// FuzzParseProof: the proof header is outside input.
func FuzzParseProof(f *testing.F) {
	f.Add(sign([]byte("k"), time.Unix(1_800_000_000, 0), "s", []byte("b")))
	f.Add("v1 0 AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		unix, mac, err := parseProof(s)
		if err != nil {
			return
		}
		if unix < 0 || len(mac) != 32 {
			t.Fatalf("parseProof(%q) = %d, %d bytes", s, unix, len(mac))
		}
	})
}

// waitEvent reads the events on subject until ok accepts one (by its
// requestid and data.reason).
func (e *testEnv) waitEvent(ctx context.Context, t *testing.T, subject string, ok func(requestID, reason string) bool) {
	t.Helper()
	c, err := e.js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := c.Next(jetstream.FetchMaxWait(30 * time.Second))
		if err != nil {
			t.Fatalf("no event on %s: %v", subject, err)
		}
		var ev struct {
			RequestID string `json:"requestid"`
			Data      struct {
				Reason string `json:"reason"`
			} `json:"data"`
		}
		if json.Unmarshal(msg.Data(), &ev) == nil && ok(ev.RequestID, ev.Data.Reason) {
			return
		}
	}
}
