package jobs

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// Skatteverket's service window, 03:00–05:00 Stockholm time. A scheduled
// request is skipped inside it (message.go); a request someone published
// whose fetch fails inside it in the way a closed service fails (felkod 4
// or 5, HTTP 503 without a felkod, a time-out) is not answered with
// FetchFailed but given back until the window ends: NakWithDelay until
// 05:00, so it stays in the stream.
//
// A nak is a delivery like any other, and the worker counts deliveries
// (the consumer itself has no limit). So the deferral is made only while
// such a delivery is left, and the worker gives up after NATS trouble
// (serve, fetch.go) only after MaxDeliver deliveries besides the one a
// deferral may have spent.

// windowDeliveries are the deliveries a request gets beyond MaxDeliver:
// the one a deferral past the service window spends.
const windowDeliveries = 1

// deferInWindow returns the verdict deferred when the fetch failed inside
// the service window in a way the window explains, and the request has a
// delivery left after this one.
func (w *Worker) deferInWindow(f *fetch, a *answers) (verdict, bool) {
	if a.failure == nil || a.apiErr == nil || !w.hooks.inServiceWindow(f.now) || !windowFailure(a.apiErr) ||
		f.round[0].meta.NumDelivered > uint64(w.cfg.MaxDeliver) {
		return done, false
	}
	f.tr.until = windowEnd(f.now)
	f.tr.end(OutcomeDeferred, a.apiErr)
	return deferred, true
}

// windowFailure reports whether err is how a closed service fails:
// felkod 4 or 5, HTTP 503 without a felkod, or a time-out.
func windowFailure(err error) bool {
	var e *skv.Error
	if !errors.As(err, &e) {
		return false
	}
	switch {
	case e.Felkod == skv.FelkodInternal, e.Felkod == skv.FelkodAccountClosed:
		return true
	case e.Felkod == 0 && e.Status == http.StatusServiceUnavailable:
		return true
	}
	var te interface{ Timeout() bool }
	return e.Status == 0 && (errors.Is(e.Err, context.DeadlineExceeded) || errors.As(e.Err, &te) && te.Timeout())
}

// windowEnd is when the service window that holds now, or the next one,
// ends: 05:00 Stockholm time.
func windowEnd(now time.Time) time.Time {
	t := now.In(contract.Stockholm)
	end := time.Date(t.Year(), t.Month(), t.Day(), contract.ServiceWindowEnd, 0, 0, 0, contract.Stockholm)
	if !end.After(t) {
		end = time.Date(t.Year(), t.Month(), t.Day()+1, contract.ServiceWindowEnd, 0, 0, 0, contract.Stockholm)
	}
	return end
}

// windowStart is when the last service window that began by now began.
func windowStart(now time.Time) time.Time {
	t := now.In(contract.Stockholm)
	start := time.Date(t.Year(), t.Month(), t.Day(), contract.ServiceWindowStart, 0, 0, 0, contract.Stockholm)
	if start.After(t) {
		start = time.Date(t.Year(), t.Month(), t.Day()-1, contract.ServiceWindowStart, 0, 0, 0, contract.Stockholm)
	}
	return start
}

// deliveryLimit is how many deliveries a request gets before the worker
// gives up on it: MaxDeliver, and one more when the request was in the
// stream during a service window (it may have been deferred past it).
func (w *Worker) deliveryLimit(meta *jetstream.MsgMetadata, now time.Time) uint64 {
	n := uint64(w.cfg.MaxDeliver)
	start := windowStart(now)
	end := time.Date(start.Year(), start.Month(), start.Day(), contract.ServiceWindowEnd, 0, 0, 0, contract.Stockholm)
	if meta.Timestamp.Before(end) {
		n += windowDeliveries
	}
	return n
}

// deferral is how long a deferred request waits: until the service
// window ends.
func (w *Worker) deferral() time.Duration {
	now := w.cfg.Now()
	return windowEnd(now).Sub(now)
}
