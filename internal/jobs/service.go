package jobs

import (
	"context"
	"sync"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// serviceRefresh is how old this process's copy of the operations marked
// unavailable may grow before a fetch reads the service state again: a
// mark made by another replica is seen within it.
const serviceRefresh = 5 * time.Second

// serviceView is what this process knows of the deployment's service
// state: the operations marked unavailable (a copy, read again every
// serviceRefresh) and the service-wide problems already reported (so
// that a problem seen on every fetch costs one write a day, not a read
// per fetch).
type serviceView struct {
	mu       sync.Mutex
	marks    map[string]events.UnavailableMark
	read     time.Time // wall clock of the last read; zero: never
	reading  bool
	reported map[string]string // slot → key
}

// refreshMarks reads the operations marked unavailable from the service
// state when this process's copy is older than serviceRefresh. When the
// state cannot be read, the copy serves (an operation not known to be
// marked is called, and answers for itself).
func (w *Worker) refreshMarks(ctx context.Context) {
	v := &w.service
	v.mu.Lock()
	if v.reading || (!v.read.IsZero() && time.Since(v.read) < serviceRefresh) {
		v.mu.Unlock()
		return
	}
	v.reading = true
	v.mu.Unlock()

	marks, err := w.store.UnavailableOperations(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reading = false
	v.read = time.Now()
	if err != nil {
		w.log.Warn().Err(err).Msg("could not read the operations marked unavailable")
		return
	}
	v.marks = marks
}

// setMarks replaces the copy with marks just read or written.
func (v *serviceView) setMarks(marks map[string]events.UnavailableMark) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.marks, v.read = marks, time.Now()
}

// marked returns op's mark in the copy, if it holds at now.
func (v *serviceView) marked(op string, now time.Time) (events.UnavailableMark, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	m, ok := v.marks[op]
	return m, ok && m.Active(now)
}

// wasReported tells whether this process reported r (or saw it reported).
func (v *serviceView) wasReported(r *events.ProblemReport) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reported[r.Slot()] == r.Key()
}

// noteReported remembers r. Its key is a day: reports of other days are
// forgotten.
func (v *serviceView) noteReported(r *events.ProblemReport) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.reported == nil {
		v.reported = map[string]string{}
	}
	for slot, key := range v.reported {
		if key != r.Key() {
			delete(v.reported, slot)
		}
	}
	v.reported[r.Slot()] = r.Key()
}

// reportOnce publishes a service-wide problem that is not a readiness
// matter (operation-unavailable, api-drift) once per kind, scope and
// day across the deployment; this process asks the state only the first
// time.
func (w *Worker) reportOnce(ctx context.Context, r events.ProblemReport, kind, detail string) {
	if w.service.wasReported(&r) {
		return
	}
	published, err := w.store.ReportProblem(ctx, r)
	if err != nil {
		w.log.Error().Err(err).Str("kind", kind).Msg("could not report access problem")
		return
	}
	w.service.noteReported(&r)
	w.problemPublished(published, kind, detail)
}

// problemPublished logs and counts a problem this process published.
func (w *Worker) problemPublished(published bool, kind, detail string) {
	if published {
		w.log.Warn().Str("kind", kind).Str("detail", detail).Msg("access problem")
		w.cfg.Metrics.EventsPublished(string(events.TypeAccessProblem), 1)
	}
}
