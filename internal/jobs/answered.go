package jobs

import (
	"context"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// clockMargin allows for the clocks of the servers that stamped the
// request and the events.
const clockMargin = time.Minute

// answered reports whether the request m is answered already: the state
// records its fetch id, or — m being a redelivery, whose earlier delivery
// may have stored its answer with a lean commit, which leaves the state
// as it was (events/lean.go) — its FetchCompleted is among the account's
// answers stored since the request.
func (w *Worker) answered(ctx context.Context, acct string, st *events.State, m *member) (bool, error) {
	if st.HasFetch(m.fetchID) {
		return true, nil
	}
	if m.meta.NumDelivered <= 1 {
		return false, nil
	}
	return w.store.Answered(ctx, acct, events.FetchCompletedID(acct, m.fetchID), m.meta.Timestamp.Add(-clockMargin))
}
