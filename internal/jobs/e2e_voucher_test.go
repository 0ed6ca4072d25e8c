package jobs

import (
	"testing"

	"github.com/skattekonto-events/skattekonto-events/internal/booking"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

// TestE2EVouchers: new transactions carry a booking proposal that the
// event schema accepts.
func TestE2EVouchers(t *testing.T) {
	e := newEnv(t)
	putAccount(t, e.sim, acctA)
	table := booking.Default()
	e.worker(Config{Diff: events.Options{Voucher: func(acct string, r *events.APIRow) *events.Voucher {
		v := table.Propose(r.Transaktionstext, r.BeloppSkatteverket, r.BeloppKronofogden, booking.OwnerOf(idnr.MustParse(acct)), booking.Settings{})
		return &v
	}}}, nil)
	got := map[string]string{}
	for _, s := range e.fetch(acctA, "v1") {
		if s.Type != "NewTransaction" {
			continue
		}
		v := s.Data["voucher"].(map[string]any)
		lines := v["lines"].([]any)
		first := lines[0].(map[string]any)
		got[s.Data["transaktionstext"].(string)] = v["status"].(string) + " D" + first["account"].(string)
	}
	want := map[string]string{
		"Debiterad preliminärskatt": "mapped D2518",
		"Inbetalning bokförd":       "mapped D1630",
	}
	for text, w := range want {
		if got[text] != w {
			t.Errorf("%s: voucher %q, want %q", text, got[text], w)
		}
	}
}
