package jobs

import (
	"context"
	"fmt"

	"github.com/skattekonto-events/skattekonto-events/internal/audit"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// Evidence keeps the API's answers as received (*audit.Store).
type Evidence interface {
	// Keep stores the answer of each call that brought one, and returns
	// only when all of them are stored.
	Keep(ctx context.Context, calls []skv.Call) error
}

// keepEvidence keeps the fetch's answers before anything is committed, so
// that no event exists without the answer that showed it. It is not ok
// when the fetch ends here: the answers could not be kept, so nothing is
// committed and the request is fetched again (on its last delivery it is
// given up, serve: FetchFailed, whose calls then name no answer). Without
// Evidence no answer is kept and the events name none.
func (w *Worker) keepEvidence(ctx context.Context, f *fetch) (verdict, bool) {
	if w.cfg.Evidence == nil {
		forgetAnswers(f.tr.calls)
		return done, true
	}
	if err := w.cfg.Evidence.Keep(ctx, f.tr.calls); err != nil {
		forgetAnswers(f.tr.calls)
		f.tr.end(OutcomeEvidenceUnavailable, fmt.Errorf("keep evidence: %w", err))
		return retry, false
	}
	if w.hooks.crash(stepKept, f.id) {
		return crashed, false
	}
	return done, true
}

// forgetAnswers drops the calls' answer bodies: their events then name no
// kept answer.
func forgetAnswers(calls []skv.Call) {
	for i := range calls {
		calls[i].Body = nil
	}
}

// Snapshot decodes kept answers of account acct as a fetch does, into the
// diff's input (an audit.SnapshotFunc): replaying events.Diff over it
// shows what the answers mean. An answer that does not decode is an error.
func Snapshot(acct string, answers []audit.Answer) (events.Snapshot, error) {
	snap := events.Snapshot{Omfragad: acct}
	for _, a := range answers {
		op := skv.Operation(a.Operation)
		v, err := skv.Decode(op, a.Body)
		if err != nil {
			return events.Snapshot{}, err
		}
		tr := skv.Trace{Calls: []skv.Call{{Operation: op, CorrelationID: a.CorrelationID}}}
		switch v := v.(type) {
		case skv.Saldo:
			snap.Saldo = saldoAnswer(v, tr)
		case skv.Transaktioner:
			snap.Transaktioner = transaktionerAnswer(v, tr)
		case skv.Utbetalningskonto:
			snap.Utbetalningskonto = kontoAnswer(v, tr)
		case skv.Utbetalningssparrar:
			snap.Utbetalningssparrar = sparrarAnswer(v, tr)
		}
	}
	return snap, nil
}
