package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
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
)

// maxCommitTries bounds re-diffing after conflicting commits.
const maxCommitTries = 5

// fetchID derives the fetch's id from the request message's place in its
// stream, so that a redelivery of the same message is the same fetch.
func fetchID(meta *jetstream.MsgMetadata) string {
	return events.NewID(meta.Stream, "fetch", strconv.FormatUint(meta.Sequence.Stream, 10),
		strconv.FormatInt(meta.Timestamp.UnixNano(), 10))[:16]
}

// trace is the record of one handling, logged as one line.
type trace struct {
	account   string
	requestID string
	fetchID   string
	delivery  uint64
	ops       []skv.Operation
	calls     []skv.Call
	events    int
	round     int
	apiErr    error
	outcome   string
	err       error
}

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

// outcomeClass maps a handling's outcome to the metrics' few classes.
func outcomeClass(outcome string) string {
	switch outcome {
	case "completed", "already-done", "served-by-state", "coalesced", "service-window":
		return metrics.OutcomeOK
	case events.ReasonInvalidRequest:
		return metrics.OutcomeRejected
	case events.ReasonRejected, events.ReasonExhausted, "gave-up":
		return metrics.OutcomeFailed
	case "handed-back":
		return metrics.OutcomeCancelled
	case "conflict-retry":
		return metrics.OutcomeRetry
	}
	return metrics.OutcomeRetry
}

// observe records a handling's metrics: its outcome, and each API call
// made (a call after the first of its operation is a retry).
func (w *Worker) observe(tr *trace, d time.Duration) {
	m := w.cfg.Metrics
	if m == nil {
		return
	}
	m.FetchDone(outcomeClass(tr.outcome), d)
	var last skv.Operation
	for _, c := range tr.calls {
		m.APICall(string(c.Operation), c.HTTPStatus, c.Felkod, c.Duration)
		if c.Operation == last {
			m.Retry(string(c.Operation))
		}
		last = c.Operation
	}
}

// settle acknowledges or gives back the request. A request on its last
// delivery is never given back: process has published FetchFailed for it.
func (w *Worker) settle(msg jetstream.Msg, v verdict, tr *trace) {
	var err error
	switch v {
	case done:
		err = msg.Ack()
	case retry:
		err = msg.NakWithDelay(w.cfg.RetryDelay)
	}
	if err != nil {
		// The answer is stored; a redelivery will find the fetch id in the state.
		w.log.Warn().Err(err).Str("fetchId", tr.fetchID).Msg("settle fetch request")
	}
}

// process validates the request and takes part in a round of its account:
// it leads the round, or another request's round serves it.
func (w *Worker) process(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, tr *trace) (v verdict) {
	now := w.cfg.Now()
	tok := strings.TrimPrefix(msg.Subject(), FetchSubjectPrefix)
	req, err := ParseRequest(tok, msg.Data(), now.In(stockholm))
	if err != nil {
		return w.invalid(ctx, msg, tr, err, now)
	}
	tr.account, tr.requestID, tr.ops = req.Account.Masked(), req.RequestID, req.Operations
	if msg.Headers().Get("Nats-Scheduler") != "" && inServiceWindow(now) {
		// A scheduled tick inside Skatteverket's service window: skip it,
		// the next tick comes after the window.
		tr.outcome = "service-window"
		return done
	}
	stopBeat := w.heartbeat(msg)
	defer stopBeat()
	m := &member{msg: msg, meta: meta, req: req, fetchID: tr.fetchID, turn: make(chan turn, 1)}
	// Requests are coalesced only with requests served by the same credential.
	key := req.Account.String() + "\x00" + req.Auth + "\x00" + req.Session
	round, lead := w.queue.join(key, m)
	if !lead {
		t := <-m.turn
		if !t.lead {
			tr.outcome = "coalesced"
			if t.v != done {
				tr.outcome = "coalesced-retry"
			}
			return t.v
		}
		round = t.round
	}
	defer func() {
		if r := recover(); r != nil {
			tr.outcome, tr.err = "panic", fmt.Errorf("panic: %v", r)
			v = retry
		}
		w.queue.finish(key, round, v)
	}()
	return w.runRound(ctx, round, tr, now)
}

// inServiceWindow reports whether t falls in Skatteverket's service
// window, 03:00–05:00 Swedish time.
func inServiceWindow(t time.Time) bool {
	h := t.In(stockholm).Hour()
	return h >= 3 && h < 5
}

// retryOrFail gives a request back after a transient failure, unless this
// was its last delivery: then it publishes FetchFailed so that nothing is
// dropped silently.
func (w *Worker) retryOrFail(ctx context.Context, meta *jetstream.MsgMetadata, tr *trace, req Request, requestIDs []string, now time.Time) verdict {
	if ctx.Err() != nil || meta.NumDelivered < uint64(w.cfg.MaxDeliver) {
		return retry
	}
	ev := w.failedEvent(req.Account.String(), req, requestIDs, tr, &events.FetchFailed{
		Reason: events.ReasonExhausted,
		Error:  "gave up after " + strconv.FormatUint(meta.NumDelivered, 10) + " deliveries: " + errString(tr.err),
	}, now)
	if err := w.store.PublishAlone(ctx, &ev); err != nil {
		w.log.Error().Err(err).Str("fetchId", tr.fetchID).Msg("could not publish FetchFailed on the last delivery")
		return retry
	}
	tr.outcome = "gave-up"
	return done
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// invalid answers a request that cannot be parsed or validated with
// FetchFailed "invalid-request", on its account's subject when the account
// could be told, else on the invalid subject, and removes it.
func (w *Worker) invalid(ctx context.Context, msg jetstream.Msg, tr *trace, perr error, now time.Time) verdict {
	var re *RequestError
	subject, requestID := events.InvalidSubject, ""
	omfragad := ""
	if errors.As(perr, &re) {
		requestID = re.RequestID
		if !re.Account.IsZero() {
			omfragad, tr.account = re.Account.String(), re.Account.Masked()
			if !re.Unparsed {
				subject = omfragad
			}
		}
	}
	tr.requestID, tr.outcome, tr.err = requestID, events.ReasonInvalidRequest, perr
	data := events.FetchFailed{
		Header:  events.Header{Omfragad: omfragad},
		Reason:  events.ReasonInvalidRequest,
		Error:   perr.Error(),
		Calls:   []events.Call{},
		Request: requestBody(msg.Data()),
	}
	if requestID != "" {
		data.RequestIDs = []string{requestID}
	}
	ev := events.Event{
		ID:        events.NewID(subject, events.TypeFetchFailed, tr.fetchID),
		Type:      events.TypeFetchFailed,
		Subject:   subject,
		Time:      now,
		FetchID:   tr.fetchID,
		RequestID: requestID,
		Data:      data,
	}
	if err := w.store.PublishAlone(ctx, &ev); err != nil {
		tr.outcome, tr.err = "publish-failed", err
		return retry
	}
	return done
}

func (w *Worker) failedEvent(acct string, req Request, requestIDs []string, tr *trace, f *events.FetchFailed, now time.Time) events.Event {
	f.Header = events.Header{Omfragad: acct}
	f.Calls = calls(tr.calls)
	f.Attempts = len(tr.calls)
	f.Request = requestJSON(req)
	f.RequestIDs = requestIDs
	return events.Event{
		ID:            events.NewID(acct, events.TypeFetchFailed, tr.fetchID),
		Type:          events.TypeFetchFailed,
		Subject:       acct,
		Time:          now,
		FetchID:       tr.fetchID,
		RequestID:     req.RequestID,
		CorrelationID: lastCorrelation(tr.calls),
		Auth:          req.Auth,
		Data:          *f,
	}
}

func (w *Worker) completedEvent(acct string, req Request, requestIDs []string, skipped []skv.Operation, tr *trace, snap *events.Snapshot, res *events.Result, now time.Time) events.Event {
	ops := make([]string, len(req.Operations))
	for i, op := range req.Operations {
		ops[i] = string(op)
	}
	data := events.FetchCompleted{
		Header:           events.Header{Omfragad: acct},
		Operations:       ops,
		APICalls:         len(tr.calls),
		Calls:            calls(tr.calls),
		Skipped:          make([]string, 0, len(skipped)),
		Changes:          len(res.Events),
		Informationstext: []string{},
	}
	for _, a := range snap.Answers() {
		if data.SenastUppdaterad == "" {
			data.SenastUppdaterad = a.SenastUppdaterad
		}
		for _, t := range a.Informationstext {
			if !slices.Contains(data.Informationstext, t) {
				data.Informationstext = append(data.Informationstext, t)
			}
		}
	}
	for _, op := range skipped {
		data.Skipped = append(data.Skipped, string(op))
	}
	data.RequestIDs = requestIDs
	return events.Event{
		ID:            events.NewID(acct, events.TypeFetchCompleted, tr.fetchID),
		Type:          events.TypeFetchCompleted,
		Subject:       acct,
		Time:          now,
		FetchID:       tr.fetchID,
		RequestID:     req.RequestID,
		CorrelationID: lastCorrelation(tr.calls),
		Auth:          req.Auth,
		Data:          data,
	}
}

func lastCorrelation(cs []skv.Call) string {
	if len(cs) == 0 {
		return ""
	}
	return cs[len(cs)-1].CorrelationID
}

// callAPI calls the planned operations in order. On the first failure it
// stops and returns the FetchFailed to publish; ctx ending returns neither.
// The transactions call is skipped (unless forced) when the balance answer
// shows the same senastUppdaterad as the stored transactions: the data is
// only as fresh as that timestamp, so nothing can have changed. It returns
// when each operation's answer was asked for, and the operations skipped.
func (w *Worker) callAPI(ctx context.Context, api API, req Request, call, skipped []skv.Operation, st *events.State, tr *trace) (events.Snapshot, map[string]int64, []skv.Operation, *events.FetchFailed) {
	snap := events.Snapshot{Omfragad: req.Account.String()}
	at := make(map[string]int64, len(call))
	skipped = slices.Clone(skipped)
	if skipped == nil {
		skipped = []skv.Operation{}
	}
	for _, op := range call {
		var (
			t     skv.Trace
			err   error
			start = w.cfg.Now().UnixNano()
		)
		switch op {
		case skv.OpSaldo:
			var a skv.Saldo
			a, t, err = api.Saldo(ctx, req.Account)
			if err == nil {
				snap.Saldo = saldoAnswer(a, t)
			}
		case skv.OpTransaktioner:
			if !req.Force && unchangedSince(st, snap.Saldo) {
				skipped = append(skipped, op)
				at[string(op)] = start
				continue
			}
			var a skv.Transaktioner
			a, t, err = api.Transaktioner(ctx, req.Account, w.datumFrom(st, req))
			if err == nil {
				snap.Transaktioner = transaktionerAnswer(a, t)
			}
		case skv.OpUtbetalningskonto:
			var a skv.Utbetalningskonto
			a, t, err = api.Utbetalningskonto(ctx, req.Account)
			if err == nil {
				snap.Utbetalningskonto = kontoAnswer(a, t)
			}
		case skv.OpUtbetalningssparrar:
			var a skv.Utbetalningssparrar
			a, t, err = api.Utbetalningssparrar(ctx, req.Account)
			if err == nil {
				snap.Utbetalningssparrar = sparrarAnswer(a, t)
			}
		}
		tr.calls = append(tr.calls, t.Calls...)
		if err != nil {
			if ctx.Err() != nil {
				return snap, nil, skipped, nil
			}
			tr.apiErr = err
			return snap, nil, skipped, apiFailure(op, err)
		}
		at[string(op)] = start
	}
	slices.SortFunc(skipped, func(a, b skv.Operation) int {
		return slices.Index(skv.Operations, a) - slices.Index(skv.Operations, b)
	})
	return snap, at, skipped, nil
}

// unchangedSince reports whether a balance answer shows that the account
// cannot have changed since its transactions were last fetched: the same
// senastUppdaterad, and the same balance and interest as stored.
func unchangedSince(st *events.State, s *events.SaldoAnswer) bool {
	return s != nil && s.SenastUppdaterad != "" && st.Seen&events.SeenTransaktioner != 0 && st.Seen&events.SeenSaldo != 0 &&
		s.SenastUppdaterad == st.TxSenastUppdaterad && s.Balance.Equal(st.Balance) && s.Interest.Equal(st.Interest)
}

// apiFailure describes an API error as FetchFailed: "rejected" when the
// API said no for good, "exhausted" when retries ran out.
func apiFailure(op skv.Operation, err error) *events.FetchFailed {
	f := &events.FetchFailed{Reason: events.ReasonRejected, Operation: string(op), Error: err.Error()}
	if skv.Retryable(err) {
		f.Reason = events.ReasonExhausted
	}
	var e *skv.Error
	if errors.As(err, &e) {
		f.Felkod, f.Felmeddelande, f.HTTPStatus = e.Felkod, e.Felmeddelande, e.Status
	}
	return f
}

// heartbeat tells the server the request is in progress every AckWait/3
// until stopped, so a slow API does not cause a redelivery.
func (w *Worker) heartbeat(msg jetstream.Msg) func() {
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(w.cfg.AckWait / 3)
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

func (w *Worker) logFetch(tr *trace, d time.Duration) {
	lvl := zerolog.InfoLevel
	switch tr.outcome {
	case "completed", "already-done", "served-by-state", "coalesced", "service-window", "conflict-retry":
	case events.ReasonInvalidRequest, events.ReasonRejected, events.ReasonExhausted, "handed-back":
		lvl = zerolog.WarnLevel
	default:
		lvl = zerolog.ErrorLevel
	}
	e := w.log.WithLevel(lvl).
		Str("account", tr.account).
		Str("fetchId", tr.fetchID).
		Uint64("delivery", tr.delivery).
		Str("outcome", tr.outcome).
		Int("events", tr.events).
		Int("round", tr.round).
		Int("attempts", len(tr.calls)).
		Dur("duration", d)
	if tr.requestID != "" {
		e = e.Str("requestId", tr.requestID)
	}
	if len(tr.ops) > 0 {
		ops := make([]string, len(tr.ops))
		for i, op := range tr.ops {
			ops[i] = string(op)
		}
		e = e.Strs("operations", ops)
	}
	if len(tr.calls) > 0 {
		ids := make([]string, len(tr.calls))
		for i, c := range tr.calls {
			ids[i] = c.CorrelationID
		}
		e = e.Strs("correlationIds", ids)
	}
	if tr.err != nil {
		e = e.AnErr("error", tr.err)
	}
	e.Msg("fetch")
}

// crash reports whether a test wants processing killed at this step.
func (w *Worker) crash(step, fetchID string) bool {
	return w.crashAt != nil && w.crashAt(step, fetchID)
}
