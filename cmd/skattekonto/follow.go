package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

// cloudEvent is the part of an event the CLI shows.
type cloudEvent struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	Subject       string          `json:"subject"`
	Time          string          `json:"time"`
	RequestID     string          `json:"requestid"`
	CorrelationID string          `json:"correlationid"`
	Data          json.RawMessage `json:"data"`
}

func decodeEvent(b []byte) (*cloudEvent, error) {
	var e cloudEvent
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

func (e *cloudEvent) requestIDs() []string {
	var d struct {
		RequestIDs []string `json:"requestIds"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.RequestIDs
}

// line renders an event on one line: time, type, account, then the data's
// fields as key=value in the order the event has them, payout account
// numbers masked.
func (e *cloudEvent) line() string {
	data, _ := objectFields(e.Data)
	data = slices.DeleteFunc(data, func(f field) bool {
		return f.key == "omfragad" || f.key == "request" || f.key == "baseline" && string(f.val) == "false"
	})
	if e.Type == contract.EventType(string(events.TypePayoutAccountChanged)) {
		// A bank account number is not for terminals and screen shares.
		for i, f := range data {
			var v string
			if (f.key == "previous" || f.key == "current") && bytes.HasPrefix(f.val, []byte(`"`)) && json.Unmarshal(f.val, &v) == nil {
				data[i].val, _ = json.Marshal(maskAccount(v))
			}
		}
	}
	var b strings.Builder
	t := text(e.Time)
	if ts, err := time.Parse(time.RFC3339Nano, e.Time); err == nil {
		t = ts.Local().Format("15:04:05")
	}
	acct := text(e.Subject)
	if n, err := idnr.Parse(e.Subject); err == nil {
		acct = n.Masked()
	}
	fmt.Fprintf(&b, "%s %-26s %s", t, text(strings.TrimPrefix(e.Type, contract.TypePrefix)), acct)
	b.WriteString(lineFields(data))
	return b.String()
}

func followCmd(ctx context.Context, args []string, out, status io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("follow", flag.ContinueOnError)
	fs.SetOutput(out)
	all := fs.Bool("all", false, "start from the first stored event instead of new ones")
	raw := fs.Bool("json", false, "print each event's JSON as stored")
	if err := fs.Parse(args); err != nil {
		return err
	}
	filter := contract.AllEvents
	if fs.NArg() == 1 {
		acct, err := parseAccount(fs.Arg(0))
		if err != nil {
			return err
		}
		filter = contract.AccountEvents(acct.String())
	} else if fs.NArg() > 1 {
		return fmt.Errorf("follow takes at most one identity number\n%s", usage)
	}
	nc, js, err := connect(getenv)
	if err != nil {
		return err
	}
	defer nc.Close()
	policy := jetstream.DeliverNewPolicy
	if *all {
		policy = jetstream.DeliverAllPolicy
	}
	cons, err := js.OrderedConsumer(ctx, contract.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  policy,
	})
	if err != nil {
		return fmt.Errorf("follow %s: %w (has the worker created the stream yet?)", contract.EventsStream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if *raw {
			fmt.Fprintln(out, string(m.Data()))
			return
		}
		ev, err := decodeEvent(m.Data())
		if err != nil {
			fmt.Fprintf(out, "undecodable event on %s: %v\n", m.Subject(), err)
			return
		}
		fmt.Fprintln(out, ev.line())
	})
	if err != nil {
		return err
	}
	defer cc.Stop()
	from := "new events"
	if *all {
		from = "every stored event"
	}
	fmt.Fprintf(status, "listening on %s for %s in stream %s, %s (Ctrl-C to stop)\n", redactURL(natsURL(getenv)), filter, contract.EventsStream, from)
	<-ctx.Done()
	return nil
}

// maskAccount shows only the last four characters of an account number.
func maskAccount(s string) string {
	r := []rune(s)
	if len(r) <= 4 {
		return "****"
	}
	return "****" + string(r[len(r)-4:])
}
