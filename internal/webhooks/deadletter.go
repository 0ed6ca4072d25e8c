package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// ProblemWebhookFailing is the AccessProblem kind that says an endpoint
// is failing: an event went to its dead letters. It is published on
// skattekonto.events.service.AccessProblem once per endpoint and day.
const ProblemWebhookFailing = "webhook-failing"

// Headers of a dead letter; its body is the event as stored.
const (
	HeaderDeadEndpoint = "Webhook-Endpoint"
	HeaderDeadError    = "Webhook-Last-Error"
	HeaderDeadAttempts = "Webhook-Attempts"
	HeaderDeadSubject  = "Webhook-Event-Subject"
	HeaderDeadSequence = "Webhook-Event-Sequence"
	HeaderDeadStored   = "Webhook-Event-Stored"
)

// giveUp moves msg to the endpoint's dead letters, reports the endpoint
// failing (once a day), and terminates msg so that the next event
// follows. If the dead letter cannot be stored, msg is retried instead:
// an event is never dropped without a trace.
func (r *runner) giveUp(msg jetstream.Msg, md *jetstream.MsgMetadata, id string, ans Answer, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	lastErr := describe(cause, ans)
	if err := r.deadLetter(ctx, msg, md, id, lastErr); err != nil {
		r.log.Error().Err(err).Str("event", id).Msg("webhook: dead letter not stored; the event is retried")
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	r.d.cfg.Metrics.WebhookDeadLetter(r.ep.Name)
	r.log.Error().Str("event", id).Str("subject", msg.Subject()).Uint64("attempts", md.NumDelivered).
		Str("lastError", lastErr).Str("deadLetters", contract.WebhookDeadSubject(r.ep.Name)).
		Msg("webhook gave up on an event: moved to the dead letters")
	if err := r.reportFailing(ctx, md, id, lastErr, time.Now()); err != nil {
		r.log.Error().Err(err).Msg("webhook: could not report the endpoint failing")
	}
	if err := msg.TermWithReason("moved to " + contract.WebhookDeadSubject(r.ep.Name)); err != nil {
		r.log.Warn().Err(err).Str("event", id).Msg("webhook: term failed: the event comes again and its dead letter is de-duplicated")
	}
}

// deadLetter stores msg's event on the endpoint's dead-letter subject
// with the last error; its Nats-Msg-Id makes a repeat within the
// stream's de-duplication window a no-op.
func (r *runner) deadLetter(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, id, lastErr string) error {
	m := nats.NewMsg(contract.WebhookDeadSubject(r.ep.Name))
	m.Data = msg.Data()
	m.Header.Set("Content-Type", ContentType)
	m.Header.Set(HeaderDeadEndpoint, r.ep.Name)
	m.Header.Set(HeaderDeadError, lastErr)
	m.Header.Set(HeaderDeadAttempts, strconv.FormatUint(md.NumDelivered, 10))
	m.Header.Set(HeaderDeadSubject, msg.Subject())
	m.Header.Set(HeaderDeadSequence, strconv.FormatUint(md.Sequence.Stream, 10))
	m.Header.Set(HeaderDeadStored, md.Timestamp.UTC().Format(time.RFC3339Nano))
	msgID := "dead." + r.ep.Name + "." + id
	if id == "" {
		msgID = "dead." + r.ep.Name + ".seq" + strconv.FormatUint(md.Sequence.Stream, 10)
	}
	if _, err := r.d.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("webhook %s: dead letter: %w", r.ep.Name, err)
	}
	return nil
}

// reportFailing publishes the AccessProblem webhook-failing for the
// endpoint unless it was reported today (Stockholm time). The day is kept
// on the endpoint's failing subject; the event's id, and so its
// Nats-Msg-Id, is derived from the endpoint and the day, so replicas that
// give up at once store it once.
func (r *runner) reportFailing(ctx context.Context, md *jetstream.MsgMetadata, id, lastErr string, now time.Time) error {
	day := now.In(contract.Stockholm).Format(time.DateOnly)
	subj := contract.WebhookFailingSubject(r.ep.Name)
	var lastSeq uint64
	last, err := r.d.dlq.GetLastMsgForSubject(ctx, subj)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return fmt.Errorf("read %s: %w", subj, err)
	case string(last.Data) == day:
		return nil
	default:
		lastSeq = last.Sequence
	}
	ev := FailingEvent(r.ep.Name, r.ep.Target(), id, lastErr, md.Timestamp, now)
	m, err := ev.Msg()
	if err != nil {
		return err
	}
	if _, err := r.d.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish %s: %w", ProblemWebhookFailing, err)
	}
	mark := nats.NewMsg(subj)
	mark.Data = []byte(day)
	mark.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	if _, err := r.d.js.PublishMsg(ctx, mark, jetstream.WithExpectLastSequencePerSubject(lastSeq)); err != nil {
		if events.IsConflict(err) {
			return nil // another replica marked the day first
		}
		return fmt.Errorf("mark %s: %w", subj, err)
	}
	r.log.Warn().Str("kind", ProblemWebhookFailing).Msg("access problem")
	return nil
}

// FailingEvent is the AccessProblem that says endpoint (shown by name and
// target) is failing: event id went to its dead letters with lastErr. since
// is when that event was stored. Its id depends only on the endpoint and
// the day of now.
func FailingEvent(endpoint, target, id, lastErr string, since, now time.Time) events.Event {
	day := now.In(contract.Stockholm).Format(time.DateOnly)
	detail := fmt.Sprintf("webhook endpoint %s (%s) is failing: event %s was not accepted and moved to %s; last error: %s",
		endpoint, target, id, contract.WebhookDeadSubject(endpoint), lastErr)
	return events.NewAccessProblem(events.Origin{FetchID: "webhook-" + endpoint + "-" + day, Time: now},
		events.Problem{Kind: ProblemWebhookFailing, Detail: detail, Since: since}, endpoint+"/"+day).Event
}

// describe is the last error as a dead letter keeps it: the error and the
// start of the answer's body, on one line of at most 300 characters.
func describe(err error, ans Answer) string {
	s := err.Error()
	if len(ans.Body) > 0 {
		s += ": " + string(ans.Body)
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}
