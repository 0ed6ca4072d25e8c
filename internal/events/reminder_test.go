package events

import (
	"testing"
	"time"
)

// TestDueReminderAfterWithdrawnRowComesBack: hole 3. An upcoming row
// reminded of, withdrawn, and later back (the same content, so the same
// row id) is reminded of again under a new event id: the old one is
// already in the stream, and inside the duplicate window its commit would
// fail on every try. A retried diff of the same state keeps its ids.
func TestDueReminderAfterWithdrawnRowComesBack(t *testing.T) {
	moms := upcoming("2026-12-12", "2026-12-12", "Moms oktober 2026", -1200)
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	steps := []struct {
		name     string
		rows     []APIRow
		reminder bool
	}{
		{"seen", []APIRow{moms}, true},
		{"withdrawn", nil, false},
		{"back", []APIRow{moms}, true},
	}
	var st State
	ids := map[string]string{}
	for _, s := range steps {
		snap := Snapshot{Omfragad: acct, Transaktioner: tx(nil, s.rows...)}
		res := Diff(st, snap, at, Options{})
		again := Diff(st, snap, at, Options{})
		n := 0
		for i, e := range res.Events {
			if e.ID != again.Events[i].ID {
				t.Errorf("%s: a retried diff gives %s another id", s.name, e.Type)
			}
			if e.Type != TypeDueReminder {
				continue
			}
			n++
			if prev, ok := ids[e.ID]; ok {
				t.Errorf("%s: DueReminder id %s already used by step %q", s.name, e.ID, prev)
			}
			ids[e.ID] = s.name
		}
		if got := n == 1; got != s.reminder {
			t.Errorf("%s: %d DueReminder, want reminder %v", s.name, n, s.reminder)
		}
		st = res.Next
	}
}
