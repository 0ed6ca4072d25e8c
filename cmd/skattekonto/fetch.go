package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// natsURL is where the commands connect: NATS_URL or the worker's
// embedded server.
func natsURL(getenv func(string) string) string {
	if url := getenv("NATS_URL"); url != "" {
		return url
	}
	return "nats://127.0.0.1:4222"
}

// redactURL hides the password or token in each of a comma-separated
// list of NATS URLs, so that the list can be shown.
func redactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// localInboxPrefix is the inbox prefix the worker's embedded server
// lets clients without credentials subscribe below
// (natsserver.LocalInboxPrefix).
const localInboxPrefix = "_INBOX_local"

// connect connects to natsURL with NATS_CREDS or NATS_NKEY (a seed
// file), receiving replies below NATS_INBOX_PREFIX: each role of
// docs/roles.md may subscribe only below its own prefix
// (_INBOX_requester, _INBOX_reader; the embedded server's anonymous
// clients _INBOX_local, the default).
func connect(getenv func(string) string) (*nats.Conn, jetstream.JetStream, error) {
	url := natsURL(getenv)
	prefix := getenv("NATS_INBOX_PREFIX")
	if prefix == "" {
		prefix = localInboxPrefix
	}
	opts := []nats.Option{nats.CustomInboxPrefix(prefix)}
	if c := getenv("NATS_CREDS"); c != "" {
		opts = append(opts, nats.UserCredentials(c))
	}
	if k := getenv("NATS_NKEY"); k != "" {
		o, err := nats.NkeyOptionFromSeed(k)
		if err != nil {
			return nil, nil, fmt.Errorf("NATS_NKEY: %w", err)
		}
		opts = append(opts, o)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS at %s: %w (is the worker running?)", redactURL(url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func fetchCmd(ctx context.Context, args []string, out, status io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(out)
	ops := fs.String("ops", "", "comma-separated operations (default: all four)")
	datumFrom := fs.String("datum-from", "", "first date of transactions, YYYY-MM-DD")
	requestID := fs.String("request-id", "", "request id echoed in the answer (default: generated)")
	force := fs.Bool("force", false, "turn off call-saving shortcuts")
	wait := fs.Bool("wait", false, "wait for the answer and print the events of this fetch")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long -wait waits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("fetch takes one identity number\n%s", usage)
	}
	acct, err := parseAccount(fs.Arg(0))
	if err != nil {
		return err
	}
	if *requestID == "" {
		*requestID = "cli-" + time.Now().UTC().Format("20060102T150405.000000")
	}
	req := contract.FetchRequest{Omfragad: new(acct.String()), RequestID: requestID}
	if *datumFrom != "" {
		req.DatumFrom = datumFrom
	}
	if *force {
		req.Force = force
	}
	if *ops != "" {
		req.Operations = new(strings.Split(*ops, ","))
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	nc, js, err := connect(getenv)
	if err != nil {
		return err
	}
	defer nc.Close()

	var sub *nats.Subscription
	answers := make(chan *nats.Msg, 256)
	if *wait {
		// Subscribe before publishing so the answer cannot be missed.
		sub, err = nc.ChanSubscribe(contract.AccountEvents(acct.String()), answers)
		if err != nil {
			return err
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	ack, err := js.Publish(ctx, contract.FetchSubject(acct.String()), body)
	if err != nil {
		return fmt.Errorf("publish fetch request: %w", err)
	}
	fmt.Fprintf(out, "fetch request %s for %s queued (stream %s, seq %d)\n", *requestID, acct.Masked(), ack.Stream, ack.Sequence)
	if !*wait {
		return nil
	}
	fmt.Fprintf(status, "waiting up to %s for the answer to %s\n", *timeout, *requestID)
	return awaitAnswer(ctx, answers, *requestID, *timeout, out)
}

// awaitAnswer prints the events of request id until its fetch ends.
func awaitAnswer(ctx context.Context, answers <-chan *nats.Msg, id string, timeout time.Duration, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer to %s within %s", id, timeout)
		case m := <-answers:
			ev, err := decodeEvent(m.Data)
			if err != nil {
				continue
			}
			if ev.RequestID != id && !slices.Contains(ev.requestIDs(), id) {
				continue
			}
			fmt.Fprintln(out, ev.line())
			switch ev.Type {
			case contract.EventType(string(events.TypeFetchCompleted)):
				return nil
			case contract.EventType(string(events.TypeFetchFailed)):
				return fmt.Errorf("fetch failed")
			}
		}
	}
}
