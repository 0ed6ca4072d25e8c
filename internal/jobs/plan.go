package jobs

import (
	"errors"
	"fmt"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// plan is what a fetch will ask of the API.
type plan struct {
	// fromState is set when the stored state answers every request of
	// the round: nothing is called.
	fromState bool
	// api serves the request's credential; nil when nothing is called.
	api API
	// call are the operations to call, in order; skipped the others.
	call, skipped []skv.Operation
	// failure, when set, closes the fetch at once: no API serves it.
	failure *events.FetchFailed
}

// plan decides what the fetch calls, from the stored state.
func (w *Worker) plan(f *fetch) plan {
	if w.allCovered(f) {
		// Every request was published before a fetch that already
		// answered it: answer without calling the API.
		return plan{fromState: true, skipped: f.req.Operations}
	}
	api, err := w.apiFor(f.req)
	if err != nil {
		return plan{failure: &events.FetchFailed{Reason: events.ReasonRejected, Error: err.Error()}}
	}
	p := plan{api: api}
	for _, op := range f.req.Operations {
		if w.fresh(&f.st, op, f.req, f.now) && !f.req.Force {
			// A slow operation not asked for by name, fresher than SlowCadence.
			p.skipped = append(p.skipped, op)
			continue
		}
		p.call = append(p.call, op)
	}
	return p
}

// allCovered reports whether the stored state answers every request of
// the fetch's round.
func (w *Worker) allCovered(f *fetch) bool {
	for _, m := range f.round {
		if !w.covered(&f.st, m, f.now) {
			return false
		}
	}
	return true
}

// covered reports whether the stored state already answers the request:
// every operation it would call started after the request was published
// (or, for a slow operation not asked for by name, is fresh enough).
func (w *Worker) covered(st *events.State, m *member, now time.Time) bool {
	if m.req.Force {
		return false
	}
	for _, op := range m.req.Operations {
		at, ok := st.FetchedAt[string(op)]
		if !ok {
			return false
		}
		if w.fresh(st, op, m.req, now) {
			continue
		}
		if at < m.meta.Timestamp.UnixNano() {
			return false
		}
	}
	return true
}

// fresh reports whether op is a slow operation that req did not ask for
// by name and whose last call started less than SlowCadence before now.
func (w *Worker) fresh(st *events.State, op skv.Operation, req Request, now time.Time) bool {
	at, ok := st.FetchedAt[string(op)]
	slow := op == skv.OpUtbetalningskonto || op == skv.OpUtbetalningssparrar
	return slow && ok && !req.ExplicitOps && now.Sub(time.Unix(0, at)) < w.cfg.SlowCadence
}

// datumFrom chooses the transactions call's first date: the request's; or,
// once the account's history is known, the day of the last transactions
// fetch less TxOverlap (back-dated bookings land within it); else the
// API's default (18 months). A date is never more than the API's 915
// days back (Stockholm calendar): some answer an older one with felkod 2.
func (w *Worker) datumFrom(st *events.State, req Request) string {
	const maxLookBackDays = 915
	from := req.DatumFrom
	if from == "" && !req.Force && st.Seen&events.SeenTransaktioner != 0 && st.TxFetchedOn != "" {
		last, err := time.Parse(time.DateOnly, st.TxFetchedOn)
		if err != nil {
			return ""
		}
		from = last.AddDate(0, 0, -int(w.cfg.TxOverlap.Hours()/24)).Format(time.DateOnly)
	}
	now := w.cfg.Now().In(contract.Stockholm)
	earliest := time.Date(now.Year(), now.Month(), now.Day()-maxLookBackDays, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	if from != "" && from < earliest {
		return earliest
	}
	return from
}

// apiFor returns the API that serves the request's credential.
func (w *Worker) apiFor(req Request) (API, error) {
	if req.Auth != contract.AuthUser {
		return w.api, nil
	}
	if w.cfg.Sessions == nil {
		return nil, errors.New(`"auth": "user" needs the login (LOGIN_ENABLED), which is off`)
	}
	api, err := w.cfg.Sessions.SessionAPI(req.Session)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return api, nil
}
