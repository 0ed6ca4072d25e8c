package events

import (
	"context"
	"fmt"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// UnavailableMark remembers, in the deployment's service state, that an
// operation answered as if its path did not exist, so that no replica
// calls it again before Until.
type UnavailableMark struct {
	// Until is when (Unix seconds) the operation may be called again.
	Until int64 `json:"until"`
	// HTTPStatus and CorrelationID are those of the call that found it
	// unavailable; fetches that skip the operation list them.
	HTTPStatus    int    `json:"status"`
	CorrelationID string `json:"corr"`
}

// Active reports whether the mark still holds at now.
func (m UnavailableMark) Active(now time.Time) bool { return now.Unix() < m.Until }

// UnavailableOperations returns the operations marked unavailable in the
// service state, by name, those whose mark has passed included.
func (s *Store) UnavailableOperations(ctx context.Context) (map[string]UnavailableMark, error) {
	st, _, err := s.Load(ctx, contract.ServiceToken)
	if err != nil {
		return nil, err
	}
	return st.Unavailable, nil
}

// MarkUnavailable records mark for op in the service state, dropping the
// marks that have passed by now, and publishes report with it in the
// same atomic batch unless it was reported already (the same kind, scope
// and key). Replicas that mark at once write once: when the state
// already holds a mark for op that holds at now, and the report, nothing
// is written (the mark is not extended: the operation is tried again when
// the first mark ends). It returns the marks now stored and whether this call
// published the report.
func (s *Store) MarkUnavailable(ctx context.Context, op string, mark UnavailableMark, report ProblemReport, now time.Time) (map[string]UnavailableMark, bool, error) {
	var o over
	for try := 0; try < maxCommitTries; try++ {
		st, seq, err := s.Load(ctx, contract.ServiceToken)
		if err != nil {
			return nil, false, err
		}
		publish := !report.reported(st.Problems)
		if old, ok := st.Unavailable[op]; ok && old.Active(now) && !publish {
			return st.Unavailable, false, nil
		}
		next := st
		next.Generation++
		next.Unavailable = map[string]UnavailableMark{op: mark}
		for k, m := range st.Unavailable {
			if k != op && m.Active(now) {
				next.Unavailable[k] = m
			}
		}
		var closing *Event
		if publish {
			next.Problems = report.recorded(st.Problems)
			closing = &report.Event
		}
		err = s.publishOver(ctx, contract.ServiceToken, seq, &o, closing, &next)
		if err == nil {
			return next.Unavailable, publish, nil
		}
		if !IsConflict(err) {
			return nil, false, err
		}
	}
	return nil, false, fmt.Errorf("mark %s unavailable: %w", op, ErrConflict)
}
