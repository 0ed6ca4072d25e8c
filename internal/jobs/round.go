package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// maxRound bounds how many requests one round serves; the rest wait for
// the next round (which usually finds them served by this one).
const maxRound = 32

// member is one request message taking part in a round.
type member struct {
	msg     jetstream.Msg
	meta    *jetstream.MsgMetadata
	req     Request
	fetchID string
	turn    chan turn
}

// turn tells a waiting member either to lead the next round (with its
// members) or the verdict of the round that served it.
type turn struct {
	lead  bool
	round []*member
	v     verdict
}

// accountQueue coalesces requests per account within the process: one
// round in flight per account; requests arriving meanwhile wait and are
// served together by the next round.
type accountQueue struct {
	mu       sync.Mutex
	accounts map[string]*pending
}

type pending struct {
	waiting []*member
}

// join enters m for its account. It returns the round to lead at once, or
// lead=false when a round is in flight: then m.turn says what to do.
func (q *accountQueue) join(acct string, m *member) ([]*member, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.accounts == nil {
		q.accounts = map[string]*pending{}
	}
	p, busy := q.accounts[acct]
	if !busy {
		q.accounts[acct] = &pending{}
		return []*member{m}, true
	}
	p.waiting = append(p.waiting, m)
	return nil, false
}

// finish hands the round's verdict to its members and the lead to the
// first waiting request, with up to maxRound waiting requests.
func (q *accountQueue) finish(acct string, round []*member, v verdict) {
	for _, m := range round[1:] {
		m.turn <- turn{v: v}
	}
	q.mu.Lock()
	p := q.accounts[acct]
	if len(p.waiting) == 0 {
		delete(q.accounts, acct)
		q.mu.Unlock()
		return
	}
	n := min(len(p.waiting), maxRound)
	next := slices.Clone(p.waiting[:n])
	p.waiting = p.waiting[n:]
	q.mu.Unlock()
	next[0].turn <- turn{lead: true, round: next}
}

// merge combines the requests of a round: the union of operations, the
// earliest datumFrom, force if any asks for it.
func merge(round []*member) (Request, []string) {
	req := round[0].req
	req.Operations = slices.Clone(req.Operations)
	var ids []string
	for i, m := range round {
		if m.req.RequestID != "" && !slices.Contains(ids, m.req.RequestID) {
			ids = append(ids, m.req.RequestID)
		}
		if i == 0 {
			continue
		}
		for _, op := range m.req.Operations {
			if !slices.Contains(req.Operations, op) {
				req.Operations = append(req.Operations, op)
			}
		}
		if m.req.DatumFrom != "" && (req.DatumFrom == "" || m.req.DatumFrom < req.DatumFrom) {
			req.DatumFrom = m.req.DatumFrom
		}
		req.Force = req.Force || m.req.Force
		req.ExplicitOps = req.ExplicitOps || m.req.ExplicitOps
	}
	slices.SortFunc(req.Operations, func(a, b skv.Operation) int {
		return slices.Index(skv.Operations, a) - slices.Index(skv.Operations, b)
	})
	return req, ids
}

// slowOp reports whether an operation follows the slower cadence.
func slowOp(op skv.Operation) bool {
	return op == skv.OpUtbetalningskonto || op == skv.OpUtbetalningssparrar
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
		if slowOp(op) && !m.req.ExplicitOps && now.Sub(time.Unix(0, at)) < w.cfg.SlowCadence {
			continue
		}
		if at < m.meta.Timestamp.UnixNano() {
			return false
		}
	}
	return true
}

// planOps decides which operations to call: a slow operation that was not
// asked for by name is skipped while it is fresher than SlowCadence.
func (w *Worker) planOps(st *events.State, req Request, now time.Time) (call, skipped []skv.Operation) {
	for _, op := range req.Operations {
		at, ok := st.FetchedAt[string(op)]
		if slowOp(op) && !req.ExplicitOps && !req.Force && ok && now.Sub(time.Unix(0, at)) < w.cfg.SlowCadence {
			skipped = append(skipped, op)
			continue
		}
		call = append(call, op)
	}
	return call, skipped
}

// datumFrom chooses the transactions call's first date: the request's; or,
// once the account's history is known, the day of the last transactions
// fetch less TxOverlap (back-dated bookings land within it); else the
// API's default (18 months).
func (w *Worker) datumFrom(st *events.State, req Request) string {
	if req.DatumFrom != "" || req.Force || st.Seen&events.SeenTransaktioner == 0 || st.TxFetchedOn == "" {
		return req.DatumFrom
	}
	last, err := time.Parse(time.DateOnly, st.TxFetchedOn)
	if err != nil {
		return ""
	}
	return last.AddDate(0, 0, -int(w.cfg.TxOverlap.Hours()/24)).Format(time.DateOnly)
}

// runRound runs one fetch for the requests of a round, led by round[0].
func (w *Worker) runRound(ctx context.Context, round []*member, tr *trace, now time.Time) verdict {
	lead := round[0]
	req, requestIDs := merge(round)
	acct := req.Account.String()
	tr.ops, tr.round = req.Operations, len(round)

	st, seq, err := w.store.Load(ctx, acct)
	if err != nil {
		tr.outcome, tr.err = "state-unavailable", err
		return w.retryOrFail(ctx, lead.meta, tr, req, requestIDs, now)
	}
	if st.HasFetch(lead.fetchID) {
		tr.outcome = "already-done"
		return done
	}
	if w.crash("loaded", tr.fetchID) {
		return crashed
	}
	coalesced := make([]string, 0, len(round)-1)
	for _, m := range round[1:] {
		coalesced = append(coalesced, m.fetchID)
	}
	allCovered := true
	for _, m := range round {
		allCovered = allCovered && w.covered(&st, m, now)
	}

	var (
		snap      events.Snapshot
		failure   *events.FetchFailed
		skipped   []skv.Operation
		fetchedAt map[string]int64
	)
	if allCovered {
		// Every request was published before a fetch that already
		// answered it: answer without calling the API.
		skipped = req.Operations
		tr.outcome = "served-by-state"
	} else if api, err := w.apiFor(req); err != nil {
		failure = &events.FetchFailed{Reason: events.ReasonRejected, Error: err.Error()}
	} else {
		var call []skv.Operation
		call, skipped = w.planOps(&st, req, now)
		snap, fetchedAt, skipped, failure = w.callAPI(ctx, api, req, call, skipped, &st, tr)
		if ctx.Err() != nil {
			tr.outcome, tr.err = "handed-back", ctx.Err()
			return retry
		}
	}
	if w.crash("called", tr.fetchID) {
		return crashed
	}
	if tr.apiErr != nil {
		w.serviceProblem(ctx, tr.apiErr, now)
	} else if failure == nil && !allCovered {
		w.access.clear(events.ProblemTokenRefused, events.ProblemScopeMissing)
	}
	for try := 0; ; try++ {
		c := events.Commit{Omfragad: acct, Seq: seq, Prev: st, FetchID: lead.fetchID, Coalesced: coalesced, FetchedAt: fetchedAt}
		switch {
		case failure != nil:
			c.Closing = w.failedEvent(acct, req, requestIDs, tr, failure, now)
			tr.outcome, tr.err = failure.Reason, errors.New(failure.Error)
			c.Extra, c.Problems = w.accountProblem(&st, acct, failure, lead.fetchID, req.RequestID, lastCorrelation(tr.calls), now)
			for i := range c.Extra {
				c.Extra[i].Auth = req.Auth
			}
		case allCovered:
			// Nothing was asked of the API, so nothing changed.
			c.Closing = w.completedEvent(acct, req, requestIDs, skipped, tr, &snap, &events.Result{}, now)
		default:
			diffStart := time.Now()
			res := events.Diff(st, snap, now, w.cfg.Diff)
			w.cfg.Metrics.DiffDuration(time.Since(diffStart))
			for i := range res.Events {
				res.Events[i].FetchID, res.Events[i].RequestID, res.Events[i].Auth = lead.fetchID, req.RequestID, req.Auth
			}
			c.Result = &res
			c.Closing = w.completedEvent(acct, req, requestIDs, skipped, tr, &snap, &res, now)
			tr.outcome, tr.events = "completed", len(res.Events)
		}
		if w.crash("diffed", tr.fetchID) {
			return crashed
		}
		_, err := w.store.Commit(ctx, c)
		if err == nil {
			w.countPublished(&c)
			if w.crash("committed", tr.fetchID) {
				return crashed
			}
			return done
		}
		if !events.IsConflict(err) || try >= maxCommitTries {
			tr.outcome, tr.err = "commit-failed", err
			return w.retryOrFail(ctx, lead.meta, tr, req, requestIDs, now)
		}
		// Someone committed first (perhaps this very fetch, before a crash
		// or a lost ack): read the state again and decide again.
		w.cfg.Metrics.CommitConflict()
		st, seq, err = w.store.Load(ctx, acct)
		if err != nil {
			tr.outcome, tr.err = "state-unavailable", err
			return w.retryOrFail(ctx, lead.meta, tr, req, requestIDs, now)
		}
		if st.HasFetch(lead.fetchID) {
			tr.outcome = "already-done"
			return done
		}
		if failure == nil {
			// Another fetch of this account committed first, perhaps from
			// newer answers than ours: diffing ours against its state could
			// report a change backwards. Start again with fresh answers.
			tr.outcome, tr.err = "conflict-retry", err
			return retry
		}
	}
}

// countPublished counts a commit's events by type.
func (w *Worker) countPublished(c *events.Commit) {
	if w.cfg.Metrics == nil {
		return
	}
	if c.Result != nil {
		n := map[events.Type]int{}
		for i := range c.Result.Events {
			n[c.Result.Events[i].Type]++
		}
		for t, k := range n {
			w.cfg.Metrics.EventsPublished(string(t), k)
		}
	}
	w.cfg.Metrics.EventsPublished(string(c.Closing.Type), 1)
}

// apiFor returns the API that serves the request's credential.
func (w *Worker) apiFor(req Request) (API, error) {
	if req.Auth != AuthUser {
		return w.api, nil
	}
	if w.cfg.Sessions == nil {
		return nil, errors.New(`"auth": "user" needs the login (LOGIN_ENABLED), which is off`)
	}
	api, err := w.cfg.Sessions.SessionAPI(req.Session)
	if err != nil {
		return nil, fmt.Errorf("login session: %w", err)
	}
	return api, nil
}
