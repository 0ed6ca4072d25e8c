package loadtest

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// answer is the part of a FetchCompleted or FetchFailed the tool reads.
type answer struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	RequestID string `json:"requestid"`
	Data      struct {
		APICalls   int      `json:"apiCalls"`
		Changes    int      `json:"changes"`
		RequestIDs []string `json:"requestIds"`
	} `json:"data"`
}

// tracker matches answers to published requests.
type tracker struct {
	mu      sync.Mutex
	pending map[string]*request
	phase   *phaseStats
	// unknown counts answers naming no pending request (a request
	// answered by a second event included).
	unknown int
	// seen holds the event ids of the answers handled. The tool reads
	// answers as core NATS messages, which a subscriber gets for every
	// send, stored or not: a group commit the stream rejected is sent
	// again member by member, so its events arrive twice although the
	// stream stores them once. The second copy is no second answer.
	seen map[string]bool
}

type request struct {
	at      time.Time
	changed bool
	phase   *phaseStats
}

// phaseStats accumulates one phase's answers.
type phaseStats struct {
	name       string
	requests   int
	answered   int
	failed     int
	first      time.Time
	last       time.Time
	latencies  []time.Duration
	events     int
	callsUnch  int
	nUnch      int
	callsCh    int
	nCh        int
	done       chan struct{}
	closedDone bool
}

func newTracker() *tracker { return &tracker{pending: map[string]*request{}, seen: map[string]bool{}} }

func (t *tracker) begin(name string, requests int) *phaseStats {
	p := &phaseStats{name: name, requests: requests, done: make(chan struct{}), latencies: make([]time.Duration, 0, requests)}
	t.mu.Lock()
	t.phase = p
	t.mu.Unlock()
	return p
}

func (t *tracker) published(id string, changed bool, p *phaseStats, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.first.IsZero() {
		p.first = at
	}
	t.pending[id] = &request{at: at, changed: changed, phase: p}
}

// forget drops a request whose publish failed.
func (t *tracker) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.pending[id]; r != nil {
		r.phase.requests--
		delete(t.pending, id)
	}
}

// handle records an answer message.
func (t *tracker) handle(body []byte, at time.Time) {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return
	}
	ids := a.Data.RequestIDs
	if a.RequestID != "" && !slices.Contains(ids, a.RequestID) {
		ids = append(ids, a.RequestID)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.ID != "" {
		if t.seen[a.ID] {
			return
		}
		t.seen[a.ID] = true
	}
	for i, id := range ids {
		r := t.pending[id]
		if r == nil {
			t.unknown++
			continue
		}
		delete(t.pending, id)
		p := r.phase
		p.answered++
		p.last = at
		p.latencies = append(p.latencies, at.Sub(r.at))
		if a.Type == contract.EventType(string(events.TypeFetchFailed)) {
			p.failed++
		}
		if i == 0 {
			p.events += a.Data.Changes + 1
			if r.changed {
				p.callsCh += a.Data.APICalls
				p.nCh++
			} else {
				p.callsUnch += a.Data.APICalls
				p.nUnch++
			}
		}
		if p.answered >= p.requests && !p.closedDone {
			p.closedDone = true
			close(p.done)
		}
	}
}

// snapshot returns a phase's answered count and events so far.
func (t *tracker) snapshot(p *phaseStats) (answered, events int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return p.answered, p.events
}

// sealed marks a phase whose publishing finished: done closes once every
// request published in it has been answered.
func (t *tracker) sealed(p *phaseStats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.answered >= p.requests && !p.closedDone {
		p.closedDone = true
		close(p.done)
	}
}

// percentile returns the q-quantile (0..1) of sorted durations by the
// nearest-rank method; 0 for none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}
