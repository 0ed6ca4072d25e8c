package loadtest

import (
	"testing"
	"time"
)

// TestTrackerRepeats: a second copy of the same answer event (sent again
// after a rejected group commit, stored once) is no second answer;
// another event answering the same request is.
func TestTrackerRepeats(t *testing.T) {
	answer := func(id, req string) []byte {
		return []byte(`{"id":"` + id + `","type":"skattekonto.FetchCompleted","requestid":"` + req + `","data":{"requestIds":["` + req + `"]}}`)
	}
	for _, tc := range []struct {
		name              string
		bodies            [][]byte
		answered, unknown int
	}{
		{"once", [][]byte{answer("e1", "r1")}, 1, 0},
		{"same event again", [][]byte{answer("e1", "r1"), answer("e1", "r1")}, 1, 0},
		{"second event for the request", [][]byte{answer("e1", "r1"), answer("e2", "r1")}, 1, 1},
		{"request never published", [][]byte{answer("e3", "r9")}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker()
			p := tr.begin("baseline", 1)
			tr.published("r1", false, p, time.Now())
			for _, b := range tc.bodies {
				tr.handle(b, time.Now())
			}
			if p.answered != tc.answered || tr.unknown != tc.unknown {
				t.Errorf("answered %d, unknown %d; want %d, %d", p.answered, tr.unknown, tc.answered, tc.unknown)
			}
		})
	}
}
