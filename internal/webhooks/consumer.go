package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// pullWait is how long one pull waits for an event; it bounds how long a
// stopping endpoint waits when it has nothing to deliver.
const pullWait = 2 * time.Second

// runner delivers the events of one endpoint, one at a time.
type runner struct {
	d    *Deliverer
	ep   Endpoint
	log  zerolog.Logger
	stop chan struct{}
	done chan struct{}
}

func (d *Deliverer) startRunner(ep Endpoint) *runner {
	r := &runner{d: d, ep: ep, stop: make(chan struct{}), done: make(chan struct{}),
		log: d.log.With().Str("endpoint", ep.Name).Str("target", ep.Target()).Logger()}
	go r.run()
	return r
}

// halt stops the runner and waits for its attempt under way to be settled.
func (r *runner) halt() {
	close(r.stop)
	<-r.done
}

func (r *runner) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// pause waits d or until the runner stops.
func (r *runner) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.stop:
	}
}

func (r *runner) run() {
	defer close(r.done)
	for !r.stopped() {
		ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
		cons, err := r.d.js.Consumer(ctx, contract.EventsStream, contract.WebhookConsumer(r.ep.Name))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			// Deleted underneath (another replica applied a file
			// without this endpoint first, or an operator): this
			// replica's file still has it.
			err = r.d.ensureConsumer(ctx, &r.ep)
			if err == nil {
				cons, err = r.d.js.Consumer(ctx, contract.EventsStream, contract.WebhookConsumer(r.ep.Name))
			}
		}
		cancel()
		if err != nil {
			r.log.Error().Err(err).Msg("webhook consumer unavailable; trying again")
			r.pause(5 * time.Second)
			continue
		}
		r.consume(cons)
	}
}

// consume delivers cons's events until the runner stops or the consumer
// fails (then run looks it up again).
func (r *runner) consume(cons jetstream.Consumer) {
	for !r.stopped() {
		msg, err := cons.Next(jetstream.FetchMaxWait(pullWait))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
			continue
		}
		if err != nil {
			r.log.Warn().Err(err).Msg("webhook consumer: pull failed")
			r.pause(time.Second)
			return
		}
		r.deliver(msg)
	}
}

// deliver makes one attempt at msg and settles it. The attempt is not cut
// short when the runner stops: it ends within the endpoint's timeout.
func (r *runner) deliver(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		r.log.Error().Err(err).Msg("webhook: a message without JetStream metadata")
		_ = msg.Nak()
		return
	}
	now := time.Now()
	id := eventID(msg)
	var ans Answer
	if id == "" {
		err = fmt.Errorf("%w: the event at stream sequence %d has no id", errUndeliverable, md.Sequence.Stream)
	} else {
		ans, err = Send(context.Background(), r.d.client, &r.ep, id, msg.Data(), now)
		r.d.cfg.Metrics.WebhookAttempt(r.ep.Name, string(ans.Result))
	}
	v := decide(err, int(md.NumDelivered), now.Sub(md.Timestamp), r.ep.MaxAge, r.d.cfg.RetryMax, rand.Float64())
	r.settle(msg, md, id, v, ans, err)
}

// settle carries out v for msg.
func (r *runner) settle(msg jetstream.Msg, md *jetstream.MsgMetadata, id string, v verdict, ans Answer, err error) {
	ev := func(e *zerolog.Event) *zerolog.Event {
		return e.Str("event", id).Str("subject", msg.Subject()).Uint64("attempt", md.NumDelivered).
			Str("result", string(ans.Result)).Int("status", ans.Status).Dur("duration", ans.Duration)
	}
	switch v.act {
	case ack:
		if err := msg.Ack(); err != nil {
			r.log.Warn().Err(err).Str("event", id).Msg("webhook delivered, ack failed: it will be delivered again")
			return
		}
		ev(r.log.Debug()).Msg("webhook delivered")
	case retry:
		if err := msg.NakWithDelay(v.delay); err != nil {
			r.log.Warn().Err(err).Str("event", id).Msg("webhook: nak failed: redelivered after the ack wait")
		}
		ev(r.log.Warn()).Err(err).Dur("retryIn", v.delay).Msg("webhook attempt failed")
	case dead:
		r.giveUp(msg, md, id, ans, err)
	}
}

// eventID is the event's id: its Nats-Msg-Id, which the events store sets
// to the id, or else the id in the body.
func eventID(msg jetstream.Msg) string {
	if id := msg.Headers().Get(nats.MsgIdHdr); id != "" {
		return id
	}
	var e struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(msg.Data(), &e)
	return e.ID
}
