package jobs

import (
	"context"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// fetch is one fetch of an account: the requests of a round merged into
// one, the account's state as last read, and the record of the handling
// of the round's lead.
type fetch struct {
	// round are the requests served, led by round[0]; id is the lead's
	// fetch id, coalesced are the others'.
	round     []*member
	id        string
	coalesced []string
	// req is the round's requests merged; requestIDs their ids.
	req        Request
	requestIDs []string
	acct       string
	now        time.Time
	tr         *trace
	// st is the account's state, stored at seq (0: none yet).
	st  events.State
	seq uint64
}

// runFetch runs one fetch for the requests of a round, led by round[0]:
//
//  1. load the account's state (load, below);
//  2. plan what to call (plan.go);
//  3. call the API (call.go);
//  4. commit (commit.go): diff what the calls brought against the state
//     into the events to store (diff.go), and store them with the new
//     state, all or nothing; after a conflict, load and decide again.
//
// A test may kill it after each step (hooks.go); the request is then
// delivered again and the state tells how far it got.
func (w *Worker) runFetch(ctx context.Context, round []*member, tr *trace, now time.Time) verdict {
	f := newFetch(round, tr, now)
	if v, ok := w.load(ctx, f); !ok {
		return v
	}
	if w.hooks.crash(stepLoaded, f.id) {
		return crashed
	}
	p := w.plan(f)
	a := w.call(ctx, f, p)
	if ctx.Err() != nil && p.api != nil {
		tr.end(OutcomeHandedBack, ctx.Err())
		return retry
	}
	if w.hooks.crash(stepCalled, f.id) {
		return crashed
	}
	w.noteAccess(ctx, f, &a)
	if v, ok := w.deferInWindow(f, &a); ok {
		return v
	}
	if v, ok := w.keepEvidence(ctx, f); !ok {
		return v
	}
	return w.commit(ctx, f, &a)
}

func newFetch(round []*member, tr *trace, now time.Time) *fetch {
	f := &fetch{round: round, id: round[0].fetchID, now: now, tr: tr}
	for _, m := range round[1:] {
		f.coalesced = append(f.coalesced, m.fetchID)
	}
	f.req, f.requestIDs = merge(round)
	f.acct = f.req.Account.String()
	tr.ops, tr.round = f.req.Operations, len(round)
	return f
}

// load reads the account's state into f. It is not ok when the fetch
// ends here, with the verdict: the state cannot be read, or it records
// the fetch as done (a redelivery, or another worker's commit of it).
func (w *Worker) load(ctx context.Context, f *fetch) (verdict, bool) {
	st, seq, err := w.store.Load(ctx, f.acct)
	if err != nil {
		f.tr.end(OutcomeStateUnavailable, err)
		return w.retryOrGiveUp(ctx, f), false
	}
	if st.HasFetch(f.id) {
		f.tr.end(OutcomeAlreadyDone, nil)
		return done, false
	}
	f.st, f.seq = st, seq
	return done, true
}

// origin is the envelope of the fetch's events.
func (f *fetch) origin() events.Origin {
	return events.Origin{
		Omfragad:      f.acct,
		FetchID:       f.id,
		RequestID:     f.req.RequestID,
		CorrelationID: lastCorrelation(f.tr.calls),
		Auth:          f.req.Auth,
		Time:          f.now,
	}
}

// failed is the FetchFailed that closes the fetch with failure.
func (f *fetch) failed(failure *events.FetchFailed) events.Event {
	data := *failure
	data.Calls = calls(f.tr.calls)
	data.Request = requestJSON(f.req)
	data.RequestIDs = f.requestIDs
	return events.NewFetchFailed(f.origin(), data)
}
