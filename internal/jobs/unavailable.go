package jobs

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// When the API differs from what the client expects. An operation whose
// path does not exist (404 without a felkod) is left out of the fetch,
// which completes with the others and lists it in unavailable; it is
// marked in the service state so that no replica calls it again for
// UnavailableRetry, and reported once a day as operation-unavailable.
// An answer with unknown or missing fields (drift) is counted and
// reported once a day per operation and set of differences as api-drift.

// skipUnavailable tells whether op is marked unavailable at now, and
// how a fetch that skips it lists it.
func (w *Worker) skipUnavailable(op skv.Operation, now time.Time) (events.Unavailable, bool) {
	if w.cfg.UnavailableRetry < 0 {
		return events.Unavailable{}, false
	}
	m, ok := w.service.marked(string(op), now)
	if !ok {
		return events.Unavailable{}, false
	}
	return events.Unavailable{Operation: string(op), HTTPStatus: m.HTTPStatus, CorrelationID: m.CorrelationID, Skipped: true}, true
}

// unavailableEntry is how a fetch lists an operation found unavailable.
func unavailableEntry(u skv.Unavailable) events.Unavailable {
	return events.Unavailable{Operation: string(u.Operation), HTTPStatus: u.HTTPStatus, CorrelationID: u.CorrelationID}
}

// noteUnavailable marks the operation of u unavailable deployment-wide
// for UnavailableRetry and reports it once a day. A mark this process
// already holds is not written again.
func (w *Worker) noteUnavailable(ctx context.Context, u skv.Unavailable, now time.Time) {
	op := string(u.Operation)
	r := w.unavailableReport(u, now)
	detail := r.Event.Data.(events.AccessProblem).Detail
	if w.cfg.UnavailableRetry < 0 {
		w.reportOnce(ctx, r, events.ProblemOperationUnavailable, detail)
		return
	}
	if _, ok := w.service.marked(op, now); ok && w.service.wasReported(&r) {
		return
	}
	mark := events.UnavailableMark{Until: now.Add(w.cfg.UnavailableRetry).Unix(), HTTPStatus: u.HTTPStatus, CorrelationID: u.CorrelationID}
	marks, published, err := w.store.MarkUnavailable(ctx, op, mark, r, now)
	if err != nil {
		w.log.Error().Err(err).Str("operation", op).Msg("could not mark the operation unavailable")
		return
	}
	w.service.setMarks(marks)
	w.service.noteReported(&r)
	w.problemPublished(published, events.ProblemOperationUnavailable, detail)
}

// unavailableReport is the operation-unavailable AccessProblem of u: it
// names the variable to set and the path template called (never a URL
// with its host, never an identity number).
func (w *Worker) unavailableReport(u skv.Unavailable, now time.Time) events.ProblemReport {
	op := string(u.Operation)
	variable := w.cfg.PathVariables[u.Operation]
	if variable == "" {
		variable = "the operation's path template"
	}
	retry := "on every fetch"
	if w.cfg.UnavailableRetry > 0 {
		retry = "every " + w.cfg.UnavailableRetry.String()
	}
	detail := fmt.Sprintf("%s answered HTTP %d without a felkod at the path %s (correlation id %s): that path does not exist on this API. "+
		"Set %s to the operation's path below the API's base URL, with {omfragad} where the identity number goes. "+
		"Until then fetches complete without %s and list it in unavailable; it is tried again %s.",
		op, u.HTTPStatus, u.Path, u.CorrelationID, variable, op, retry)
	d := day(now)
	return events.NewAccessProblem(events.Origin{FetchID: "service-" + d, Time: now}, events.Problem{
		Kind: events.ProblemOperationUnavailable, Detail: detail, Since: now, Operation: op, Scope: op,
	}, d)
}

// opDrift is the drift of one operation's answer.
type opDrift struct {
	op    skv.Operation
	drift []skv.Drift
}

// noteDrift counts an answer's drift and reports it once a day per
// operation and set of differences.
func (w *Worker) noteDrift(ctx context.Context, d opDrift, now time.Time) {
	for _, x := range d.drift {
		w.cfg.Metrics.APIDrift(string(d.op), string(x.Kind))
	}
	r := driftReport(d, now)
	w.reportOnce(ctx, r, events.ProblemAPIDrift, r.Event.Data.(events.AccessProblem).Detail)
}

// driftReport is the api-drift AccessProblem of d: it names the field
// paths, never their values. Its scope is the operation and a hash of
// the (sorted) set of differences.
func driftReport(d opDrift, now time.Time) events.ProblemReport {
	h := fnv.New64a()
	list := make([]events.Drift, len(d.drift))
	byKind := map[skv.DriftKind][]string{}
	for i, x := range d.drift {
		list[i] = events.Drift{Kind: string(x.Kind), Path: x.Path}
		byKind[x.Kind] = append(byKind[x.Kind], x.Path)
		_, _ = h.Write([]byte(x.String() + "\n"))
	}
	var parts []string
	for _, k := range []skv.DriftKind{skv.DriftUnknownField, skv.DriftMissingField, skv.DriftUnknownListKey} {
		if len(byKind[k]) > 0 {
			parts = append(parts, driftWords[k]+" "+strings.Join(byKind[k], ", "))
		}
	}
	detail := fmt.Sprintf("%s: the answer differs from the service description: %s. "+
		"Unknown fields are ignored; a missing field fails the operation only when its result cannot do without it.",
		d.op, strings.Join(parts, "; "))
	day := day(now)
	return events.NewAccessProblem(events.Origin{FetchID: "service-" + day, Time: now}, events.Problem{
		Kind: events.ProblemAPIDrift, Detail: detail, Since: now, Operation: string(d.op), Drift: list,
		Scope: string(d.op) + ":" + strconv.FormatUint(h.Sum64(), 16),
	}, day)
}

var driftWords = map[skv.DriftKind]string{
	skv.DriftUnknownField:   "unknown fields",
	skv.DriftMissingField:   "missing mandatory fields",
	skv.DriftUnknownListKey: "the blocks list under an unknown key",
}
