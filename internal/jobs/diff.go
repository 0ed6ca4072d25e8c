package jobs

import (
	"errors"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// diff turns what the fetch learnt into its commit. A failure is closed
// by FetchFailed, with the account problem it shows; answers from the
// stored state by a FetchCompleted that changes nothing; the API's
// answers are diffed against the state, closed by a FetchCompleted.
func (w *Worker) diff(f *fetch, a *answers) events.Commit {
	switch {
	case a.failure != nil:
		f.tr.end(Outcome(a.failure.Reason), errors.New(a.failure.Error))
		return events.Failed(f.seq, f.st, f.failed(a.failure), w.accountProblem(f, a.apiErr), f.coalesced...)
	case a.fromState:
		// Nothing was asked of the API, so nothing changed.
		return events.Unchanged(f.seq, f.st, f.completed(a, 0), f.coalesced...)
	}
	start := time.Now()
	res := events.Diff(f.st, a.snap, f.now, w.cfg.Diff)
	w.cfg.Metrics.DiffDuration(time.Since(start))
	res.SetOrigin(f.origin())
	f.tr.end(OutcomeCompleted, nil)
	f.tr.events = len(res.Events)
	return events.Changes(f.seq, &res, a.fetchedAt, f.completed(a, len(res.Events)), f.coalesced...)
}

// completed is the FetchCompleted that closes the fetch with changes.
func (f *fetch) completed(a *answers, changes int) events.Event {
	return events.NewFetchCompleted(f.origin(), events.FetchCompleted{
		Operations: opNames(f.req.Operations),
		Calls:      calls(f.tr.calls),
		Skipped:    opNames(a.skipped),
		Changes:    changes,
		RequestIDs: f.requestIDs,
		// Unavailable: the operations whose path does not exist (unavailable.go).
		Unavailable: a.unavailable,
	}, &a.snap)
}
