package jobs

import (
	"context"
	"errors"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// answers is what a fetch learnt: the API's answers, or that the stored
// state answers the requests, or the failure that closes the fetch.
type answers struct {
	snap events.Snapshot
	// fetchedAt is when (Unix nanoseconds) each operation's call started;
	// nil unless every call succeeded.
	fetchedAt map[string]int64
	// skipped are the operations not called, in calling order.
	skipped []skv.Operation
	// fromState is set when the stored state answered every request.
	fromState bool
	// failure, when set, closes the fetch with FetchFailed.
	failure *events.FetchFailed
	// apiErr is the API's error behind a failure.
	apiErr error
	// unavailable are the operations whose path does not exist: found so
	// now (found lists them too, for the service state) or marked so
	// before and skipped.
	unavailable []events.Unavailable
	found       []skv.Unavailable
	// drift is how the answers differed from the service description.
	drift []opDrift
}

// call carries out the plan. The API's operations are called in order;
// on the first failure it stops and returns the failure to publish,
// while ctx ending leaves it without one. An operation whose path does
// not exist is no failure: it is left out, and so are operations marked
// so by an earlier fetch. The transactions call is skipped (unless
// forced) when the balance answer shows the same senastUppdaterad as the
// stored transactions, fetched less than TransactionsMaxAge ago: the data
// is only as fresh as that timestamp, so nothing can have changed.
func (w *Worker) call(ctx context.Context, f *fetch, p plan) answers {
	switch {
	case p.fromState:
		f.tr.end(OutcomeServedByState, nil)
		return answers{fromState: true, skipped: p.skipped}
	case p.failure != nil:
		return answers{failure: p.failure}
	}
	a := answers{
		snap:      events.Snapshot{Omfragad: f.acct},
		fetchedAt: make(map[string]int64, len(p.call)),
		skipped:   append([]skv.Operation{}, p.skipped...),
	}
	from := w.datumFrom(&f.st, f.req)
	w.refreshMarks(ctx)
	for _, op := range p.call {
		start := w.cfg.Now().UnixNano()
		if u, skip := w.skipUnavailable(op, f.now); skip {
			a.leaveOut(f.tr, u)
			continue
		}
		if op == skv.OpTransaktioner && w.shortcut(f, a.snap.Saldo) {
			a.skipped = append(a.skipped, op)
			a.fetchedAt[string(op)] = start
			continue
		}
		t, err := ask(ctx, p.api, op, f.req.Account, from, &a.snap)
		f.tr.calls = append(f.tr.calls, t.Calls...)
		if ctx.Err() == nil {
			w.noteAPI(err)
		}
		if len(t.Drift) > 0 {
			a.drift = append(a.drift, opDrift{op: op, drift: t.Drift})
		}
		if u, ok := skv.AsUnavailable(err); ok {
			a.found = append(a.found, u)
			a.leaveOut(f.tr, unavailableEntry(u))
			continue
		}
		if err != nil {
			a.fetchedAt = nil
			if ctx.Err() == nil {
				a.failure, a.apiErr = apiFailure(op, err), err
			}
			return a
		}
		a.fetchedAt[string(op)] = start
	}
	contract.SortOperations(a.skipped)
	return a
}

// leaveOut records an operation left out of the fetch: its path does not exist.
func (a *answers) leaveOut(tr *trace, u events.Unavailable) {
	a.unavailable = append(a.unavailable, u)
	tr.unavailable = append(tr.unavailable, u.Operation)
}

// shortcut tells whether the transactions call can be skipped: not
// forced, the balance answer shows nothing changed since the stored
// transactions, and those are younger than TransactionsMaxAge (the
// service description does not promise that a new decision on an
// upcoming row moves senastUppdaterad).
func (w *Worker) shortcut(f *fetch, s *events.SaldoAnswer) bool {
	return !f.req.Force && unchangedSince(&f.st, s) && !f.st.TxOlderThan(w.cfg.TransactionsMaxAge, f.now)
}

// ask calls one operation and puts its answer into snap.
func ask(ctx context.Context, api API, op skv.Operation, acct idnr.Number, datumFrom string, snap *events.Snapshot) (skv.Trace, error) {
	switch op {
	case skv.OpSaldo:
		a, t, err := api.Saldo(ctx, acct)
		snap.Saldo = convert(a, t, err, saldoAnswer)
		return t, err
	case skv.OpTransaktioner:
		a, t, err := api.Transaktioner(ctx, acct, datumFrom)
		snap.Transaktioner = convert(a, t, err, transaktionerAnswer)
		return t, err
	case skv.OpUtbetalningskonto:
		a, t, err := api.Utbetalningskonto(ctx, acct)
		snap.Utbetalningskonto = convert(a, t, err, kontoAnswer)
		return t, err
	case skv.OpUtbetalningssparrar:
		a, t, err := api.Utbetalningssparrar(ctx, acct)
		snap.Utbetalningssparrar = convert(a, t, err, sparrarAnswer)
		return t, err
	}
	return skv.Trace{}, nil
}

// unchangedSince reports whether a balance answer shows that the account
// cannot have changed since its transactions were last fetched: the same
// senastUppdaterad, and the same balance and interest as stored (an
// amount the answer lacks keeps the stored one, as in the diff).
func unchangedSince(st *events.State, s *events.SaldoAnswer) bool {
	return s != nil && s.SenastUppdaterad != "" && st.Seen&events.SeenTransaktioner != 0 && st.Seen&events.SeenSaldo != 0 &&
		s.SenastUppdaterad == st.TxSenastUppdaterad && s.Balance.Or(st.Balance).Equal(st.Balance) && s.Interest.Or(st.Interest).Equal(st.Interest)
}

// apiFailure describes an API error as FetchFailed: "rejected" when the
// API said no for good, "exhausted" when retries ran out. An answer
// without a field its result cannot do without says so first.
func apiFailure(op skv.Operation, err error) *events.FetchFailed {
	f := &events.FetchFailed{Reason: events.ReasonRejected, Operation: string(op), Error: err.Error()}
	if errors.Is(err, skv.ErrMissingField) {
		f.Error = string(op) + ": the answer lacks a mandatory field (API drift; not retried): " + err.Error()
	}
	if skv.Retryable(err) {
		f.Reason = events.ReasonExhausted
	}
	var e *skv.Error
	if errors.As(err, &e) {
		f.Felkod, f.Felmeddelande, f.HTTPStatus = e.Felkod, e.Felmeddelande, e.Status
	}
	return f
}
