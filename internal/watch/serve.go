package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// Request is the body of a register or unregister request.
type Request struct {
	Omfragad   string   `json:"omfragad"`
	Cadence    string   `json:"cadence,omitempty"`
	Operations []string `json:"operations,omitempty"`
}

// Reply answers a request: the registration(s), or an error.
type Reply struct {
	Registration  *Registration  `json:"registration,omitempty"`
	Registrations []Registration `json:"registrations,omitempty"`
	Removed       *bool          `json:"removed,omitempty"`
	Error         string         `json:"error,omitempty"`
}

// Serve answers watch-list requests on skattekonto.watch.register,
// .unregister and .list in a queue group, so one replica answers each. It
// returns a function that stops serving. Any client may send a request,
// so registrations over NATS are always bounded: by the Manager's
// options, else by DefaultMinInterval and DefaultMaxAccounts. A refusal
// is answered {"error": "…"}.
func (m *Manager) Serve(nc *nats.Conn) (func() error, error) {
	var subs []*nats.Subscription
	stop := func() error {
		for _, s := range subs {
			_ = s.Drain()
		}
		return nil
	}
	for subj, h := range map[string]func(context.Context, []byte) Reply{
		contract.WatchRegister:   m.serveRegister,
		contract.WatchUnregister: m.serveUnregister,
		contract.WatchList:       m.serveList,
	} {
		sub, err := nc.QueueSubscribe(subj, contract.WatchQueueGroup, func(msg *nats.Msg) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, _ := json.Marshal(h(ctx, msg.Data))
			_ = msg.Respond(b)
		})
		if err != nil {
			_ = stop()
			return nil, fmt.Errorf("watch: subscribe %s: %w", subj, err)
		}
		subs = append(subs, sub)
	}
	return stop, nil
}

func decodeRequest(b []byte) (Request, error) {
	var r Request
	if len(b) > contract.MaxWatchRequestSize {
		return r, fmt.Errorf("request of %d bytes is too large", len(b))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("request is not valid JSON: %v", err)
	}
	return r, nil
}

func (m *Manager) serveRegister(ctx context.Context, b []byte) Reply {
	r, err := decodeRequest(b)
	if err != nil {
		return Reply{Error: err.Error()}
	}
	reg, err := m.register(ctx, r.Omfragad, r.Cadence, r.Operations, m.limits.served())
	if err != nil {
		return Reply{Error: err.Error()}
	}
	return Reply{Registration: &reg}
}

func (m *Manager) serveUnregister(ctx context.Context, b []byte) Reply {
	r, err := decodeRequest(b)
	if err != nil {
		return Reply{Error: err.Error()}
	}
	removed, err := m.Unregister(ctx, r.Omfragad)
	if err != nil {
		return Reply{Error: err.Error()}
	}
	return Reply{Removed: &removed}
}

func (m *Manager) serveList(ctx context.Context, _ []byte) Reply {
	regs, err := m.List(ctx)
	if err != nil {
		return Reply{Error: err.Error()}
	}
	if regs == nil {
		regs = []Registration{}
	}
	return Reply{Registrations: regs}
}
