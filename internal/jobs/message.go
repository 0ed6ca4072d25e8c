package jobs

import (
	"context"
	"errors"
	"strconv"
	"strings"
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
	tok := strings.TrimPrefix(msg.Subject(), contract.FetchPrefix)
	req, err := ParseRequest(tok, msg.Data(), now.In(contract.Stockholm))
	if err == nil {
		err = w.checkLogin(msg, req)
	}
	if err != nil {
		return w.invalid(ctx, msg, tr, err, now)
	}
	tr.account, tr.requestID, tr.ops = req.Account.Masked(), req.RequestID, req.Operations
	if msg.Headers().Get("Nats-Scheduler") != "" && contract.InServiceWindow(now) {
		// A scheduled tick inside Skatteverket's service window: skip it,
		// the next tick comes after the window.
		tr.end(OutcomeServiceWindow, nil)
		return done
	}
	stopBeat := w.heartbeat(msg)
	defer stopBeat()
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
	if err := w.cfg.Sessions.Check(msg.Subject(), msg.Data(), msg.Headers().Get(contract.LoginProofHeader)); err != nil {
		return &RequestError{Reason: "auth user: " + err.Error(), RequestID: req.RequestID, Account: req.Account}
	}
	return nil
}

// settle acknowledges or gives back the request. A request on its last
// delivery is never given back: giveUp has published FetchFailed for it.
func (w *Worker) settle(msg jetstream.Msg, v verdict, tr *trace) {
	var err error
	switch v {
	case done:
		if w.hooks.ackLost(msg) {
			return
		}
		err = msg.Ack()
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

// retryOrGiveUp gives a request back after a transient failure, unless
// this was its last delivery: then it publishes FetchFailed so that
// nothing is dropped silently.
func (w *Worker) retryOrGiveUp(ctx context.Context, f *fetch) verdict {
	n := f.round[0].meta.NumDelivered
	if ctx.Err() != nil || n < w.deliveryLimit(f.round[0].meta, f.now) {
		return retry
	}
	ev := f.failed(&events.FetchFailed{
		Reason: events.ReasonExhausted,
		Error:  "gave up after " + strconv.FormatUint(n, 10) + " deliveries: " + errString(f.tr.err),
	})
	if err := w.store.PublishAlone(ctx, &ev); err != nil {
		w.log.Error().Err(err).Str("fetchId", f.id).Msg("could not publish FetchFailed on the last delivery")
		return retry
	}
	f.tr.end(OutcomeGaveUp, f.tr.err)
	return done
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
	if err := w.store.PublishAlone(ctx, &ev); err != nil {
		tr.end(OutcomePublishFailed, err)
		return retry
	}
	return done
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
