package jobs

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// verdict is what happens to a fetch request message; decided in one place (settle).
type verdict int

const (
	// done: the answer is stored; remove the request.
	done verdict = iota
	// retry: a transient failure (NATS, or the worker stopping); deliver again later.
	retry
	// crashed: a test killed the processing; nothing more is done.
	crashed
	// deferred: the API's service window; deliver again when it ends (window.go).
	deferred
)

// fetchID derives the fetch's id from the request message's place in its
// stream, so that a redelivery of the same message is the same fetch.
func fetchID(meta *jetstream.MsgMetadata) string {
	return events.NewID(meta.Stream, "fetch", strconv.FormatUint(meta.Sequence.Stream, 10),
		strconv.FormatInt(meta.Timestamp.UnixNano(), 10))[:16]
}

// handle processes one fetch request message, settles it, and records
// the handling in the metrics and one log line.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	tr := trace{}
	meta, err := msg.Metadata()
	if err != nil {
		w.log.Error().Err(err).Str("subject", msg.Subject()).Msg("message without JetStream metadata: terminated")
		_ = msg.Term()
		return
	}
	tr.fetchID, tr.delivery = fetchID(meta), meta.NumDelivered
	// Held from now on, also while it waits for its account's round:
	// kept alive so that it is not delivered to another worker meanwhile.
	stopBeat := w.heartbeat(msg)
	defer stopBeat()
	w.cfg.Metrics.InFlight(1)
	defer w.cfg.Metrics.InFlight(-1)
	v := w.process(ctx, msg, meta, &tr)
	if v == crashed {
		return
	}
	w.settle(msg, v, &tr)
	d := time.Since(start)
	w.observe(&tr, d)
	w.logFetch(&tr, d)
}

// process validates the request and takes part in a round of its account
// (queue.go): it leads the round, or another request's round serves it.
func (w *Worker) process(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, tr *trace) verdict {
	now := w.cfg.Now()
	// Stored as skattekonto.fetch.<partition>.<omfragad>; the request
	// itself names skattekonto.fetch.<omfragad>.
	tok := strings.TrimPrefix(contract.RequestSubject(msg.Subject()), contract.FetchPrefix)
	req, err := ParseRequest(tok, msg.Data(), now.In(contract.Stockholm))
	if err == nil {
		err = w.checkLogin(msg, req)
	}
	if err != nil {
		return w.invalid(ctx, msg, tr, err, now)
	}
	tr.account, tr.requestID, tr.ops = req.Account.Masked(), req.RequestID, req.Operations
	if msg.Headers().Get("Nats-Scheduler") != "" && w.hooks.inServiceWindow(now) {
		// A scheduled tick inside Skatteverket's service window: skip it,
		// the next tick comes after the window.
		tr.end(OutcomeServiceWindow, nil)
		return done
	}
	tr.omfragad = req.Account.String()
	return w.takePart(ctx, &member{msg: msg, meta: meta, req: req, fetchID: tr.fetchID, turn: make(chan turn, 1)}, tr, now)
}

// checkLogin refuses a request with "auth": "user" that the login
// component did not send, for an account its person chose: knowing a
// login's reference (it is in the events) is not enough to fetch with it.
// Without the login, apiFor refuses the request.
func (w *Worker) checkLogin(msg jetstream.Msg, req Request) error {
	if req.Auth != contract.AuthUser || w.cfg.Sessions == nil {
		return nil
	}
	if err := w.cfg.Sessions.Check(contract.RequestSubject(msg.Subject()), msg.Data(), msg.Headers().Get(contract.LoginProofHeader)); err != nil {
		return &RequestError{Reason: "auth user: " + err.Error(), RequestID: req.RequestID, Account: req.Account}
	}
	return nil
}

// settle acknowledges or gives back the request. The acknowledgement
// waits for the server's confirmation: a request whose acknowledgement is
// not confirmed may be delivered again, so its fetch id is recorded again
// by the account's next commits until it is (unconfirmed).
func (w *Worker) settle(msg jetstream.Msg, v verdict, tr *trace) {
	var err error
	switch v {
	case done:
		if w.hooks.ackLost(msg) {
			w.unconfirmed.add(tr.omfragad, tr.fetchID, w.cfg.Now().Add(unconfirmedFor*w.ackWait))
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.ackWait/3)
		err = msg.DoubleAck(ctx)
		cancel()
		w.noteNATS(err, false)
		if err != nil && tr.omfragad != "" {
			w.unconfirmed.add(tr.omfragad, tr.fetchID, w.cfg.Now().Add(unconfirmedFor*w.ackWait))
		} else if err == nil {
			w.unconfirmed.remove(tr.omfragad, tr.fetchID)
		}
	case retry:
		err = msg.NakWithDelay(w.cfg.RetryDelay)
	case deferred:
		err = msg.NakWithDelay(w.deferral())
	}
	if err != nil {
		// The answer is stored; a redelivery will find the fetch id in the state.
		w.log.Warn().Err(err).Str("fetchId", tr.fetchID).Msg("settle fetch request")
	}
}

// unconfirmedFor is how many ack waits a fetch id whose acknowledgement
// was not confirmed is recorded again: its redelivery comes within one.
const unconfirmedFor = 10

// unconfirmed are, per account, the fetch ids of answered requests whose
// acknowledgement the server did not confirm, with when to forget them.
// The state remembers the last 48 fetch ids; such a request may come
// back after more than that were answered, so every commit of the
// account records its id again until its redelivery is acknowledged.
type unconfirmed struct {
	mu     sync.Mutex
	byAcct map[string]map[string]time.Time
}

func (u *unconfirmed) add(acct, id string, until time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byAcct == nil {
		u.byAcct = map[string]map[string]time.Time{}
	}
	if u.byAcct[acct] == nil {
		u.byAcct[acct] = map[string]time.Time{}
	}
	u.byAcct[acct][id] = until
}

func (u *unconfirmed) remove(acct, id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.byAcct[acct], id)
	if len(u.byAcct[acct]) == 0 {
		delete(u.byAcct, acct)
	}
}

// ids returns acct's unconfirmed fetch ids, forgetting those past their time.
func (u *unconfirmed) ids(acct string, now time.Time) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for id, until := range u.byAcct[acct] {
		if now.After(until) {
			delete(u.byAcct[acct], id)
			continue
		}
		out = append(out, id)
	}
	if len(u.byAcct[acct]) == 0 {
		delete(u.byAcct, acct)
	}
	slices.Sort(out)
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// invalid answers a request that cannot be parsed or validated with
// FetchFailed "invalid-request" and removes it.
func (w *Worker) invalid(ctx context.Context, msg jetstream.Msg, tr *trace, perr error, now time.Time) verdict {
	o := events.Origin{FetchID: tr.fetchID, Time: now}
	bodyRead := false
	var re *RequestError
	if errors.As(perr, &re) {
		o.RequestID, bodyRead = re.RequestID, !re.Unparsed
		if !re.Account.IsZero() {
			o.Omfragad, tr.account = re.Account.String(), re.Account.Masked()
		}
	}
	tr.requestID = o.RequestID
	tr.end(OutcomeInvalidRequest, perr)
	ev := events.NewInvalidRequest(o, bodyRead, perr.Error(), requestBody(msg.Data()))
	err := w.store.PublishAlone(ctx, &ev)
	w.noteNATS(err, true)
	if err != nil {
		tr.end(OutcomePublishFailed, err)
		return retry
	}
	return done
}

// heartbeat tells the server the request is in progress every third of
// the consumer's ack wait until stopped, so that neither a slow API nor
// a wait for the account's round causes a redelivery.
func (w *Worker) heartbeat(msg jetstream.Msg) func() {
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(w.ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(stop) }
}
