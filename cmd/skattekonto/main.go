// Command skattekonto lets a person try the system without writing code:
// publish a fetch request for an account, follow the events as they come,
// in readable form, and export the booking proposals as a SIE file.
//
//	skattekonto fetch [-wait] [-ops saldo,transaktioner] [-datum-from 2025-01-01] [-request-id ID] [-force] <omfragad>
//	skattekonto follow [-all] [-json] [<omfragad>]
//	skattekonto watch add [-cadence default|6h|"0 0 7 * * 1-5"] [-ops saldo,...] <omfragad>
//	skattekonto watch remove <omfragad>
//	skattekonto watch list
//	skattekonto sie -omfragad <omfragad> -from YYYY-MM-DD -to YYYY-MM-DD [-series A] [-company NAME] -o file.si
//	skattekonto audit show [-omfragad <omfragad>] <event id>
//	skattekonto audit verify -omfragad <omfragad>
//	skattekonto webhooks test NAME
//	skattekonto webhooks replay NAME -since 2026-12-01T08:00:00+01:00|24h
//
// NATS_URL (default nats://127.0.0.1:4222, the worker's embedded server)
// says where to connect, NATS_CREDS or NATS_NKEY (a seed file) as whom,
// and NATS_INBOX_PREFIX (default _INBOX_local) where replies come: a
// role of docs/roles.md may only receive below its own prefix.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
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
  skattekonto sie -omfragad <omfragad> -from YYYY-MM-DD -to YYYY-MM-DD [-series A] [-company NAME] -o file.si
  skattekonto audit show [-omfragad <omfragad>] <event id>
  skattekonto audit verify -omfragad <omfragad>
  skattekonto webhooks test [-file F] NAME
  skattekonto webhooks replay [-file F] NAME -since <RFC 3339 time>|<duration, e.g. 24h>
environment: NATS_URL (default nats://127.0.0.1:4222), NATS_CREDS or NATS_NKEY, NATS_INBOX_PREFIX (default _INBOX_local); for sie SIE_COMPANY_NAME, SIE_SERIES, BOOKING_RULES_FILE;
for audit verify REMINDER_DAYS, SHORTFALL_UPPMANING, SHORTFALL_KRAV as the worker has them; for webhooks WEBHOOKS_FILE, WEBHOOKS_TIMEOUT`

var errUsage = errors.New(usage)

// run runs one command: results go to out, notes about what it is doing
// (where follow listens, what fetch -wait waits for) to status.
func run(ctx context.Context, args []string, out, status io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "fetch":
		return fetchCmd(ctx, args[1:], out, status, getenv)
	case "follow":
		return followCmd(ctx, args[1:], out, status, getenv)
	case "watch":
		return watchCmd(ctx, args[1:], out, getenv)
	case "sie":
		return sieCmd(ctx, args[1:], out, status, getenv)
	case "audit":
		return auditCmd(ctx, args[1:], out, status, getenv)
	case "webhooks":
		return webhooksCmd(ctx, args[1:], out, status, getenv)
	case "help", "-h", "--help":
		_, err := fmt.Fprintln(out, usage)
		return err
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

// inputError is an identity number the person typed that is not valid.
// It shows the input as typed: masking is for logs, and this goes back to
// the person who typed it. It unwraps to the *idnr.ParseError.
type inputError struct {
	input string
	err   *idnr.ParseError
}

func (e *inputError) Error() string {
	why := ruleHelp[e.err.Rule]
	if why == "" {
		why = e.err.Rule
	}
	return fmt.Sprintf("%q is not a valid identity number: %s", e.input, why)
}

func (e *inputError) Unwrap() error { return e.err }

// ruleHelp explains each idnr rule to the person who broke it.
var ruleHelp = map[string]string{
	idnr.RuleLength:       "length: want 10 or 12 digits: YYYYMMDD-NNNN, YYMMDD-NNNN, 16NNNNNNNNNN or NNNNNN-NNNN, the dash optional",
	idnr.RuleCharacters:   "characters: only digits, and one - or + before the last four",
	idnr.RuleSeparator:    "separator: one - or + goes right before the last four digits, and + (100 years or older) only in the 10-digit form",
	idnr.RuleDate:         "invalid date: the birth date digits are not a date (a samordningsnummer adds 60 to the day)",
	idnr.RuleCentury:      "century: a 12-digit number starts with 18, 19 or 20 (a person) or 16 (an organisation)",
	idnr.RuleOrganisation: "organisation number: the third digit after 16 must be 2 or more",
	idnr.RuleLuhn:         "luhn check digit: the last digit does not match the others (a typo?)",
}

// parseAccount parses an identity number from the command line.
func parseAccount(s string) (idnr.Number, error) {
	n, err := idnr.Parse(s)
	if pe, ok := errors.AsType[*idnr.ParseError](err); ok {
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return n, &inputError{input: s, err: pe}
	}
	return n, err
}
