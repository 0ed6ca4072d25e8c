package jobs

import (
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
)

// Outcome is how the handling of one fetch request ended. Its log line
// says the outcome's class, the value of the outcome label of
// skattekonto_fetches_total, with the outcome itself as its reason.
type Outcome uint8

// The outcomes; outcomeTable gives each its word, class and log level.
const (
	// OutcomeUnknown is a handling that named no outcome (a bug).
	OutcomeUnknown Outcome = iota
	// OutcomeCompleted: the fetch committed its events.
	OutcomeCompleted
	// OutcomeAlreadyDone: the state records the fetch as done (a redelivery).
	OutcomeAlreadyDone
	// OutcomeServedByState: fetches since the request answered it.
	OutcomeServedByState
	// OutcomeCoalesced: another request's fetch served it.
	OutcomeCoalesced
	// OutcomeServiceWindow: a scheduled tick inside Skatteverket's service window, skipped.
	OutcomeServiceWindow
	// OutcomeInvalidRequest: FetchFailed "invalid-request" answered it.
	OutcomeInvalidRequest
	// OutcomeRejected: the API said no for good; FetchFailed "rejected".
	OutcomeRejected
	// OutcomeExhausted: the API's retries ran out; FetchFailed "exhausted".
	OutcomeExhausted
	// OutcomeGaveUp: its last delivery failed; FetchFailed "exhausted".
	OutcomeGaveUp
	// OutcomeConflictRetry: another fetch of the account committed first; fetched again later.
	OutcomeConflictRetry
	// OutcomeHandedBack: the worker stopped mid-fetch and gave the request back.
	OutcomeHandedBack
	// OutcomeCoalescedRetry: the fetch that was to serve it was given back, and so was it.
	OutcomeCoalescedRetry
	// OutcomeStateUnavailable: the account's state could not be read.
	OutcomeStateUnavailable
	// OutcomeCommitFailed: the commit failed other than by a conflict.
	OutcomeCommitFailed
	// OutcomePublishFailed: the answer to an invalid request could not be published.
	OutcomePublishFailed
	// OutcomePanicked: the fetch panicked.
	OutcomePanicked

	numOutcomes
)

// outcomeTable is the one table of outcomes: the word that names each in
// logs, its class (the metric label, which the log line also shows) and
// the level of its log line.
var outcomeTable = [numOutcomes]outcomeRow{
	OutcomeUnknown:          {"unknown", metrics.OutcomeRetry, zerolog.ErrorLevel},
	OutcomeCompleted:        {"completed", metrics.OutcomeOK, zerolog.InfoLevel},
	OutcomeAlreadyDone:      {"already-done", metrics.OutcomeOK, zerolog.InfoLevel},
	OutcomeServedByState:    {"served-by-state", metrics.OutcomeOK, zerolog.InfoLevel},
	OutcomeCoalesced:        {"coalesced", metrics.OutcomeOK, zerolog.InfoLevel},
	OutcomeServiceWindow:    {"service-window", metrics.OutcomeOK, zerolog.InfoLevel},
	OutcomeInvalidRequest:   {events.ReasonInvalidRequest, metrics.OutcomeRejected, zerolog.WarnLevel},
	OutcomeRejected:         {events.ReasonRejected, metrics.OutcomeFailed, zerolog.WarnLevel},
	OutcomeExhausted:        {events.ReasonExhausted, metrics.OutcomeFailed, zerolog.WarnLevel},
	OutcomeGaveUp:           {"gave-up", metrics.OutcomeFailed, zerolog.ErrorLevel},
	OutcomeConflictRetry:    {"conflict-retry", metrics.OutcomeRetry, zerolog.InfoLevel},
	OutcomeHandedBack:       {"handed-back", metrics.OutcomeCancelled, zerolog.WarnLevel},
	OutcomeCoalescedRetry:   {"coalesced-retry", metrics.OutcomeRetry, zerolog.ErrorLevel},
	OutcomeStateUnavailable: {"state-unavailable", metrics.OutcomeRetry, zerolog.ErrorLevel},
	OutcomeCommitFailed:     {"commit-failed", metrics.OutcomeRetry, zerolog.ErrorLevel},
	OutcomePublishFailed:    {"publish-failed", metrics.OutcomeRetry, zerolog.ErrorLevel},
	OutcomePanicked:         {"panic", metrics.OutcomeRetry, zerolog.ErrorLevel},
}

// String is the outcome's word.
func (o Outcome) String() string { return o.row().word }

// Class is the outcome's class: the value of the outcome label of
// skattekonto_fetches_total and of the outcome field of the log line.
func (o Outcome) Class() string { return o.row().class }

// Level is the level of the outcome's log line.
func (o Outcome) Level() zerolog.Level { return o.row().level }

type outcomeRow struct {
	word  string
	class string
	level zerolog.Level
}

func (o Outcome) row() *outcomeRow {
	if o >= numOutcomes {
		o = OutcomeUnknown
	}
	return &outcomeTable[o]
}

// failedOutcome is the outcome of a fetch that FetchFailed closes with reason.
func failedOutcome(reason string) Outcome {
	for o := range numOutcomes {
		if o.String() == reason {
			return o
		}
	}
	return OutcomeUnknown
}
