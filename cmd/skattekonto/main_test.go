package main

import (
	"strings"
	"testing"
)

func TestEventLineMasksPayoutAccounts(t *testing.T) {
	ev, err := decodeEvent([]byte(`{"id":"x","type":"skattekonto.PayoutAccountChanged","subject":"198112189876","time":"2026-11-25T08:00:00Z",
		"data":{"omfragad":"198112189876","baseline":false,"previous":"SE45 5000 0000 0583 9825 7466","current":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	line := ev.line()
	for _, secret := range []string{"5000 0000 0583", "198112189876"} {
		if strings.Contains(line, secret) {
			t.Errorf("line shows %q: %s", secret, line)
		}
	}
	if !strings.Contains(line, "****7466") || !strings.Contains(line, "19811218****") {
		t.Errorf("line: %s", line)
	}
}

func TestUsage(t *testing.T) {
	var b strings.Builder
	if err := run(t.Context(), []string{"help"}, &b, func(string) string { return "" }); err != nil || !strings.Contains(b.String(), "watch add") {
		t.Fatalf("help: %v %q", err, b.String())
	}
	if err := run(t.Context(), []string{"fetch", "165566778898"}, &b, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "luhn") {
		t.Fatalf("bad identity number: %v", err)
	}
	if err := run(t.Context(), []string{"nope"}, &b, func(string) string { return "" }); err == nil {
		t.Fatal("unknown command accepted")
	}
}
