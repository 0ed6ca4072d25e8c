package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/sie"
)

// TestSie exports an account's proposals to a file and lists on stderr
// the transactions left out.
func TestSie(t *testing.T) {
	srv := natstest.RunTest(t)
	_, js := natstest.Connect(t, srv)
	if _, err := js.CreateOrUpdateStream(t.Context(), events.StoreConfig{}.StreamConfig()); err != nil {
		t.Fatal(err)
	}
	const acct = "165566778899"
	amount := int64(1292)
	for _, d := range []events.NewTransaction{
		{TransaktionID: "884213307", Transaktionsdatum: "2026-11-12", Transaktionstext: "Debiterad preliminärskatt", BeloppSkatteverket: new(-amount),
			Voucher: &events.Voucher{Rules: "r@1", Status: "mapped", Lines: []events.VoucherLine{{Account: "2518", Debit: &amount}, {Account: "1630", Credit: &amount}}}},
		{TransaktionID: "884213308", Transaktionsdatum: "2026-11-13", Transaktionstext: "Anstånd", BeloppSkatteverket: new(int64(-500)),
			Voucher: &events.Voucher{Rules: "r@1", Status: "unmapped", Lines: []events.VoucherLine{}}},
	} {
		d.Omfragad = acct
		ev := events.Event{ID: events.NewID(acct, events.TypeNewTransaction, d.TransaktionID), Type: events.TypeNewTransaction,
			Subject: acct, Time: time.Now(), FetchID: "f-1", Data: d}
		b, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(t.Context(), ev.NATSSubject(), b); err != nil {
			t.Fatal(err)
		}
	}
	env := func(more map[string]string) func(string) string {
		return func(k string) string {
			if k == "NATS_URL" {
				return srv.ClientURL()
			}
			return more[k]
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "nov.si")
	var out, status bytes.Buffer
	args := []string{"sie", "-omfragad", "556677-8899", "-from", "2026-11-01", "-to", "2026-11-30", "-o", path}
	if err := run(t.Context(), args, &out, &status, env(map[string]string{"SIE_COMPANY_NAME": "Bolaget AB", "SIE_SERIES": "S"})); err != nil {
		t.Fatalf("sie: %v\n%s", err, status.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]byte{[]byte("#FORMAT PC8\r\n"), []byte(`#FNAMN "Bolaget AB"`), []byte(`#VER S "" 20261112 "Debiterad prelimin` + "\x84" + `rskatt [884213307]"`)} {
		if !bytes.Contains(b, want) {
			t.Errorf("file lacks %q:\n%s", want, b)
		}
	}
	for _, want := range []string{"1 vouchers", "1 transactions are not in the file", "884213308", "2026-11-13", "unmapped"} {
		if !strings.Contains(status.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, status.String())
		}
	}
	if out.Len() != 0 {
		t.Errorf("stdout: %q", out.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d files, want the export alone", len(entries))
	}

	t.Run("stdout, positional account", func(t *testing.T) {
		var out, status bytes.Buffer
		args := []string{"sie", "-from", "2026-11-01", "-to", "2026-11-30", "-company", "Flaggan AB", "-o", "-", acct}
		if err := run(t.Context(), args, &out, &status, env(nil)); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(out.Bytes(), []byte("#FLAGGA 0\r\n")) || !bytes.Contains(out.Bytes(), []byte(`#FNAMN "Flaggan AB"`)) {
			t.Errorf("stdout:\n%s", out.String())
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want func(error) bool
	}{
		{"no company", []string{"-omfragad", acct, "-from", "2026-11-01", "-to", "2026-11-30", "-o", filepath.Join(dir, "x.si")}, nil,
			func(err error) bool {
				return errors.Is(err, sie.ErrNoCompany) && strings.Contains(err.Error(), "-company")
			}},
		{"no -o", []string{"-omfragad", acct, "-from", "2026-11-01", "-to", "2026-11-30"}, nil,
			func(err error) bool { return strings.Contains(err.Error(), "-o") }},
		{"bad account", []string{"-omfragad", "556677-8898", "-from", "2026-11-01", "-to", "2026-11-30", "-o", "-"}, nil,
			func(err error) bool { _, ok := errors.AsType[*idnr.ParseError](err); return ok }},
		{"bad series", []string{"-omfragad", acct, "-from", "2026-11-01", "-to", "2026-11-30", "-o", "-", "-series", "Å"}, map[string]string{"SIE_COMPANY_NAME": "x"},
			func(err error) bool { return errors.Is(err, sie.ErrSeries) }},
		{"two accounts", []string{"-omfragad", acct, "-from", "2026-11-01", "-to", "2026-11-30", "-o", "-", "165560000167"}, nil,
			func(err error) bool { return strings.Contains(err.Error(), "one identity number") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, status bytes.Buffer
			err := run(t.Context(), append([]string{"sie"}, tc.args...), &out, &status, env(tc.env))
			if err == nil || !tc.want(err) {
				t.Errorf("sie: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "x.si")); !errors.Is(err, os.ErrNotExist) {
				t.Error("a failed export left a file")
			}
		})
	}
}
