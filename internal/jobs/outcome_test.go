package jobs

import (
	"slices"
	"testing"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
)

// TestOutcomeTable checks that every outcome has a word of its own and a
// class that is one of the metric's outcome labels.
func TestOutcomeTable(t *testing.T) {
	classes := []string{metrics.OutcomeOK, metrics.OutcomeRetry, metrics.OutcomeFailed, metrics.OutcomeRejected, metrics.OutcomeCancelled}
	seen := map[string]Outcome{}
	for o := range numOutcomes {
		if o.String() == "" {
			t.Errorf("outcome %d has no word", o)
		}
		if prev, ok := seen[o.String()]; ok {
			t.Errorf("outcomes %d and %d are both %q", prev, o, o)
		}
		seen[o.String()] = o
		if !slices.Contains(classes, o.Class()) {
			t.Errorf("%s: class %q is not a metric label", o, o.Class())
		}
	}
	if got := numOutcomes.String(); got != OutcomeUnknown.String() {
		t.Errorf("an outcome beyond the table: got %q, want %q", got, OutcomeUnknown)
	}
}

func TestFailedOutcome(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   Outcome
	}{
		{events.ReasonRejected, OutcomeRejected},
		{events.ReasonExhausted, OutcomeExhausted},
		{events.ReasonInvalidRequest, OutcomeInvalidRequest},
		{"no-such-reason", OutcomeUnknown},
	} {
		if got := failedOutcome(tc.reason); got != tc.want {
			t.Errorf("failedOutcome(%q) = %s, want %s", tc.reason, got, tc.want)
		}
	}
}
