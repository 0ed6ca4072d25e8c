package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/audit"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/sim"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// wire records the bodies the simulator sent, by the correlation id of
// the call: what went over the wire, to compare the kept evidence with.
type wire struct {
	mu     sync.Mutex
	bodies map[string][]byte
}

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if cid := req.Header.Get(skv.DefaultCorrelationHeader); cid != "" {
		w.mu.Lock()
		w.bodies[cid] = b
		w.mu.Unlock()
	}
	return resp, nil
}

func (w *wire) body(cid string) ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, ok := w.bodies[cid]
	return b, ok
}

// evidenceEnv is an env whose API client records what the simulator
// sent, with the audit bucket open.
func evidenceEnv(t *testing.T) (*env, *wire, *audit.Store) {
	t.Helper()
	e := newEnv(t)
	wr := &wire{bodies: map[string][]byte{}}
	cfg := e.api.Config()
	cfg.HTTPClient = &http.Client{Transport: wr}
	api, err := skv.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	st, err := audit.Open(t.Context(), e.js, audit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e, wr, st
}

// callsOf are the calls a closing event lists.
func callsOf(t *testing.T, s stored) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, c := range s.Data["calls"].([]any) {
		out = append(out, c.(map[string]any))
	}
	return out
}

// answerObjects counts the objects in the bucket: answers only.
func answerObjects(t *testing.T, e *env) int {
	t.Helper()
	obj, err := e.js.ObjectStore(t.Context(), contract.AuditBucket)
	if err != nil {
		t.Fatal(err)
	}
	list, err := obj.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// TestE2EEvidenceKeepsEveryAnswer fetches an account twice: every call of
// each FetchCompleted names a sha256 whose object holds the exact bytes
// the simulator sent, and the answers the
// second fetch got unchanged are stored once.
func TestE2EEvidenceKeepsEveryAnswer(t *testing.T) {
	e, wr, st := evidenceEnv(t)
	putAccount(t, e.sim, acctA)
	e.worker(Config{Evidence: st}, nil)
	first := e.fetch(acctA, "r1")
	second := e.fetch(acctA, "r2")

	hashes := map[string]bool{}
	for _, closing := range []stored{only(first, "FetchCompleted"), only(second, "FetchCompleted")} {
		calls := callsOf(t, closing)
		if len(calls) == 0 {
			t.Fatal("FetchCompleted lists no calls")
		}
		for _, c := range calls {
			cid, sum := c["correlationId"].(string), c["sha256"].(string)
			sent, ok := wr.body(cid)
			if !ok {
				t.Fatalf("call %s never went over the wire", cid)
			}
			if want := skv.Sha256(sent); sum != want {
				t.Errorf("call %s: sha256 %s, want %s (of the bytes sent)", cid, sum, want)
			}
			kept, _, err := st.Answer(t.Context(), sum)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(kept, sent) {
				t.Errorf("call %s: kept %q, want the bytes sent %q", cid, kept, sent)
			}
			hashes[sum] = true
		}
	}
	if got := answerObjects(t, e); got != len(hashes) {
		t.Errorf("%d answers stored, want %d: one per distinct answer", got, len(hashes))
	}
	// Nothing changed between the fetches: the answers are the same bytes
	// (the second fetch skips transaktioner), so nothing new was stored.
	if n := len(callsOf(t, only(first, "FetchCompleted"))); len(hashes) != n {
		t.Errorf("%d distinct answers over both fetches, want %d (those of the first)", len(hashes), n)
	}
}

// flakyEvidence fails the first Keep calls, then keeps through the store.
type flakyEvidence struct {
	mu    sync.Mutex
	fails int
	next  Evidence
}

var errEvidenceDown = errors.New("evidence store down")

func (f *flakyEvidence) Keep(ctx context.Context, calls []skv.Call) error {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return errEvidenceDown
	}
	return f.next.Keep(ctx, calls)
}

// TestE2EEvidenceBeforeCommit shows that no event exists without its
// evidence: killed between keeping the answers and committing, the fetch
// has left its answers and no event; when the answers cannot be kept,
// nothing is committed and the request is fetched again.
func TestE2EEvidenceBeforeCommit(t *testing.T) {
	t.Run("killed after keeping", func(t *testing.T) {
		e, _, st := evidenceEnv(t)
		putAccount(t, e.sim, acctA)
		crash, crashes := crashOnce(stepKept)
		var answersAtCrash, eventsAtCrash int
		e.worker(Config{Evidence: st, AckWait: time.Second}, func(step, fetchID string) bool {
			if !crash(step, fetchID) {
				return false
			}
			answersAtCrash, eventsAtCrash = answerObjects(t, e), len(e.rawMessages())
			return true
		})
		evs := e.fetch(acctA, "r1")
		if crashes() != 1 {
			t.Fatalf("%d crashes, want 1", crashes())
		}
		if answersAtCrash == 0 || eventsAtCrash != 0 {
			t.Errorf("at the crash: %d answers kept and %d events, want some answers and no event", answersAtCrash, eventsAtCrash)
		}
		if n := count(evs, "NewTransaction"); n != 2 {
			t.Errorf("after the retry: %d NewTransaction, want 2", n)
		}
		for _, c := range callsOf(t, only(evs, "FetchCompleted")) {
			if _, _, err := st.Answer(t.Context(), c["sha256"].(string)); err != nil {
				t.Error(err)
			}
		}
		e.checkOnce()
	})
	t.Run("evidence store failing", func(t *testing.T) {
		e, _, st := evidenceEnv(t)
		putAccount(t, e.sim, acctA)
		e.worker(Config{Evidence: &flakyEvidence{fails: 2, next: st}}, nil)
		evs := e.fetch(acctA, "r1")
		if only(evs, "FetchCompleted").ID == "" {
			t.Fatalf("no FetchCompleted after the evidence store came back: %v", types(evs))
		}
		if n := count(e.checkOnce(), "FetchCompleted"); n != 1 {
			t.Errorf("%d FetchCompleted, want 1", n)
		}
		if got := strings.Count(e.logs.String(), `"reason":"evidence-unavailable"`); got != 2 {
			t.Errorf("%d fetches ended evidence-unavailable, want 2; log:\n%s", got, e.logs.String())
		}
	})
	t.Run("evidence store never back", func(t *testing.T) {
		e, _, _ := evidenceEnv(t)
		putAccount(t, e.sim, acctA)
		e.worker(Config{Evidence: &flakyEvidence{fails: 1 << 30}, MaxDeliver: 2}, nil)
		evs := e.fetch(acctA, "r1")
		if got := types(evs); fmt.Sprint(got) != "[FetchFailed]" {
			t.Fatalf("events %v, want only FetchFailed", got)
		}
		for _, c := range callsOf(t, only(evs, "FetchFailed")) {
			if c["sha256"] != nil {
				t.Errorf("FetchFailed names an answer that was never kept: %v", c)
			}
		}
	})
}

// TestE2EAuditShowAndVerify runs audit show and verify over a real run:
// show finds the answer behind a NewTransaction and the call that
// brought it; verify finds every event following from the answers, and
// flags a tampered answer and an event that does not follow.
func TestE2EAuditShowAndVerify(t *testing.T) {
	e, wr, st := evidenceEnv(t)
	putAccount(t, e.sim, acctA)
	e.worker(Config{Evidence: st}, nil)
	first := e.fetch(acctA, "r1")
	if err := e.sim.PostTransaction(acctA, sim.Transaction{Transaktionsdatum: time.Now().Format(time.DateOnly), Transaktionstext: "Kostnadsränta", BeloppSkatteverket: amount(-40)}); err != nil {
		t.Fatal(err)
	}
	second := e.fetch(acctA, "r2")
	ctx := t.Context()

	tx := only(second, "NewTransaction")
	sh, err := st.Show(ctx, e.js, "", tx.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sh.Proofs) != 1 || sh.Proofs[0].Err != nil || sh.Proofs[0].Call.Operation != "transaktioner" {
		t.Fatalf("proofs %+v, want the transaktioner answer", sh.Proofs)
	}
	if sent, _ := wr.body(sh.Proofs[0].Call.CorrelationID); !bytes.Equal(sh.Proofs[0].Body, sent) {
		t.Errorf("shown %q, want the bytes sent %q", sh.Proofs[0].Body, sent)
	}
	if !bytes.Contains(sh.Proofs[0].Body, []byte("Kostnadsränta")) {
		t.Errorf("the answer shown does not hold the transaction: %s", sh.Proofs[0].Body)
	}
	if _, err := st.Show(ctx, e.js, "", "0123456789abcdef0123456789abcdef", acctA); !errors.Is(err, audit.ErrEventNotFound) {
		t.Errorf("unknown event: %v, want ErrEventNotFound", err)
	}

	rep, err := st.Verify(ctx, e.js, "", acctA, Snapshot, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	changes := len(first) + len(second) - 2
	if rep.Fetches != 2 || rep.Checked != changes || len(rep.Findings) != 0 {
		t.Fatalf("verify: %d fetches, %d checked (want 2, %d), findings %+v", rep.Fetches, rep.Checked, changes, rep.Findings)
	}

	t.Run("an event that does not follow", func(t *testing.T) {
		forged := events.NewFetchCompleted(events.Origin{Omfragad: acctA, FetchID: "f-forged", Time: time.Now()}, events.FetchCompleted{}, &events.Snapshot{Omfragad: acctA})
		bc := events.Event{ID: "feedfeedfeedfeedfeedfeedfeedfeed", Type: events.TypeBalanceChanged, Subject: acctA, FetchID: "f-forged", Time: time.Now(),
			Data: only(second, "BalanceChanged").Data}
		publishRaw(t, e, &bc)
		// The forged fetch names the kept answers of the second fetch, so
		// they decode; the same balance change cannot follow again.
		data := only(second, "FetchCompleted").Data
		forged.Data = data
		publishRaw(t, e, &forged)
		rep, err := st.Verify(ctx, e.js, "", acctA, Snapshot, events.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !flagged(rep, bc.ID) {
			t.Errorf("the forged BalanceChanged is not flagged: %+v", rep.Findings)
		}
	})
	t.Run("a tampered answer", func(t *testing.T) {
		sum := sh.Proofs[0].Call.Sha256
		obj, err := e.js.ObjectStore(ctx, contract.AuditBucket)
		if err != nil {
			t.Fatal(err)
		}
		doctored := bytes.Replace(sh.Proofs[0].Body, []byte("Kostnadsränta"), []byte("Kostnadsränte"), 1)
		if _, err := obj.PutBytes(ctx, sum, doctored); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Answer(ctx, sum); !errors.Is(err, audit.ErrTampered) {
			t.Errorf("tampered answer: %v, want ErrTampered", err)
		}
		rep, err := st.Verify(ctx, e.js, "", acctA, Snapshot, events.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !flagged(rep, tx.ID) {
			t.Errorf("the NewTransaction behind the tampered answer is not flagged: %+v", rep.Findings)
		}
	})
}

// publishRaw stores an event as the worker would, outside any fetch.
func publishRaw(t *testing.T, e *env, ev *events.Event) {
	t.Helper()
	m, err := ev.Msg()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

func flagged(rep audit.Report, id string) bool {
	for _, f := range rep.Findings {
		if f.EventID == id {
			return true
		}
	}
	return false
}
