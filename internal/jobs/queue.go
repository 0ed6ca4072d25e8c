package jobs

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// takePart enters m in the queue of its account and its credential, and
// waits for its turn: it leads a round of requests, or another request's
// round serves it. Either way the round decides m's verdict.
func (w *Worker) takePart(ctx context.Context, m *member, tr *trace, now time.Time) (v verdict) {
	// Requests are coalesced only with requests served by the same credential.
	key := m.req.Account.String() + "\x00" + m.req.Auth + "\x00" + m.req.Session
	round, lead := w.queue.join(key, m)
	if !lead {
		t := <-m.turn
		if !t.lead {
			tr.end(t.outcome, t.err)
			return t.v
		}
		round = t.round
	}
	defer func() {
		if r := recover(); r != nil {
			tr.end(OutcomePanicked, fmt.Errorf("panic: %v", r))
			for _, m := range round {
				m.v, m.outcome, m.err = retry, OutcomeCoalescedRetry, nil
			}
			round[0].outcome = ""
		}
		if o := round[0].outcome; o != "" {
			tr.end(o, round[0].err)
		}
		w.queue.finish(key, round)
		v = round[0].v
	}()
	w.hooks.startRound(round)
	if !w.acquire(ctx) {
		tr.end(OutcomeHandedBack, ctx.Err())
		for _, m := range round {
			m.v, m.outcome = retry, OutcomeHandedBack
		}
		round[0].outcome = ""
		return retry
	}
	defer w.release()
	w.serve(ctx, round, tr, now)
	return round[0].v
}

// acquire takes one of the Concurrency slots for a round, unless ctx ends.
func (w *Worker) acquire(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case w.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *Worker) release() { <-w.slots }

// maxRound bounds how many requests one round serves; the rest wait for
// the next round. Three full rounds fit in the fetch ids a state
// remembers (48), so the members of a round are still remembered two
// rounds later.
const maxRound = 16

// member is one request message taking part in a round.
type member struct {
	msg     jetstream.Msg
	meta    *jetstream.MsgMetadata
	req     Request
	fetchID string
	turn    chan turn
	// v is the round's verdict on this request; outcome, when set, is
	// how it ended when that differs from the round's fetch (answered
	// before, given up), with err.
	v       verdict
	outcome Outcome
	err     error
}

// turn tells a waiting member either to lead the next round (with its
// members) or how the round that served it ended for it.
type turn struct {
	lead    bool
	round   []*member
	v       verdict
	outcome Outcome
	err     error
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

// finish hands each member of the round its verdict and the lead to the
// first waiting request, with up to maxRound waiting requests.
func (q *accountQueue) finish(acct string, round []*member) {
	for _, m := range round[1:] {
		o := m.outcome
		if o == "" {
			o = OutcomeCoalesced
			if m.v != done {
				o = OutcomeCoalescedRetry
			}
		}
		m.turn <- turn{v: m.v, outcome: o, err: m.err}
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
	contract.SortOperations(req.Operations)
	return req, ids
}
