package main

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unicode"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

func noEnv(string) string { return "" }

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

// TestEventLine renders the schema examples; the time of day (local
// time) is left out of the comparison.
func TestEventLine(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"lists and calls", "FetchCompleted",
			"FetchCompleted             165566778899 operations=saldo,transaktioner,utbetalningskonto,utbetalningssparrar apiCalls=5" +
				" calls=[saldo 200 412ms, transaktioner 503 felkod 5 3.001s, transaktioner 200 876ms, utbetalningskonto 200 233ms, utbetalningssparrar no answer 1m0s]" +
				` changes=3 senastUppdaterad=2026-11-25T03:04:05 informationstext=["Utbetalningskontot kan inte visas för tillfället."] requestIds=erp-7f3a,erp-7f3b`},
		{"empty lists left out", "FetchFailed",
			`FetchFailed                invalid reason=invalid-request error="omfragad \"55667788\": must be 10 or 12 digits, optionally with - or + before the last four" attempts=0`},
		{"objects", "BalanceChanged",
			"BalanceChanged             165566778899 previous={saldoSkatteverket=-13195 saldoKronofogden=-145409}" +
				" current={saldoSkatteverket=-14487 saldoKronofogden=-145409} delta={saldoSkatteverket=-1292 saldoKronofogden=0}" +
				" ocrNummer=1655667788996 senastUppdaterad=2026-11-25T03:04:05"},
		{"null and masked account", "PayoutAccountChanged",
			"PayoutAccountChanged       165566778899 previous=none current=****7466"},
		{"list of objects", "ShortfallForecast",
			"ShortfallForecast          165566778899 level=betalningskrav previousLevel=betalningsuppmaning projectedBalance=-65587" +
				" reconciliationDate=2026-12-05 amountToPay=55588 ocrNummer=1655667788996" +
				" basedOn=[{transaktionId=k-5d41402abc4b2a76 forfallodatum=2026-12-12 transaktionsdatum=2026-12-12 belopp=-51100}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := os.ReadFile("../../schemas/testdata/valid/" + tc.file + ".json")
			if err != nil {
				t.Fatal(err)
			}
			ev, err := decodeEvent(b)
			if err != nil {
				t.Fatal(err)
			}
			_, got, _ := strings.Cut(ev.line(), " ")
			if got != tc.want {
				t.Errorf("line:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestValue(t *testing.T) {
	for _, tc := range []struct {
		name, key, json, want string
	}{
		{"duration carries a unit", "durationMs", `1500`, "duration=1.5s"},
		{"duration of a nested call", "waitMs", `20`, "wait=20ms"},
		{"plain string bare", "level", `"betalningskrav"`, "level=betalningskrav"},
		{"string with space quoted", "text", `"Moms oktober"`, `text="Moms oktober"`},
		{"empty string quoted", "omfragad", `""`, `omfragad=""`},
		{"list of plain strings", "requestIds", `["a","b"]`, "requestIds=a,b"},
		{"list with a comma in an item", "informationstext", `["a, b","c"]`, `informationstext=["a, b", "c"]`},
		{"null", "current", `null`, "current=none"},
		{"bool", "totalsparr", `false`, "totalsparr=false"},
		{"voucher", "voucher", `{"rules":"bas@1","lines":[{"account":"2518","debit":1},{"account":"1630","credit":1}]}`,
			"voucher={rules=bas@1 lines=[{account=2518 debit=1}, {account=1630 credit=1}]}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := pair(tc.key, []byte(tc.json))
			if !ok || got != tc.want {
				t.Errorf("pair(%s, %s) = %q, %v; want %q", tc.key, tc.json, got, ok, tc.want)
			}
		})
	}
	if got, ok := pair("skipped", []byte(`[]`)); ok {
		t.Errorf("empty list shown: %q", got)
	}
}

// TestInvalidIdentityNumberShownAsTyped: the person typed the number, so
// the error shows it whole; it says why, and callers can still branch on
// the parse error.
func TestInvalidIdentityNumberShownAsTyped(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		rule string
	}{
		{"fetch, check digit", []string{"fetch", "19811218-9875"}, idnr.RuleLuhn},
		{"follow, date", []string{"follow", "198113189876"}, idnr.RuleDate},
		{"watch add, length", []string{"watch", "add", "19811218987"}, idnr.RuleLength},
		{"watch remove, characters", []string{"watch", "remove", "19811218x9876"}, idnr.RuleCharacters},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			err := run(t.Context(), tc.args, &out, &errOut, noEnv)
			var pe *idnr.ParseError
			if !errors.As(err, &pe) || pe.Rule != tc.rule {
				t.Fatalf("error %v; want a parse error for rule %q", err, tc.rule)
			}
			input := tc.args[len(tc.args)-1]
			if !strings.Contains(err.Error(), `"`+input+`"`) || !strings.Contains(err.Error(), tc.rule) {
				t.Errorf("error %q does not show %q as typed and the rule %q", err, input, tc.rule)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var b, e strings.Builder
	if err := run(t.Context(), []string{"help"}, &b, &e, noEnv); err != nil || !strings.Contains(b.String(), "watch add") {
		t.Fatalf("help: %v %q", err, b.String())
	}
	if err := run(t.Context(), []string{"fetch", "165566778898"}, &b, &e, noEnv); err == nil || !strings.Contains(err.Error(), "luhn") {
		t.Fatalf("bad identity number: %v", err)
	}
	if err := run(t.Context(), []string{"nope"}, &b, &e, noEnv); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// FuzzEventLine: whatever arrives on the stream, an event is one line
// with no control characters (a terminal escape cannot ride along).
func FuzzEventLine(f *testing.F) {
	for _, name := range []string{"FetchCompleted", "NewTransaction", "PayoutAccountChanged"} {
		b, err := os.ReadFile("../../schemas/testdata/valid/" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"x\n\u001b[2J","subject":"a b","time":"\r","data":{"k\n":"v\u001b","calls":[{"durationMs":1}],"lMs":"x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeEvent(b)
		if err != nil {
			return
		}
		line := ev.line()
		if i := strings.IndexFunc(line, unicode.IsControl); i >= 0 {
			t.Errorf("control character at %d in %q", i, line)
		}
	})
}
