package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/skattekonto-events/skattekonto-events/internal/audit"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
)

// auditCmd runs "audit show EVENT-ID" and "audit verify -omfragad …".
func auditCmd(ctx context.Context, args []string, out, status io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("audit needs show or verify\n%s", usage)
	}
	switch args[0] {
	case "show":
		return auditShow(ctx, args[1:], out, getenv)
	case "verify":
		return auditVerify(ctx, args[1:], out, status, getenv)
	}
	return fmt.Errorf("unknown audit command %q\n%s", args[0], usage)
}

func auditShow(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("audit show", flag.ContinueOnError)
	fs.SetOutput(out)
	omfragad := fs.String("omfragad", "", "the account's identity number: search its events only (faster)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("audit show takes one event id\n%s", usage)
	}
	acct := ""
	if *omfragad != "" {
		n, err := parseAccount(*omfragad)
		if err != nil {
			return err
		}
		acct = n.String()
	}
	nc, js, err := connect(getenv)
	if err != nil {
		return err
	}
	defer nc.Close()
	st, err := audit.Open(ctx, js, audit.Config{NoCreate: true})
	if err != nil {
		return fmt.Errorf("%w (is AUDIT_ENABLED on, and may these credentials read the bucket?)", err)
	}
	sh, err := st.Show(ctx, js, "", fs.Arg(0), acct)
	if err != nil && len(sh.Proofs) == 0 {
		return err
	}
	fmt.Fprintf(out, "event %s %s of fetch %s at %s\n", sh.Event.ID, sh.Event.Type, sh.Event.FetchID, sh.Event.Time.Format("2006-01-02T15:04:05Z07:00"))
	bad := 0
	for _, p := range sh.Proofs {
		c := p.Call
		fmt.Fprintf(out, "\ncall %s: %s, HTTP %d at %s\n", c.CorrelationID, c.Operation, c.HTTPStatus, c.At)
		if p.Err != nil {
			bad++
			fmt.Fprintf(out, "answer %s: %v\n", c.Sha256, p.Err)
			continue
		}
		fmt.Fprintf(out, "answer sha256 %s: hash checked, %d bytes as received:\n%s\n", c.Sha256, len(p.Body), p.Body)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d answers behind event %s cannot be shown", bad, len(sh.Proofs), sh.Event.ID)
	}
	return nil
}

func auditVerify(ctx context.Context, args []string, out, status io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(out)
	omfragad := fs.String("omfragad", "", "the account's identity number (or give it last)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() == 1 && (*omfragad == "" || *omfragad == fs.Arg(0)):
		*omfragad = fs.Arg(0)
	case fs.NArg() > 0 || *omfragad == "":
		return fmt.Errorf("audit verify needs one identity number\n%s", usage)
	}
	acct, err := parseAccount(*omfragad)
	if err != nil {
		return err
	}
	opt, err := diffOptions(getenv)
	if err != nil {
		return err
	}
	nc, js, err := connect(getenv)
	if err != nil {
		return err
	}
	defer nc.Close()
	st, err := audit.Open(ctx, js, audit.Config{NoCreate: true})
	if err != nil {
		return fmt.Errorf("%w (is AUDIT_ENABLED on, and may these credentials read the bucket?)", err)
	}
	rep, err := st.Verify(ctx, js, "", acct.String(), jobs.Snapshot, opt)
	if err != nil {
		return err
	}
	for _, f := range rep.Findings {
		id := f.EventID
		if id == "" {
			id = "(not stored)"
		}
		fmt.Fprintf(out, "%s %s of fetch %s: %s\n", id, f.Type, f.FetchID, f.Problem)
	}
	fmt.Fprintf(status, "%s: %d fetches replayed, %d events checked, %d findings\n", acct.Masked(), rep.Fetches, rep.Checked, len(rep.Findings))
	if len(rep.Findings) > 0 {
		return errFindings
	}
	return nil
}

// errFindings makes verify exit non-zero when it found something.
var errFindings = errors.New("audit verify: some events do not follow from the kept answers")

// diffOptions are the diff's settings the worker reads (REMINDER_DAYS,
// SHORTFALL_UPPMANING, SHORTFALL_KRAV): the replay must use the same.
func diffOptions(getenv func(string) string) (events.Options, error) {
	var opt events.Options
	if v, ok := lookup(getenv, "REMINDER_DAYS"); ok {
		opt.ReminderDays = []int{}
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n > 365 {
				return opt, fmt.Errorf("REMINDER_DAYS: %q is not a number of days from 0 to 365", f)
			}
			opt.ReminderDays = append(opt.ReminderDays, n)
		}
	}
	for _, s := range []struct {
		name string
		to   *int64
	}{{"SHORTFALL_UPPMANING", &opt.Uppmaning}, {"SHORTFALL_KRAV", &opt.Krav}} {
		if v, ok := lookup(getenv, s.name); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return opt, fmt.Errorf("%s: %q is not a positive number of kronor", s.name, v)
			}
			*s.to = n
		}
	}
	return opt, nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}
