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
		strconv.FormatInt(meta.Timestamp.UnixNano(), 10))[:20]
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
	v := w.process(ctx, msg, meta, &tr)
	if v == crashed {
		return
	}
	w.settle(msg, meta, v, &tr)
	w.logFetch(&tr, time.Since(start))
}

// settle acknowledges or gives back the request. A request on its last
// delivery is never given back: process has published FetchFailed for it.
func (w *Worker) settle(msg jetstream.Msg, meta *jetstream.MsgMetadata, v verdict, tr *trace) {
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

func (w *Worker) process(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, tr *trace) (v verdict) {
	now := w.cfg.Now()
	defer func() {
		if r := recover(); r != nil {
			tr.outcome, tr.err = "panic", fmt.Errorf("panic: %v", r)
			v = retry
		}
	}()
	tok := strings.TrimPrefix(msg.Subject(), FetchSubjectPrefix)
	req, err := ParseRequest(tok, msg.Data(), now.In(stockholm))
	if err != nil {
		return w.invalid(ctx, msg, tr, err, now)
	}
	tr.account, tr.requestID, tr.ops = req.Account.Masked(), req.RequestID, req.Operations
	acct := req.Account.String()
	unlock := w.locks.lock(acct)
	defer unlock()
	stopBeat := w.heartbeat(msg)
	defer stopBeat()

	st, seq, err := w.store.Load(ctx, acct)
	if err != nil {
		tr.outcome, tr.err = "state-unavailable", err
		return w.retryOrFail(ctx, meta, tr, req, now)
	}
	if st.HasFetch(tr.fetchID) {
		tr.outcome = "already-done"
		return done
	}
	if w.crash("loaded", tr.fetchID) {
		return crashed
	}
	snap, failure := w.callAPI(ctx, req, tr)
	if ctx.Err() != nil {
		tr.outcome, tr.err = "handed-back", ctx.Err()
		return retry
	}
	if w.crash("called", tr.fetchID) {
		return crashed
	}
	for try := 0; ; try++ {
		c := events.Commit{Omfragad: acct, Seq: seq, Prev: st, FetchID: tr.fetchID}
		if req.RequestID != "" {
			c.RequestIDs = []string{req.RequestID}
		}
		if failure != nil {
			c.Closing = w.failedEvent(acct, req, tr, failure, now)
			tr.outcome, tr.err = failure.Reason, errors.New(failure.Error)
		} else {
			res := events.Diff(st, snap, now, w.cfg.Diff)
			for i := range res.Events {
				res.Events[i].FetchID, res.Events[i].RequestID = tr.fetchID, req.RequestID
			}
			c.Result = &res
			c.Closing = w.completedEvent(acct, req, tr, &snap, &res, now)
			tr.outcome, tr.events = "completed", len(res.Events)
		}
		if w.crash("diffed", tr.fetchID) {
			return crashed
		}
		_, err := w.store.Commit(ctx, c)
		if err == nil {
			if w.crash("committed", tr.fetchID) {
				return crashed
			}
			return done
		}
		if !events.IsConflict(err) || try >= maxCommitTries {
			tr.outcome, tr.err = "commit-failed", err
			return w.retryOrFail(ctx, meta, tr, req, now)
		}
		// Someone committed first (perhaps this very fetch, before a crash
		// or a lost ack): read the state again and decide again.
		st, seq, err = w.store.Load(ctx, acct)
		if err != nil {
			tr.outcome, tr.err = "state-unavailable", err
			return w.retryOrFail(ctx, meta, tr, req, now)
		}
		if st.HasFetch(tr.fetchID) {
			tr.outcome = "already-done"
			return done
		}
	}
}

// retryOrFail gives a request back after a transient failure, unless this
// was its last delivery: then it publishes FetchFailed so that nothing is
// dropped silently.
func (w *Worker) retryOrFail(ctx context.Context, meta *jetstream.MsgMetadata, tr *trace, req Request, now time.Time) verdict {
	if ctx.Err() != nil || meta.NumDelivered < uint64(w.cfg.MaxDeliver) {
		return retry
	}
	ev := w.failedEvent(req.Account.String(), req, tr, &events.FetchFailed{
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
			subject, omfragad = re.Account.String(), re.Account.String()
			tr.account = re.Account.Masked()
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

func (w *Worker) failedEvent(acct string, req Request, tr *trace, f *events.FetchFailed, now time.Time) events.Event {
	f.Header = events.Header{Omfragad: acct}
	f.Calls = calls(tr.calls)
	f.Attempts = len(tr.calls)
	f.Request = requestJSON(req)
	if req.RequestID != "" {
		f.RequestIDs = []string{req.RequestID}
	}
	return events.Event{
		ID:            events.NewID(acct, events.TypeFetchFailed, tr.fetchID),
		Type:          events.TypeFetchFailed,
		Subject:       acct,
		Time:          now,
		FetchID:       tr.fetchID,
		RequestID:     req.RequestID,
		CorrelationID: lastCorrelation(tr.calls),
		Data:          *f,
	}
}

func (w *Worker) completedEvent(acct string, req Request, tr *trace, snap *events.Snapshot, res *events.Result, now time.Time) events.Event {
	ops := make([]string, len(req.Operations))
	for i, op := range req.Operations {
		ops[i] = string(op)
	}
	data := events.FetchCompleted{
		Header:           events.Header{Omfragad: acct},
		Operations:       ops,
		APICalls:         len(tr.calls),
		Calls:            calls(tr.calls),
		Skipped:          []string{},
		Changes:          len(res.Events),
		Informationstext: []string{},
	}
	for _, a := range []*events.Answer{answerOf(snap.Saldo), txAnswerOf(snap.Transaktioner), kontoAnswerOf(snap.Utbetalningskonto), sparrAnswerOf(snap.Utbetalningssparrar)} {
		if a == nil {
			continue
		}
		if data.SenastUppdaterad == "" {
			data.SenastUppdaterad = a.SenastUppdaterad
		}
		for _, t := range a.Informationstext {
			if !slices.Contains(data.Informationstext, t) {
				data.Informationstext = append(data.Informationstext, t)
			}
		}
	}
	if req.RequestID != "" {
		data.RequestIDs = []string{req.RequestID}
	}
	return events.Event{
		ID:            events.NewID(acct, events.TypeFetchCompleted, tr.fetchID),
		Type:          events.TypeFetchCompleted,
		Subject:       acct,
		Time:          now,
		FetchID:       tr.fetchID,
		RequestID:     req.RequestID,
		CorrelationID: lastCorrelation(tr.calls),
		Data:          data,
	}
}

func answerOf(a *events.SaldoAnswer) *events.Answer {
	if a == nil {
		return nil
	}
	return &a.Answer
}

func txAnswerOf(a *events.TransaktionerAnswer) *events.Answer {
	if a == nil {
		return nil
	}
	return &a.Answer
}

func kontoAnswerOf(a *events.UtbetalningskontoAnswer) *events.Answer {
	if a == nil {
		return nil
	}
	return &a.Answer
}

func sparrAnswerOf(a *events.SparrarAnswer) *events.Answer {
	if a == nil {
		return nil
	}
	return &a.Answer
}

func lastCorrelation(cs []skv.Call) string {
	if len(cs) == 0 {
		return ""
	}
	return cs[len(cs)-1].CorrelationID
}

// callAPI calls the requested operations in order. On the first failure it
// stops and returns the FetchFailed to publish; ctx ending returns neither.
func (w *Worker) callAPI(ctx context.Context, req Request, tr *trace) (events.Snapshot, *events.FetchFailed) {
	snap := events.Snapshot{Omfragad: req.Account.String()}
	for _, op := range req.Operations {
		var (
			t   skv.Trace
			err error
		)
		switch op {
		case skv.OpSaldo:
			var a skv.Saldo
			a, t, err = w.api.Saldo(ctx, req.Account)
			if err == nil {
				snap.Saldo = saldoAnswer(a, t)
			}
		case skv.OpTransaktioner:
			var a skv.Transaktioner
			a, t, err = w.api.Transaktioner(ctx, req.Account, req.DatumFrom)
			if err == nil {
				snap.Transaktioner = transaktionerAnswer(a, t)
			}
		case skv.OpUtbetalningskonto:
			var a skv.Utbetalningskonto
			a, t, err = w.api.Utbetalningskonto(ctx, req.Account)
			if err == nil {
				snap.Utbetalningskonto = kontoAnswer(a, t)
			}
		case skv.OpUtbetalningssparrar:
			var a skv.Utbetalningssparrar
			a, t, err = w.api.Utbetalningssparrar(ctx, req.Account)
			if err == nil {
				snap.Utbetalningssparrar = sparrarAnswer(a, t)
			}
		}
		tr.calls = append(tr.calls, t.Calls...)
		if err != nil {
			if ctx.Err() != nil {
				return snap, nil
			}
			return snap, apiFailure(op, err)
		}
	}
	return snap, nil
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
	case "completed", "already-done":
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
