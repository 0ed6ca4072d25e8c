package main

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/testlog"
)

// TestReportStaleState logs a stale state with the account masked and
// counts it.
func TestReportStaleState(t *testing.T) {
	reg, m := newMetrics()
	var out testlog.Buffer
	reportStaleState(m, zerolog.New(&out))(events.StaleState{Account: "198112189876", StateSeq: 41, After: 3, Repeated: 2})
	log := out.String()
	for _, want := range []string{`"account":"19811218****"`, `"stateSeq":41`, `"eventsAfterState":3`, `"notPublishedAgain":2`} {
		if !strings.Contains(log, want) {
			t.Errorf("log %s lacks %s", log, want)
		}
	}
	if strings.Contains(log, "198112189876") {
		t.Errorf("log shows the whole personnummer: %s", log)
	}
	want := `
# HELP skattekonto_stale_states_total Commits that found events of the account stored after its state (a commit a power loss cut short); those events were not published again.
# TYPE skattekonto_stale_states_total counter
skattekonto_stale_states_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "skattekonto_stale_states_total"); err != nil {
		t.Error(err)
	}
}
