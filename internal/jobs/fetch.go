package jobs

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// fetch is one fetch of an account: the requests it answers merged into
// one, the account's state as last read, and the record of the handling
// of the round's lead.
type fetch struct {
	// round are the requests the fetch answers: the members of the round
	// that the state, when last read, did not record as answered. The
	// fetch's id is round[0]'s fetch id, coalesced are the others' (and
	// the ids whose acknowledgement was not confirmed, recorded again).
	round     []*member
	id        string
	coalesced []string
	// req is the requests merged; requestIDs their ids.
	req        Request
	requestIDs []string
	acct       string
	now        time.Time
	tr         *trace
	// st is the account's state, stored at seq (0: none yet).
	st  events.State
	seq uint64
}

// serve runs a round: it gives every member its verdict (m.v) and, where
// it ends otherwise than by the round's fetch, its outcome. Each member
// counts its own deliveries: one on its last delivery is given up
// (answered FetchFailed "exhausted") when the fetch fails, one delivered
// twice MaxDeliver times (a crash loop) is given up without fetching.
func (w *Worker) serve(ctx context.Context, round []*member, tr *trace, now time.Time) {
	var fetchable, spent []*member
	for _, m := range round {
		if m.meta.NumDelivered > 2*uint64(w.cfg.MaxDeliver) {
			spent = append(spent, m)
		} else {
			fetchable = append(fetchable, m)
		}
	}
	if len(spent) > 0 {
		w.giveUp(ctx, spent, now, fmt.Errorf("delivered %d times without an answer", spent[0].meta.NumDelivered))
	}
	if len(fetchable) == 0 {
		return
	}
	f := w.newFetch(fetchable, tr, now)
	v := w.runFetch(ctx, f)
	for _, m := range fetchable {
		m.v = v
		if v != crashed && !slices.Contains(f.round, m) {
			// The state records it as answered (before a crash or a lost
			// ack, or by another worker).
			m.v, m.outcome = done, OutcomeAlreadyDone
		}
	}
	if v != retry || ctx.Err() != nil {
		return
	}
	var last []*member
	for _, m := range f.round {
		if m.meta.NumDelivered >= w.deliveryLimit(m.meta, now) {
			last = append(last, m)
		}
	}
	if len(last) > 0 {
		w.giveUp(ctx, last, now, tr.err)
	}
}

// runFetch runs one fetch for the requests of a round:
//
//  1. load the account's state (load, below): requests it records as
//     answered drop out;
//  2. plan what to call (plan.go);
//  3. call the API (call.go);
//  4. commit (commit.go): diff what the calls brought against the state
//     into the events to store (diff.go), and store them with the new
//     state, all or nothing. After a conflict with another commit of the
//     account, the fetch starts again at 1 within the same delivery, up
//     to maxCommitTries times: a conflict spends no delivery.
//
// A test may kill it after each step (hooks.go); the request is then
// delivered again and the state tells how far it got.
func (w *Worker) runFetch(ctx context.Context, f *fetch) verdict {
	for restart := 1; ; restart++ {
		if v, ok := w.load(ctx, f); !ok {
			return v
		}
		if w.hooks.crash(stepLoaded, f.id) {
			return crashed
		}
		p := w.plan(f)
		a := w.call(ctx, f, p)
		if ctx.Err() != nil && p.api != nil {
			f.tr.end(OutcomeHandedBack, ctx.Err())
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
		v, again := w.commit(ctx, f, &a)
		if !again || restart >= maxCommitTries || ctx.Err() != nil {
			return v
		}
	}
}

// newFetch prepares a fetch answering the requests ms.
func (w *Worker) newFetch(ms []*member, tr *trace, now time.Time) *fetch {
	f := &fetch{now: now, tr: tr, acct: ms[0].req.Account.String()}
	w.answering(f, ms)
	return f
}

// answering sets the requests the fetch answers, led by ms[0].
func (w *Worker) answering(f *fetch, ms []*member) {
	f.round, f.id, f.coalesced = ms, ms[0].fetchID, nil
	for _, m := range ms[1:] {
		f.coalesced = append(f.coalesced, m.fetchID)
	}
	for _, id := range w.unconfirmed.ids(f.acct, f.now) {
		if !slices.ContainsFunc(ms, func(m *member) bool { return m.fetchID == id }) {
			f.coalesced = append(f.coalesced, id)
		}
	}
	f.req, f.requestIDs = merge(ms)
	f.tr.ops, f.tr.round = f.req.Operations, len(ms)
}

// load reads the account's state into f; the requests it records as
// answered drop out of the fetch. It is not ok when the fetch ends here,
// with the verdict: the state cannot be read, or it records every
// request as answered (a redelivery, or another worker's commit).
func (w *Worker) load(ctx context.Context, f *fetch) (verdict, bool) {
	st, seq, err := w.store.Load(ctx, f.acct)
	w.noteNATS(err, false)
	if err != nil {
		f.tr.end(OutcomeStateUnavailable, err)
		return retry, false
	}
	f.st, f.seq = st, seq
	var open []*member
	for _, m := range f.round {
		answered, err := w.answered(ctx, f.acct, &st, m)
		if err != nil {
			w.noteNATS(err, false)
			f.tr.end(OutcomeStateUnavailable, err)
			return retry, false
		}
		if !answered {
			open = append(open, m)
		}
	}
	if len(open) == 0 {
		f.round = nil
		f.tr.end(OutcomeAlreadyDone, nil)
		return done, false
	}
	if len(open) < len(f.round) {
		w.answering(f, open)
	}
	return done, true
}

// giveUp answers requests that ran out of deliveries with one FetchFailed
// "exhausted", committed with the account's state like any answer so
// that a redelivery finds it. It reads the state first: a request whose
// commit did land (its outcome was unknown) is answered already. When
// the answer cannot be stored either, the requests are given back; the
// consumer delivers them again without limit.
func (w *Worker) giveUp(ctx context.Context, ms []*member, now time.Time, cause error) {
	tr := &trace{}
	f := w.newFetch(ms, tr, now)
	v := retry
	for try := 0; try < maxCommitTries; try++ {
		var ok bool
		if v, ok = w.load(ctx, f); !ok {
			break
		}
		ev := f.failed(&events.FetchFailed{
			Reason: events.ReasonExhausted,
			Error:  "gave up after " + strconv.FormatUint(f.round[0].meta.NumDelivered, 10) + " deliveries: " + errString(cause),
		})
		_, err := w.store.Commit(ctx, events.Failed(f.seq, f.st, ev, nil, f.coalesced...))
		w.noteNATS(err, true)
		if err == nil {
			v = done
			break
		}
		v = retry
		tr.end(OutcomeCommitFailed, err)
		if !events.IsConflict(err) {
			break
		}
	}
	for _, m := range ms {
		switch {
		case !slices.Contains(f.round, m):
			m.v, m.outcome, m.err = done, OutcomeAlreadyDone, nil
		case v == done:
			m.v, m.outcome, m.err = done, OutcomeGaveUp, cause
		default:
			m.v, m.outcome, m.err = retry, tr.outcome, tr.err
			w.log.Error().Err(tr.err).Str("fetchId", m.fetchID).Msg("could not store FetchFailed on the last delivery: given back")
		}
	}
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
