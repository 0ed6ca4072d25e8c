package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/skattekonto-events/skattekonto-events/internal/booking"
	"github.com/skattekonto-events/skattekonto-events/internal/sie"
)

// sieCmd writes an account's booking proposals of a period as a SIE 4
// import file, read from the events stream. The unmapped transactions go
// to status, to be booked by hand.
func sieCmd(ctx context.Context, args []string, out, status io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("sie", flag.ContinueOnError)
	fs.SetOutput(out)
	omfragad := fs.String("omfragad", "", "the account's identity number (or give it last)")
	from := fs.String("from", "", "first transaktionsdatum, YYYY-MM-DD (required)")
	to := fs.String("to", "", "last transaktionsdatum, YYYY-MM-DD (required)")
	series := fs.String("series", getenv("SIE_SERIES"), `verification series (default SIE_SERIES, else "A")`)
	company := fs.String("company", getenv("SIE_COMPANY_NAME"), "company name, #FNAMN (default SIE_COMPANY_NAME)")
	output := fs.String("o", "", `file to write, e.g. skattekonto.si; "-" for stdout (required)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() == 1 && (*omfragad == "" || *omfragad == fs.Arg(0)):
		*omfragad = fs.Arg(0)
	case fs.NArg() > 0:
		return fmt.Errorf("sie takes one identity number\n%s", usage)
	}
	if *omfragad == "" || *from == "" || *to == "" || *output == "" {
		return fmt.Errorf("sie needs -omfragad, -from, -to and -o\n%s", usage)
	}
	acct, err := parseAccount(*omfragad)
	if err != nil {
		return err
	}
	rules := booking.Default()
	if f := getenv("BOOKING_RULES_FILE"); f != "" {
		if rules, err = booking.LoadFile(f); err != nil {
			return fmt.Errorf("BOOKING_RULES_FILE: %w", err)
		}
	}
	nc, js, err := connect(getenv)
	if err != nil {
		return err
	}
	defer nc.Close()
	x, err := sie.New(js, sie.Config{Rules: rules})
	if err != nil {
		return err
	}
	res, err := x.Export(ctx, sie.Query{Account: acct, From: *from, To: *to, Series: *series, Company: *company})
	if errors.Is(err, sie.ErrNoCompany) {
		return fmt.Errorf("%w: give -company or set SIE_COMPANY_NAME", err)
	}
	if err != nil {
		return err
	}
	if err := writeFile(*output, res.File, out); err != nil {
		return err
	}
	where := *output
	if where == "-" {
		where = "stdout"
	}
	fmt.Fprintf(status, "%s: %d vouchers of %s from %s to %s\n", where, res.Vouchers, acct.Masked(), *from, *to)
	if res.Replaced > 0 {
		fmt.Fprintf(status, "note: %d characters not in code page 437 were spelt with the nearest ones or ?\n", res.Replaced)
	}
	if len(res.Unmapped) > 0 {
		fmt.Fprintf(status, "%d transactions are not in the file (no booking proposal); book them by hand:\n", len(res.Unmapped))
	}
	for _, u := range res.Unmapped {
		fmt.Fprintf(status, "  %s  %-10s %s %s  %s (event %s)\n", text(u.TransaktionID), text(u.Transaktionsdatum),
			amounts(u), text(u.Transaktionstext), u.Reason, text(u.EventID))
	}
	return nil
}

// amounts shows an unmapped row's amounts.
func amounts(u sie.Unmapped) string {
	var parts []string
	if u.BeloppSkatteverket != nil {
		parts = append(parts, fmt.Sprintf("%d kr", *u.BeloppSkatteverket))
	}
	if u.BeloppKronofogden != nil {
		parts = append(parts, fmt.Sprintf("%d kr at Kronofogden", *u.BeloppKronofogden))
	}
	if len(parts) == 0 {
		return "no amount"
	}
	return strings.Join(parts, ", ")
}

// writeFile writes b to path through a temporary file renamed into
// place, so that a failed export leaves no half file; "-" writes to out.
func writeFile(path string, b []byte, out io.Writer) error {
	if path == "-" {
		_, err := out.Write(b)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sie-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a rename there is nothing to remove
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
