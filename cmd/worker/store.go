package main

import (
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
)

// reportStaleState logs and counts a commit that found events of the
// account stored after its state: a commit that a power loss cut short
// (docs/exactly-once.md, "After a power loss").
func reportStaleState(m *metrics.Metrics, log zerolog.Logger) func(events.StaleState) {
	return func(s events.StaleState) {
		m.StaleState()
		acct := s.Account
		if n, err := idnr.Parse(acct); err == nil {
			acct = n.Masked()
		}
		log.Warn().Str("account", acct).Uint64("stateSeq", s.StateSeq).Int("eventsAfterState", s.After).Int("notPublishedAgain", s.Repeated).
			Msg("the account's state is older than events stored after it (a commit a power loss cut short): " +
				"the events already stored were not published again, the rest was committed with a new state")
	}
}
