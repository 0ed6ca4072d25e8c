package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/webhooks"
)

// webhooksCmd sends a signed test event to an endpoint of WEBHOOKS_FILE,
// or delivers stored events to it again, signed as the worker signs them.
func webhooksCmd(ctx context.Context, args []string, out, status io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "test" && args[0] != "replay" {
		return fmt.Errorf("webhooks needs test or replay\n%s", usage)
	}
	fs := flag.NewFlagSet("webhooks "+args[0], flag.ContinueOnError)
	fs.SetOutput(out)
	file := fs.String("file", getenv("WEBHOOKS_FILE"), "the endpoints' file (default $WEBHOOKS_FILE)")
	var since *string
	if args[0] == "replay" {
		since = fs.String("since", "", "first event to deliver: an RFC 3339 time, or a duration before now (24h)")
	}
	name, err := parseNamed(fs, args[1:])
	if err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("webhooks %s takes one endpoint name\n%s", args[0], usage)
	}
	ep, err := findEndpoint(*file, name, getenv)
	if err != nil {
		return err
	}
	client := webhooks.NewClient()
	if args[0] == "test" {
		return webhookTest(ctx, client, ep, out)
	}
	from, err := parseSince(*since, time.Now())
	if err != nil {
		return err
	}
	return webhookReplay(ctx, client, ep, from, out, status, getenv)
}

// parseNamed parses flags before and after one positional argument (the
// endpoint's name), so that both "replay erp -since 24h" and "replay
// -since 24h erp" work.
func parseNamed(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	name := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("one endpoint name, not also %q\n%s", fs.Arg(0), usage)
	}
	return name, nil
}

// findEndpoint reads the endpoints' file as the worker does.
func findEndpoint(file, name string, getenv func(string) string) (*webhooks.Endpoint, error) {
	if file == "" {
		return nil, errors.New("no endpoints' file: set WEBHOOKS_FILE or give -file")
	}
	var d webhooks.Defaults
	for _, v := range []struct {
		name string
		to   *time.Duration
	}{{"WEBHOOKS_TIMEOUT", &d.Timeout}, {"WEBHOOKS_MAX_AGE", &d.MaxAge}} {
		if s := getenv(v.name); s != "" {
			t, err := time.ParseDuration(s)
			if err != nil || t <= 0 {
				return nil, fmt.Errorf("%s: %q is not a positive duration", v.name, s)
			}
			*v.to = t
		}
	}
	eps, err := webhooks.LoadFile(file, d)
	if err != nil {
		return nil, err
	}
	ep := webhooks.Find(eps, name)
	if ep == nil {
		names := make([]string, len(eps))
		for i := range eps {
			names[i] = eps[i].Name
		}
		return nil, fmt.Errorf("no endpoint %q in %s (it has: %s)", name, file, strings.Join(names, ", "))
	}
	return ep, nil
}

// parseSince reads -since: an RFC 3339 time, or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("replay needs -since (an RFC 3339 time or a duration such as 24h)\n%s", usage)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("-since %q is neither an RFC 3339 time (2026-12-01T08:00:00+01:00) nor a duration (24h)", s)
	}
	return now.Add(-d), nil
}

func webhookTest(ctx context.Context, client *http.Client, ep *webhooks.Endpoint, out io.Writer) error {
	now := time.Now()
	id, body := webhooks.NewTestEvent(ep.Name, now)
	fmt.Fprintf(out, "POST %s  event %s (%s)\n", ep.Target(), id, webhooks.TestEventType)
	ans, err := webhooks.Send(ctx, client, ep, id, body, now)
	if ans.Status != 0 {
		fmt.Fprintf(out, "answered %d %s in %s\n", ans.Status, http.StatusText(ans.Status), ans.Duration.Round(time.Millisecond))
		if len(ans.Body) > 0 {
			fmt.Fprintln(out, strings.TrimRight(string(ans.Body), "\n"))
		}
	}
	return err
}

func webhookReplay(ctx context.Context, client *http.Client, ep *webhooks.Endpoint, since time.Time, out, status io.Writer, getenv func(string) string) error {
	nc, js, err := connect(getenv)
	if err != nil {
		return err
	}
	defer nc.Close()
	fmt.Fprintf(status, "replaying to %s the events of %s stored since %s\n", ep, strings.Join(ep.Subjects, ", "), since.Format(time.RFC3339))
	n, err := webhooks.Replay(ctx, js, client, ep, since, func(d webhooks.Delivery) {
		fmt.Fprintf(out, "%s %s %s  %d in %s\n", d.ID, eventName(d.Subject), d.Stored.Local().Format(time.DateTime),
			d.Answer.Status, d.Answer.Duration.Round(time.Millisecond))
	})
	if re, ok := errors.AsType[*webhooks.ReplayError](err); ok {
		return fmt.Errorf("%d delivered, then %w\nresume with -since %s", n, re, re.Stored.UTC().Format(time.RFC3339Nano))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d events delivered to %s\n", n, ep.Name)
	return nil
}

// eventName shows an event's subject as type and masked account.
func eventName(subject string) string {
	rest := strings.TrimPrefix(subject, contract.EventsPrefix)
	acct, typ, ok := strings.Cut(rest, ".")
	if !ok {
		return subject
	}
	if n, err := idnr.Parse(acct); err == nil {
		acct = n.Masked()
	}
	return typ + " " + acct
}
