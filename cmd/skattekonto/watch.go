package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/watch"
)

// watchCmd registers, removes and lists watched accounts through the
// worker's NATS request API (skattekonto.watch.*), as an ERP would.
func watchCmd(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("watch needs add, remove or list\n%s", usage)
	}
	fs := flag.NewFlagSet("watch "+args[0], flag.ContinueOnError)
	fs.SetOutput(out)
	cadence := fs.String("cadence", "default", `"default", an interval ("6h"), or 6-field cron expressions in Stockholm time separated by ";"`)
	ops := fs.String("ops", "", "comma-separated operations for the scheduled fetches (default: all four)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var req watch.Request
	switch args[0] {
	case "add", "remove":
		if fs.NArg() != 1 {
			return fmt.Errorf("watch %s takes one identity number\n%s", args[0], usage)
		}
		acct, err := parseAccount(fs.Arg(0))
		if err != nil {
			return err
		}
		req = watch.Request{Omfragad: acct.String(), Cadence: *cadence}
		if *ops != "" {
			req.Operations = strings.Split(*ops, ",")
		}
	case "list":
	default:
		return fmt.Errorf("unknown watch command %q\n%s", args[0], usage)
	}
	verb := map[string]string{"add": "register", "remove": "unregister", "list": "list"}[args[0]]
	nc, _, err := connect(getenv)
	if err != nil {
		return err
	}
	defer nc.Close()
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, contract.WatchPrefix+verb, body)
	if errors.Is(err, nats.ErrNoResponders) {
		return errors.New("no worker answers " + contract.WatchPrefix + "* requests: is the worker running?")
	}
	if err != nil {
		return err
	}
	var reply watch.Reply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return fmt.Errorf("unreadable reply: %w", err)
	}
	if reply.Error != "" {
		return errors.New(reply.Error)
	}
	switch {
	case reply.Registration != nil:
		printRegistration(out, *reply.Registration)
	case reply.Removed != nil:
		if *reply.Removed {
			fmt.Fprintf(out, "%s is no longer watched\n", fs.Arg(0))
		} else {
			fmt.Fprintf(out, "%s was not watched\n", fs.Arg(0))
		}
	default:
		if len(reply.Registrations) == 0 {
			fmt.Fprintln(out, "no accounts are watched")
		}
		for _, r := range reply.Registrations {
			printRegistration(out, r)
		}
	}
	return nil
}

func printRegistration(out io.Writer, r watch.Registration) {
	acct := r.Omfragad
	if n, err := idnr.Parse(acct); err == nil {
		acct = n.Masked()
	}
	ops := "all operations"
	if len(r.Operations) > 0 {
		ops = strings.Join(r.Operations, ",")
	}
	for _, s := range r.Schedules {
		fmt.Fprintf(out, "%s  %-8s %-28s %s\n", acct, s.Name, s.Spec, ops)
	}
}
