package sie

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
)

// TestAnswerTooLarge: a reply larger than the server takes is an error
// that says to narrow the period, never a truncated file.
func TestAnswerTooLarge(t *testing.T) {
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	if _, err := js.CreateOrUpdateStream(t.Context(), events.StoreConfig{}.StreamConfig()); err != nil {
		t.Fatal(err)
	}
	x, err := New(js, Config{Company: "Demo AB"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"omfragad":"165566778899","from":"2026-01-01","to":"2026-12-31"}`)
	for _, tc := range []struct {
		name       string
		maxPayload int64
		tooLarge   bool
	}{
		{"fits", 1 << 20, false},
		{"does not fit", 64, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Reply
			if err := json.Unmarshal(x.answer(t.Context(), body, tc.maxPayload), &r); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(r.Error, ErrTooLarge.Error()); got != tc.tooLarge || (r.File == nil) != tc.tooLarge {
				t.Errorf("reply error %q with %d bytes of file; want too large: %v", r.Error, len(r.File), tc.tooLarge)
			}
		})
	}
}
