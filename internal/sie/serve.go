package sie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Bounds of the exports a replica serves over NATS.
const (
	// ServeTimeout bounds one export; a requester waits at least this.
	ServeTimeout = 60 * time.Second
	// serveParallel is the most exports one replica runs at once: it
	// joins the queue group that many times, each member answering one
	// request at a time.
	serveParallel = 4
)

// ErrTooLarge is answered when the reply would exceed the NATS server's
// largest message: the period should be narrowed.
var ErrTooLarge = errors.New("the export is larger than the NATS server's max payload")

// Serve answers export requests on contract.SIEExport in the queue group
// contract.SIEQueueGroup, so one replica answers each. The reply is a
// Reply: the file and the transactions it left out, or {"error": "…"}.
// Serve returns a function that stops serving; requests already received
// are still answered (the subscriptions drain).
func (x *Exporter) Serve(nc *nats.Conn) (stop func() error, err error) {
	var subs []*nats.Subscription
	stop = func() error {
		var errs []error
		for _, s := range subs {
			errs = append(errs, s.Drain())
		}
		return errors.Join(errs...)
	}
	for range serveParallel {
		sub, err := nc.QueueSubscribe(contract.SIEExport, contract.SIEQueueGroup, func(msg *nats.Msg) {
			ctx, cancel := context.WithTimeout(context.Background(), ServeTimeout)
			defer cancel()
			_ = msg.Respond(x.answer(ctx, msg.Data, nc.MaxPayload()))
		})
		if err != nil {
			_ = stop()
			return nil, fmt.Errorf("sie: subscribe %s: %w", contract.SIEExport, err)
		}
		subs = append(subs, sub)
	}
	return stop, nil
}

// answer runs the export a request body asks for and returns the reply's
// JSON, at most maxPayload bytes.
func (x *Exporter) answer(ctx context.Context, body []byte, maxPayload int64) []byte {
	q, err := ParseRequest(body)
	if err != nil {
		return errorReply(err)
	}
	res, err := x.Export(ctx, q)
	if err != nil {
		return errorReply(err)
	}
	b, err := json.Marshal(Reply{File: res.File, Vouchers: res.Vouchers, Replaced: res.Replaced, Unmapped: res.Unmapped})
	if err != nil {
		return errorReply(err)
	}
	if maxPayload > 0 && int64(len(b)) > maxPayload {
		return errorReply(fmt.Errorf("%w (%d of %d bytes): ask for a shorter period", ErrTooLarge, len(b), maxPayload))
	}
	return b
}

func errorReply(err error) []byte {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{err.Error()})
	return b
}
