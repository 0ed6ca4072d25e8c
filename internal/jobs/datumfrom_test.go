package jobs

import (
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// TestDatumFrom: hole 5. The transactions call's first date is never
// more than the API's 915 days back (Stockholm calendar), also for an
// account whose last fetch was years ago, or a request that asks for more.
func TestDatumFrom(t *testing.T) {
	now := time.Date(2026, 11, 25, 23, 30, 0, 0, time.UTC) // 26 November in Stockholm
	known := events.State{Seen: events.SeenTransaktioner}
	tests := []struct {
		name   string
		lastOn string // TxFetchedOn
		req    Request
		want   string
	}{
		{name: "first fetch: the API's default", want: ""},
		{name: "incremental: last fetch less 40 days", lastOn: "2026-11-01", want: "2026-09-22"},
		{name: "dormant account: clamped to 915 days", lastOn: "2023-01-10", want: "2024-05-25"},
		{name: "exactly 915 days back is kept", lastOn: "2024-07-04", want: "2024-05-25"},
		{name: "request asks for more than the API keeps", req: Request{DatumFrom: "2020-01-01"}, want: "2024-05-25"},
		{name: "request within reach", req: Request{DatumFrom: "2025-01-01"}, want: "2025-01-01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &Worker{cfg: Config{Now: func() time.Time { return now }}.withDefaults()}
			st := events.State{}
			if tc.lastOn != "" {
				st = known
				st.TxFetchedOn = tc.lastOn
			}
			if got := w.datumFrom(&st, tc.req); got != tc.want {
				t.Errorf("datumFrom = %q, want %q", got, tc.want)
			}
		})
	}
}
