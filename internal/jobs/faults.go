package jobs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/health"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// Fault is an outage the worker meets and names, in its log lines and on
// /readyz: what is wrong, and what an operator checks.
type Fault string

// The faults. NATS down and a full storage leave the worker unable to
// store any answer; an unreachable API fails fetches with FetchFailed
// "exhausted" (faultTable gives each its advice and whether it makes the
// process unready).
const (
	// FaultNATSUnreachable: NATS did not answer (the connection is down,
	// or a request timed out).
	FaultNATSUnreachable Fault = "nats-unreachable"
	// FaultStorageFull: JetStream refused to store for want of space.
	FaultStorageFull Fault = "storage-full"
	// FaultAPIUnreachable: the Skattekonto API, or its token endpoint,
	// gave no answer at all (refused, reset, timed out).
	FaultAPIUnreachable Fault = "api-unreachable"
)

// faultTable says, per fault, what it is and what to check, and whether
// it fails readiness.
var faultTable = map[Fault]struct {
	what, check string
	unready     bool
}{
	FaultNATSUnreachable: {
		what:    "NATS does not answer: fetch requests are neither taken nor answered",
		check:   "check that the NATS servers run and that this pod reaches them (NATS_URL, network policies, the servers' logs)",
		unready: true,
	},
	FaultStorageFull: {
		what: "JetStream storage is full: no answer can be stored; requests are kept and answered when space returns",
		check: "free or grow the NATS servers' JetStream storage (max_file_store, the volume) or lower the streams' limits " +
			"(EVENTS_MAX_AGE); see nats server report jetstream",
		unready: true,
	},
	FaultAPIUnreachable: {
		what: "the Skattekonto API gives no answer (connection refused, reset or timed out): fetches fail with FetchFailed exhausted",
		check: "check the egress to SKV_BASE_URL and the token URL (DNS, firewall, proxy) and Skatteverket's service status; " +
			"every replica shares this",
	},
}

// storageFullCodes are JetStream's error codes for a server, an account
// or a stream out of storage (nats-server's errors.json).
var storageFullCodes = []jetstream.ErrorCode{
	10023, // JSInsufficientResourcesErr: insufficient resources
	10047, // JSStorageResourcesExceededErr: insufficient storage resources available
	10028, // JSMemoryResourcesExceededErr: insufficient memory resources available
	10002, // JSAccountResourcesExceededErr: resource limits exceeded for account
}

// natsFault tells which fault an error of a NATS operation (a state
// read, a commit, a publish, an acknowledgement) shows, if any.
func natsFault(err error) (Fault, bool) {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		for _, c := range storageFullCodes {
			if apiErr.ErrorCode == c {
				return FaultStorageFull, true
			}
		}
		return "", false
	}
	for _, target := range []error{nats.ErrConnectionClosed, nats.ErrNoServers, nats.ErrTimeout,
		nats.ErrConnectionReconnecting, nats.ErrDisconnected, nats.ErrNoResponders,
		jetstream.ErrNoStreamResponse, context.DeadlineExceeded} {
		if errors.Is(err, target) {
			return FaultNATSUnreachable, true
		}
	}
	return "", false
}

// faultState is what this process currently knows of each fault: when
// it was first and last seen, and the last error that showed it. A fault
// ends when the operation it stopped succeeds again, or when it has not
// been seen for faultMemory (nothing tried it since).
type faultState struct {
	mu     sync.Mutex
	active map[Fault]*faultSeen
}

type faultSeen struct {
	since, last time.Time
	err         string
	count       int
}

// faultMemory is how long a fault not seen again is still reported.
const faultMemory = time.Minute

// seen records a sighting of f; first is true when it begins a fault.
func (s *faultState) seen(f Fault, err error, now time.Time) (first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		s.active = map[Fault]*faultSeen{}
	}
	p, ok := s.active[f]
	if !ok || now.Sub(p.last) > faultMemory {
		p, first = &faultSeen{since: now}, true
		s.active[f] = p
	}
	p.last, p.err = now, errString(err)
	p.count++
	return first
}

// ended forgets f; it returns the sighting when there was one.
func (s *faultState) ended(f Fault) (faultSeen, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.active[f]
	if !ok {
		return faultSeen{}, false
	}
	delete(s.active, f)
	return *p, true
}

// current returns the faults seen within faultMemory of now.
func (s *faultState) current(now time.Time) map[Fault]faultSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[Fault]faultSeen{}
	for f, p := range s.active {
		if now.Sub(p.last) <= faultMemory {
			out[f] = *p
		}
	}
	return out
}

// noteFault records a sighting of f, shown by err, and logs the fault
// when it begins: what is wrong and what to check.
func (w *Worker) noteFault(f Fault, err error) {
	if w.faults.seen(f, err, w.cfg.Now()) {
		row := faultTable[f]
		w.log.Error().Str("fault", string(f)).AnErr("error", err).Msg(row.what + "; " + row.check)
	}
}

// noteNATS records what the outcome of a NATS operation shows: a fault;
// or NATS answering (success, or a refusal other than for space), which
// ends NATS unreachable; or, when the operation stored something, space
// again, which ends storage full.
func (w *Worker) noteNATS(err error, stores bool) {
	if f, ok := natsFault(err); ok {
		w.noteFault(f, err)
		return
	}
	var apiErr *jetstream.APIError
	if err == nil || errors.As(err, &apiErr) {
		w.faultEnded(FaultNATSUnreachable)
	}
	if err == nil && stores {
		w.faultEnded(FaultStorageFull)
	}
}

// noteAPI records what the outcome of an API call shows: no answer at
// all, or an answer (of any status), which ends API unreachable.
func (w *Worker) noteAPI(err error) {
	if skv.Unreachable(err) {
		w.noteFault(FaultAPIUnreachable, err)
		return
	}
	var e *skv.Error
	if err == nil || errors.As(err, &e) && e.Status != 0 {
		w.faultEnded(FaultAPIUnreachable)
	}
}

// faultEnded forgets f and logs its end when it was on.
func (w *Worker) faultEnded(f Fault) {
	if p, ok := w.faults.ended(f); ok {
		w.log.Info().Str("fault", string(f)).Time("since", p.since).Int("seen", p.count).
			Msg(string(f) + " is over: the operation it stopped succeeds again")
	}
}

// faultOf tells which fault the handling's error shows, for its log line.
func faultOf(tr *trace) Fault {
	if tr.err == nil {
		return ""
	}
	if skv.Unreachable(tr.err) {
		return FaultAPIUnreachable
	}
	if f, ok := natsFault(tr.err); ok {
		return f
	}
	return ""
}

// Faults returns the faults this worker sees now, one line each: the
// fault, what it means, what to check, since when and the last error.
func (w *Worker) Faults() []string {
	var out []string
	for f, p := range w.faults.current(w.cfg.Now()) {
		out = append(out, faultLine(f, p))
	}
	sort.Strings(out)
	return out
}

func faultLine(f Fault, p faultSeen) string {
	row := faultTable[f]
	return fmt.Sprintf("%s: %s; %s (since %s, %d times, last: %s)", f, row.what, row.check,
		p.since.UTC().Format(time.RFC3339), p.count, p.err)
}

// CheckStorage is a readiness check: it fails while JetStream refuses to
// store for want of space (seen within the last minute and not ended by
// a commit since).
func (w *Worker) CheckStorage(context.Context) error {
	return w.checkFault(FaultStorageFull)
}

// CheckAPI is a readiness check that warns while the Skattekonto API
// gives no answer: every replica shares the outage, so it does not make
// the process unready.
func (w *Worker) CheckAPI(context.Context) error {
	return w.checkFault(FaultAPIUnreachable)
}

// CheckNATS is a readiness check: it fails while NATS operations of the
// fetches time out or find no connection.
func (w *Worker) CheckNATS(context.Context) error {
	return w.checkFault(FaultNATSUnreachable)
}

func (w *Worker) checkFault(f Fault) error {
	p, ok := w.faults.current(w.cfg.Now())[f]
	if !ok {
		return nil
	}
	err := errors.New(faultLine(f, p))
	if !faultTable[f].unready {
		return health.Warn(err)
	}
	return err
}
