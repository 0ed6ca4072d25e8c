package jobs

import (
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
)

// Outcome is how the handling of one fetch request ended, in the word
// its log line gives as the reason. The log line's outcome is the
// outcome's class: the value of the outcome label of
// skattekonto_fetches_total.
type Outcome string

// The outcomes; outcomeTable gives each its class and log level.
const (
	// OutcomeCompleted: the fetch committed its events.
	OutcomeCompleted Outcome = "completed"
	// OutcomeAlreadyDone: the state records the fetch as done (a redelivery).
	OutcomeAlreadyDone Outcome = "already-done"
	// OutcomeServedByState: fetches since the request was published answered it.
	OutcomeServedByState Outcome = "served-by-state"
	// OutcomeCoalesced: another request's fetch served it.
	OutcomeCoalesced Outcome = "coalesced"
	// OutcomeServiceWindow: a scheduled tick inside Skatteverket's service window, skipped.
	OutcomeServiceWindow Outcome = "service-window"
	// OutcomeGaveUp: its last delivery failed; FetchFailed "exhausted" answered it.
	OutcomeGaveUp Outcome = "gave-up"
	// OutcomeConflictRetry: another fetch of the account committed first; fetched again later.
	OutcomeConflictRetry Outcome = "conflict-retry"
	// OutcomeHandedBack: the worker stopped mid-fetch and gave the request back.
	OutcomeHandedBack Outcome = "handed-back"
	// OutcomeCoalescedRetry: the fetch that was to serve it was given back, and so was it.
	OutcomeCoalescedRetry Outcome = "coalesced-retry"
	// OutcomeStateUnavailable: the account's state could not be read.
	OutcomeStateUnavailable Outcome = "state-unavailable"
	// OutcomeEvidenceUnavailable: the API's answers could not be kept as evidence; nothing committed.
	OutcomeEvidenceUnavailable Outcome = "evidence-unavailable"
	// OutcomeCommitFailed: the commit failed other than by a conflict.
	OutcomeCommitFailed Outcome = "commit-failed"
	// OutcomePublishFailed: the answer to an invalid request could not be published.
	OutcomePublishFailed Outcome = "publish-failed"
	// OutcomePanicked: the fetch panicked.
	OutcomePanicked Outcome = "panic"
	// OutcomeInvalidRequest: FetchFailed "invalid-request" answered it.
	OutcomeInvalidRequest Outcome = events.ReasonInvalidRequest
	// OutcomeRejected: the API said no for good; FetchFailed "rejected".
	OutcomeRejected Outcome = events.ReasonRejected
	// OutcomeExhausted: the API's retries ran out; FetchFailed "exhausted".
	OutcomeExhausted Outcome = events.ReasonExhausted
	// OutcomeDeferred: the API failed inside its service window; the
	// request is given back until the window ends.
	OutcomeDeferred Outcome = "deferred-to-window-end"
)

// outcomeTable is the one table of outcomes: each outcome's class (the
// metric label, and the log line's outcome) and the level of its log line.
var outcomeTable = []struct {
	class    string
	level    zerolog.Level
	outcomes []Outcome
}{
	{metrics.OutcomeOK, zerolog.InfoLevel, []Outcome{OutcomeCompleted, OutcomeAlreadyDone, OutcomeServedByState, OutcomeCoalesced, OutcomeServiceWindow}},
	{metrics.OutcomeRetry, zerolog.InfoLevel, []Outcome{OutcomeConflictRetry}},
	{metrics.OutcomeRetry, zerolog.ErrorLevel, []Outcome{OutcomeCoalescedRetry, OutcomeStateUnavailable, OutcomeEvidenceUnavailable, OutcomeCommitFailed, OutcomePublishFailed, OutcomePanicked}},
	{metrics.OutcomeRejected, zerolog.WarnLevel, []Outcome{OutcomeInvalidRequest}},
	{metrics.OutcomeFailed, zerolog.WarnLevel, []Outcome{OutcomeRejected, OutcomeExhausted}},
	{metrics.OutcomeFailed, zerolog.ErrorLevel, []Outcome{OutcomeGaveUp}},
	{metrics.OutcomeCancelled, zerolog.WarnLevel, []Outcome{OutcomeHandedBack}},
	{metrics.OutcomeDeferred, zerolog.WarnLevel, []Outcome{OutcomeDeferred}},
}

// outcomeClass is an outcome's row of outcomeTable, found by find.
type outcomeClass struct {
	class string
	level zerolog.Level
}

// find returns the outcome's class and level; an outcome not in the
// table (a bug) counts as a retry logged as an error.
func (o Outcome) find() outcomeClass {
	for _, row := range outcomeTable {
		for _, x := range row.outcomes {
			if x == o {
				return outcomeClass{row.class, row.level}
			}
		}
	}
	return outcomeClass{metrics.OutcomeRetry, zerolog.ErrorLevel}
}

// Class is the outcome's class: the value of the outcome label of
// skattekonto_fetches_total and of the outcome field of the log line.
func (o Outcome) Class() string { return o.find().class }

// Level is the level of the outcome's log line.
func (o Outcome) Level() zerolog.Level { return o.find().level }
