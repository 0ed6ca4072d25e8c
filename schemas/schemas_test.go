package schemas_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/skattekonto-events/skattekonto-events/schemas"
)

// catalogue is CONTRACT.md §4's event catalogue.
var catalogue = []string{
	"NewTransaction", "BalanceChanged", "InterestChanged", "UpcomingDue",
	"UpcomingChanged", "UpcomingWithdrawn", "DueReminder", "PayoutAccountChanged",
	"PayoutBlockAdded", "PayoutBlockChanged", "PayoutBlockRemoved", "OcrNumberChanged",
	"ReconciliationDateChanged", "FetchCompleted", "FetchFailed", "ShortfallForecast",
	"AccessProblem",
}

var (
	validatorOnce sync.Once
	validator     *schemas.Validator
	validatorErr  error
)

func newValidator(t *testing.T) *schemas.Validator {
	t.Helper()
	validatorOnce.Do(func() { validator, validatorErr = schemas.NewValidator() })
	if validatorErr != nil {
		t.Fatalf("NewValidator: %v", validatorErr)
	}
	return validator
}

func readExample(t *testing.T, eventType string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "valid", eventType+".json"))
	if err != nil {
		t.Fatalf("valid example for %s: %v", eventType, err)
	}
	return b
}

func TestSchemasCompile(t *testing.T) {
	newValidator(t)
}

func TestIDsMirrorLayout(t *testing.T) {
	n := 0
	err := fs.WalkDir(schemas.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		n++
		b, err := fs.ReadFile(schemas.FS(), p)
		if err != nil {
			return err
		}
		var doc struct {
			Schema string `json:"$schema"`
			ID     string `json:"$id"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		if want := schemas.BaseURL + p; doc.ID != want {
			t.Errorf("%s: $id = %q, want %q", p, doc.ID, want)
		}
		if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema = %q, want draft 2020-12", p, doc.Schema)
		}
		// The embedded copy is the file on disk.
		disk, err := os.ReadFile(filepath.FromSlash(p))
		if err != nil || !bytes.Equal(disk, b) {
			t.Errorf("%s: embedded copy differs from disk (%v)", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 + len(catalogue); n != want {
		t.Errorf("found %d JSON schemas, want %d", n, want)
	}
}

func TestCatalogueCovered(t *testing.T) {
	if got, want := schemas.EventTypes(), slices.Sorted(slices.Values(catalogue)); !slices.Equal(got, want) {
		t.Errorf("EventTypes() = %v, want the catalogue %v", got, want)
	}
	yaml, err := fs.ReadFile(schemas.FS(), "asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range catalogue {
		if _, err := fs.Stat(schemas.FS(), "events/"+typ+".json"); err != nil {
			t.Errorf("%s: no schema: %v", typ, err)
		}
		readExample(t, typ)
		for _, s := range []string{
			"\n  send" + typ + ":\n",
			"address: skattekonto.events.{omfragad}." + typ + "\n",
			"$ref: './events/" + typ + ".json'",
		} {
			if !bytes.Contains(yaml, []byte(s)) {
				t.Errorf("asyncapi.yaml lacks %q", s)
			}
		}
	}
}

func TestDataSchemaURL(t *testing.T) {
	got := schemas.DataSchemaURL("NewTransaction")
	want := "https://raw.githubusercontent.com/skattekonto-events/skattekonto-events/main/schemas/events/NewTransaction.json"
	if got != want {
		t.Errorf("DataSchemaURL = %q, want %q", got, want)
	}
}

func TestValidExamples(t *testing.T) {
	v := newValidator(t)
	for _, typ := range catalogue {
		t.Run(typ, func(t *testing.T) {
			doc := readExample(t, typ)
			if err := v.ValidateEvent(doc); err != nil {
				t.Fatalf("ValidateEvent: %v", err)
			}
			var ev struct {
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(doc, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Type != "skattekonto."+typ {
				t.Errorf("example for %s has type %q", typ, ev.Type)
			}
			if err := v.ValidateData(typ, ev.Data); err != nil {
				t.Errorf("ValidateData: %v", err)
			}
		})
	}
}

// TestAsyncAPIExamples checks the message examples in asyncapi.yaml (one-line
// JSON payloads) against the schemas: the AsyncAPI parser does not.
func TestAsyncAPIExamples(t *testing.T) {
	v := newValidator(t)
	f, err := schemas.FS().Open("asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		payload, ok := strings.CutPrefix(line, "payload: {")
		if !ok {
			continue
		}
		n++
		if err := v.ValidateEvent([]byte("{" + payload)); err != nil {
			t.Errorf("asyncapi.yaml example %d: %v", n, err)
		}
	}
	if n != len(catalogue) {
		t.Errorf("asyncapi.yaml has %d event examples, want %d", n, len(catalogue))
	}
}

// mutate returns the valid example of eventType changed by f.
func mutate(t *testing.T, eventType string, f func(ev map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(readExample(t, eventType), &ev); err != nil {
		t.Fatal(err)
	}
	f(ev)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func data(ev map[string]any) map[string]any { return ev["data"].(map[string]any) }

func TestInvalidEvents(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		name, eventType string
		f               func(ev map[string]any)
		wantErr         string // substring of the error
	}{
		{"missing omfragad", "NewTransaction", func(ev map[string]any) { delete(data(ev), "omfragad") }, "omfragad"},
		{"missing baseline", "BalanceChanged", func(ev map[string]any) { delete(data(ev), "baseline") }, "baseline"},
		{"omfragad 10 digits", "NewTransaction", func(ev map[string]any) { data(ev)["omfragad"] = "5566778899" }, "omfragad"},
		{"amount as float", "NewTransaction", func(ev map[string]any) { data(ev)["beloppSkatteverket"] = -1292.5 }, "beloppSkatteverket"},
		{"amount as string", "NewTransaction", func(ev map[string]any) { data(ev)["beloppSkatteverket"] = "-1292" }, "beloppSkatteverket"},
		{"nested amount as float", "BalanceChanged", func(ev map[string]any) {
			data(ev)["current"].(map[string]any)["saldoSkatteverket"] = 1.5
		}, "saldoSkatteverket"},
		{"bad date format", "NewTransaction", func(ev map[string]any) { data(ev)["transaktionsdatum"] = "2026-11-5" }, "transaktionsdatum"},
		{"impossible date", "UpcomingDue", func(ev map[string]any) { data(ev)["forfallodatum"] = "2026-02-30" }, "forfallodatum"},
		{"date with time", "ReconciliationDateChanged", func(ev map[string]any) { data(ev)["current"] = "2026-12-05T00:00:00Z" }, "current"},
		{"unknown data field", "NewTransaction", func(ev map[string]any) { data(ev)["belopp"] = 1 }, "belopp"},
		{"voucher line with debit and credit", "NewTransaction", func(ev map[string]any) {
			data(ev)["voucher"].(map[string]any)["lines"].([]any)[0].(map[string]any)["credit"] = 1292
		}, "voucher"},
		{"unmapped voucher with lines", "NewTransaction", func(ev map[string]any) {
			data(ev)["voucher"].(map[string]any)["status"] = "unmapped"
		}, "voucher"},
		{"negative daysLeft", "DueReminder", func(ev map[string]any) { data(ev)["daysLeft"] = -1 }, "daysLeft"},
		{"informationstext too long", "FetchCompleted", func(ev map[string]any) {
			data(ev)["informationstext"] = []any{strings.Repeat("x", 201)}
		}, "informationstext"},
		{"call without correlationId", "FetchCompleted", func(ev map[string]any) {
			delete(data(ev)["calls"].([]any)[0].(map[string]any), "correlationId")
		}, "correlationId"},
		{"unknown reason", "FetchFailed", func(ev map[string]any) { data(ev)["reason"] = "timeout" }, "reason"},
		{"negative amountToPay", "ShortfallForecast", func(ev map[string]any) { data(ev)["amountToPay"] = -1 }, "amountToPay"},
		{"unknown access kind", "AccessProblem", func(ev map[string]any) { data(ev)["kind"] = "down" }, "kind"},

		{"extension with uppercase name", "NewTransaction", func(ev map[string]any) { ev["requestId"] = "erp-7f3a" }, "requestId"},
		{"extension with underscore", "NewTransaction", func(ev map[string]any) { ev["request_id"] = "erp-7f3a" }, "request_id"},
		{"non-string extension value", "NewTransaction", func(ev map[string]any) { ev["retries"] = 3 }, "retries"},
		{"object extension value", "NewTransaction", func(ev map[string]any) { ev["requestids"] = []any{"a"} }, "requestids"},
		{"non-string known extension", "NewTransaction", func(ev map[string]any) { ev["correlationid"] = map[string]any{"id": "x"} }, "correlationid"},
		{"time without zone", "NewTransaction", func(ev map[string]any) { ev["time"] = "2026-11-25T08:00:01" }, "time"},
		{"time date only", "NewTransaction", func(ev map[string]any) { ev["time"] = "2026-11-25" }, "time"},
		{"time with space", "NewTransaction", func(ev map[string]any) { ev["time"] = "2026-11-25 08:00:01Z" }, "time"},
		{"missing time", "NewTransaction", func(ev map[string]any) { delete(ev, "time") }, "time"},
		{"specversion 0.3", "NewTransaction", func(ev map[string]any) { ev["specversion"] = "0.3" }, "specversion"},
		{"wrong source", "NewTransaction", func(ev map[string]any) { ev["source"] = "other" }, "source"},
		{"empty id", "NewTransaction", func(ev map[string]any) { ev["id"] = "" }, "id"},
		{"missing fetchid", "NewTransaction", func(ev map[string]any) { delete(ev, "fetchid") }, "fetchid"},
		{"data not an object", "NewTransaction", func(ev map[string]any) { ev["data"] = "{}" }, "data"},
		{"wrong datacontenttype", "NewTransaction", func(ev map[string]any) { ev["datacontenttype"] = "text/json" }, "datacontenttype"},
		{"wrong dataschema", "NewTransaction", func(ev map[string]any) { ev["dataschema"] = schemas.DataSchemaURL("BalanceChanged") }, "dataschema"},
		{"relative dataschema", "NewTransaction", func(ev map[string]any) { ev["dataschema"] = "events/NewTransaction.json" }, "dataschema"},
		{"unknown event type", "NewTransaction", func(ev map[string]any) {
			ev["type"] = "skattekonto.NoSuchEvent"
			ev["dataschema"] = schemas.DataSchemaURL("NoSuchEvent")
		}, "unknown event type"},
		{"type without prefix", "NewTransaction", func(ev map[string]any) { ev["type"] = "NewTransaction" }, "type"},
		{"bad subject", "NewTransaction", func(ev map[string]any) { ev["subject"] = "5566778899" }, "subject"},
		{"subject differs from omfragad", "NewTransaction", func(ev map[string]any) { ev["subject"] = "161128000013" }, "subject"},
		{"subject invalid on other type", "NewTransaction", func(ev map[string]any) { ev["subject"] = "invalid" }, "type"},
		{"service AccessProblem with omfragad", "AccessProblem", func(ev map[string]any) { data(ev)["omfragad"] = "165566778899" }, "omfragad"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.ValidateEvent(mutate(t, tc.eventType, tc.f))
			if err == nil {
				t.Fatal("ValidateEvent accepted an invalid event")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error does not mention %q:\n%v", tc.wantErr, err)
			}
		})
	}

	for _, doc := range []string{``, `[]`, `{"specversion":"1.0"`, `{} {}`} {
		if err := v.ValidateEvent([]byte(doc)); err == nil {
			t.Errorf("ValidateEvent(%q) = nil, want error", doc)
		}
	}
}

func TestValidVariants(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		name, eventType string
		f               func(ev map[string]any)
	}{
		{"amount missing (at Kronofogden)", "NewTransaction", func(ev map[string]any) {
			delete(data(ev), "beloppSkatteverket")
			data(ev)["beloppKronofogden"] = -5000
		}},
		{"amount as integral float", "NewTransaction", func(ev map[string]any) { data(ev)["beloppSkatteverket"] = -1292.0 }},
		{"unmapped voucher", "NewTransaction", func(ev map[string]any) {
			data(ev)["voucher"] = map[string]any{"rules": "bas-default@1", "status": "unmapped", "lines": []any{}}
		}},
		{"time with offset and fraction", "NewTransaction", func(ev map[string]any) { ev["time"] = "2026-11-25T09:00:01.123456789+01:00" }},
		{"no extensions", "NewTransaction", func(ev map[string]any) {
			delete(ev, "requestid")
			delete(ev, "correlationid")
			delete(ev, "partitionkey")
		}},
		{"other string extension", "NewTransaction", func(ev map[string]any) {
			ev["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		}},
		{"baseline balance", "BalanceChanged", func(ev map[string]any) {
			data(ev)["previous"] = nil
			data(ev)["baseline"] = true
			data(ev)["current"] = map[string]any{"saldoSkatteverket": -14487, "saldoKronofogden": nil}
		}},
		{"per-account AccessProblem", "AccessProblem", func(ev map[string]any) {
			ev["subject"] = "165566778899"
			data(ev)["omfragad"] = "165566778899"
			data(ev)["kind"] = "authorisation-missing"
			delete(data(ev), "expiresAt")
		}},
		{"FetchFailed with unparseable body", "FetchFailed", func(ev map[string]any) {
			data(ev)["omfragad"] = ""
			data(ev)["request"] = "{not json"
		}},
		{"FetchFailed exhausted", "FetchFailed", func(ev map[string]any) {
			ev["subject"] = "165566778899"
			d := data(ev)
			d["omfragad"] = "165566778899"
			d["reason"] = "exhausted"
			d["operation"] = "saldo"
			d["felkod"] = 5
			d["felmeddelande"] = "Skattekontot är stängt"
			d["httpStatus"] = 503
			d["attempts"] = 1
			d["calls"] = []any{map[string]any{"operation": "saldo", "correlationId": "c", "httpStatus": 503, "felkod": 5, "at": "2026-11-25T08:00:00Z", "durationMs": 12}}
			d["request"] = map[string]any{}
		}},
		{"removed payout account", "PayoutAccountChanged", func(ev map[string]any) {
			data(ev)["previous"] = "SE4550000000058398257466"
			data(ev)["current"] = nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := v.ValidateEvent(mutate(t, tc.eventType, tc.f)); err != nil {
				t.Fatalf("ValidateEvent: %v", err)
			}
		})
	}
}

func TestValidateData(t *testing.T) {
	v := newValidator(t)
	if err := v.ValidateData("OcrNumberChanged", []byte(`{"omfragad":"165566778899","baseline":false,"previous":null,"current":"1655667788996"}`)); err != nil {
		t.Errorf("valid data: %v", err)
	}
	if err := v.ValidateData("OcrNumberChanged", []byte(`{"omfragad":"165566778899","baseline":false,"previous":null}`)); err == nil {
		t.Error("data without current accepted")
	}
	if err := v.ValidateData("Nope", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "unknown event type") {
		t.Errorf("unknown type: %v", err)
	}
}

func TestFetchRequest(t *testing.T) {
	v := newValidator(t)
	valid := []string{
		``, " \n", `{}`,
		`{"omfragad":"165566778899","operations":["saldo","transaktioner","utbetalningskonto","utbetalningssparrar"],"datumFrom":"2025-01-01","requestId":"erp-7f3a","force":false}`,
		`{"omfragad":"556677-8899"}`, `{"omfragad":"19811218-9876"}`, `{"omfragad":"811218+9876"}`, `{"omfragad":"5566778899"}`,
		`{"operations":["saldo"]}`, `{"requestId":"ärende 42 / ERP"}`, `{"force":true}`,
		`{"requestId":"` + strings.Repeat("x", 64) + `"}`,
	}
	for _, doc := range valid {
		if err := v.ValidateFetchRequest([]byte(doc)); err != nil {
			t.Errorf("ValidateFetchRequest(%q): %v", doc, err)
		}
	}
	invalid := []struct{ doc, wantErr string }{
		{`{"omfragad":"55667788"}`, "omfragad"},
		{`{"omfragad":"5566-778899"}`, "omfragad"},
		{`{"omfragad":"556677--8899"}`, "omfragad"},
		{`{"omfragad":165566778899}`, "omfragad"},
		{`{"operations":[]}`, "operations"},
		{`{"operations":["saldo","saldo"]}`, "operations"},
		{`{"operations":["deklaration"]}`, "operations"},
		{`{"operations":"saldo"}`, "operations"},
		{`{"datumFrom":"2025-1-1"}`, "datumFrom"},
		{`{"datumFrom":"2025-02-30"}`, "datumFrom"},
		{`{"requestId":""}`, "requestId"},
		{`{"requestId":"` + strings.Repeat("x", 65) + `"}`, "requestId"},
		{`{"requestId":"a\nb"}`, "requestId"},
		{`{"force":"yes"}`, "force"},
		{`{"omfragad":"165566778899","extra":1}`, "extra"},
		{`[]`, "fetch request"},
		{`{"omfragad":`, "JSON"},
		{`{"requestId":"` + strings.Repeat("x", 70000) + `"}`, "64 KiB"},
	}
	for _, tc := range invalid {
		err := v.ValidateFetchRequest([]byte(tc.doc))
		if err == nil {
			t.Errorf("ValidateFetchRequest(%.60q) accepted", tc.doc)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ValidateFetchRequest(%.60q): error does not mention %q:\n%v", tc.doc, tc.wantErr, err)
		}
	}
}

func TestValidatorConcurrent(t *testing.T) {
	v := newValidator(t)
	doc := readExample(t, "FetchCompleted")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if err := v.ValidateEvent(doc); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
