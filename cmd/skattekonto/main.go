// Command skattekonto lets a person try the system without writing code:
// publish a fetch request for an account, and follow the events as they
// come, in readable form.
//
//	skattekonto fetch [-wait] [-ops saldo,transaktioner] [-datum-from 2025-01-01] [-request-id ID] [-force] <omfragad>
//	skattekonto follow [-all] [-json] [<omfragad>]
//	skattekonto watch add [-cadence default|6h|"0 0 7 * * 1-5"] [-ops saldo,...] <omfragad>
//	skattekonto watch remove <omfragad>
//	skattekonto watch list
//
// NATS_URL (default nats://127.0.0.1:4222, the worker's embedded server)
// and NATS_CREDS say where to connect.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "skattekonto:", err)
		os.Exit(2)
	}
}

const usage = `usage:
  skattekonto fetch [-wait] [-timeout 60s] [-ops saldo,transaktioner,utbetalningskonto,utbetalningssparrar] [-datum-from YYYY-MM-DD] [-request-id ID] [-force] <omfragad>
  skattekonto follow [-all] [-json] [<omfragad>]
  skattekonto watch add [-cadence default|6h|"0 0 7 * * 1-5"] [-ops saldo,transaktioner] <omfragad>
  skattekonto watch remove <omfragad>
  skattekonto watch list
environment: NATS_URL (default nats://127.0.0.1:4222), NATS_CREDS`

var errUsage = errors.New(usage)

func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "fetch":
		return fetchCmd(ctx, args[1:], out, getenv)
	case "follow":
		return followCmd(ctx, args[1:], out, getenv)
	case "watch":
		return watchCmd(ctx, args[1:], out, getenv)
	case "help", "-h", "--help":
		_, err := fmt.Fprintln(out, usage)
		return err
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
