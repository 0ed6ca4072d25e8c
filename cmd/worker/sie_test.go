package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
	"github.com/skattekonto-events/skattekonto-events/internal/sie"
)

// TestServeSIE: the worker answers skattekonto.sie.export with the
// configured company and series and the rule file's account names, and
// refuses a bad SIE_SERIES at start.
func TestServeSIE(t *testing.T) {
	srv := natstest.RunTest(t)
	nc, js := natstest.Connect(t, srv)
	if _, err := js.CreateOrUpdateStream(t.Context(), events.StoreConfig{}.StreamConfig()); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(rules, []byte(`{"id":"own","version":"1","rules":[{"match":"prefix:Moms","account":"2650"}],"accounts":{"1630":"Skattekontot"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := serveSIE(&config.Config{SIESeries: "A-1"}, js, nc); !errors.Is(err, sie.ErrSeries) || !strings.Contains(err.Error(), "SIE_SERIES") {
		t.Errorf("serveSIE with SIE_SERIES=A-1: %v, want an error naming SIE_SERIES", err)
	}
	amount := int64(100)
	ev := events.Event{ID: "e1", Type: events.TypeNewTransaction, Subject: "165566778899", Time: time.Now(), FetchID: "f-1",
		Data: events.NewTransaction{Header: events.Header{Omfragad: "165566778899"}, TransaktionID: "1", Transaktionsdatum: "2026-03-12",
			Transaktionstext: "Moms januari 2026", BeloppSkatteverket: new(-amount), Voucher: &events.Voucher{Rules: "own@1", Status: "mapped",
				Lines: []events.VoucherLine{{Account: "2650", Debit: &amount}, {Account: "1630", Credit: &amount}}}}}
	b, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), ev.NATSSubject(), b); err != nil {
		t.Fatal(err)
	}
	stop, err := serveSIE(&config.Config{SIECompanyName: "Konfig AB", SIESeries: "K", BookingRulesFile: rules}, js, nc)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	msg, err := nc.Request(contract.SIEExport, []byte(`{"omfragad":"165566778899","from":"2026-01-01","to":"2026-12-31"}`), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var r sie.Reply
	if err := json.Unmarshal(msg.Data, &r); err != nil || r.Error != "" {
		t.Fatalf("reply %s: %v", msg.Data, err)
	}
	for _, want := range []string{`#FNAMN "Konfig AB"`, `#KONTO 1630 "Skattekontot"`, `#VER K "" 20260312 "Moms januari 2026 [1]"`} {
		if !strings.Contains(string(r.File), want) {
			t.Errorf("file without %s:\n%s", want, r.File)
		}
	}
}
