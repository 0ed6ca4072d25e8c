package jobs

import (
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// trace is the record of one handling, logged as one line and counted in
// the metrics.
type trace struct {
	// omfragad is the account, for bookkeeping; account is what is logged.
	omfragad  string
	account   string
	requestID string
	fetchID   string
	delivery  uint64
	ops       []skv.Operation
	calls     []skv.Call
	events    int
	round     int
	outcome   Outcome
	err       error
	// until is when a deferred request is delivered again.
	until time.Time
	// unavailable are the operations left out: their path does not exist.
	unavailable []string
}

// end records how the handling ended, and why when it went wrong.
func (tr *trace) end(o Outcome, err error) {
	tr.outcome, tr.err = o, err
}

// observe records a handling's metrics: its outcome, and each API call
// made (a call after the first of its operation is a retry).
func (w *Worker) observe(tr *trace, d time.Duration) {
	m := w.cfg.Metrics
	if m == nil {
		return
	}
	m.FetchDone(tr.outcome.Class(), d)
	var last skv.Operation
	for _, c := range tr.calls {
		m.APICall(string(c.Operation), c.HTTPStatus, c.Felkod, c.Duration)
		if c.Operation == last {
			m.Retry(string(c.Operation))
		}
		last = c.Operation
	}
}

// logFetch writes the handling's log line: its outcome's class (the
// metric label) with the outcome itself as the reason.
func (w *Worker) logFetch(tr *trace, d time.Duration) {
	e := w.log.WithLevel(tr.outcome.Level()).
		Str("account", tr.account).
		Str("fetchId", tr.fetchID).
		Uint64("delivery", tr.delivery).
		Str("outcome", tr.outcome.Class()).
		Str("reason", string(tr.outcome)).
		Int("events", tr.events).
		Int("round", tr.round).
		Int("attempts", len(tr.calls)).
		Dur("duration", d)
	if tr.requestID != "" {
		e = e.Str("requestId", tr.requestID)
	}
	if len(tr.ops) > 0 {
		e = e.Strs("operations", opNames(tr.ops))
	}
	if len(tr.calls) > 0 {
		ids := make([]string, len(tr.calls))
		for i, c := range tr.calls {
			ids[i] = c.CorrelationID
		}
		e = e.Strs("correlationIds", ids)
	}
	if !tr.until.IsZero() {
		e = e.Time("deferredUntil", tr.until)
	}
	if len(tr.unavailable) > 0 {
		e = e.Strs("unavailable", tr.unavailable)
	}
	if tr.err != nil {
		e = e.AnErr("error", tr.err)
	}
	if f := faultOf(tr); f != "" {
		e = e.Str("fault", string(f))
	}
	e.Msg("fetch")
}

// lastCorrelation is the correlation id of the last call made.
func lastCorrelation(cs []skv.Call) string {
	if len(cs) == 0 {
		return ""
	}
	return cs[len(cs)-1].CorrelationID
}
