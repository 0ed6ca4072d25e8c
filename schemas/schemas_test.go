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
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/jobs"
	"github.com/skattekonto-events/skattekonto-events/internal/sie"
	"github.com/skattekonto-events/skattekonto-events/internal/watch"
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
	// fetch-request, envelope, defs, watch/request, watch/reply, sie/request,
	// sie/reply and one per event type.
	if want := 7 + len(catalogue); n != want {
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
			"address: " + contract.EventSubject("{omfragad}", typ) + "\n",
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
			if ev.Type != contract.EventType(typ) {
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
		payload, ok := strings.CutPrefix(line, `payload: {"specversion"`)
		if !ok {
			continue
		}
		n++
		if err := v.ValidateEvent([]byte(`{"specversion"` + payload)); err != nil {
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
		{"unknown drift kind", "AccessProblem", func(ev map[string]any) {
			data(ev)["kind"] = "api-drift"
			data(ev)["drift"] = []any{map[string]any{"kind": "renamed", "path": "saldo"}}
		}, "drift"},
		{"drift without path", "AccessProblem", func(ev map[string]any) {
			data(ev)["drift"] = []any{map[string]any{"kind": "unknown-field"}}
		}, "drift"},
		{"unknown operation in an AccessProblem", "AccessProblem", func(ev map[string]any) { data(ev)["operation"] = "skattekonto" }, "operation"},
		{"unavailable without correlationId", "FetchCompleted", func(ev map[string]any) {
			data(ev)["unavailable"] = []any{map[string]any{"operation": "utbetalningssparrar", "httpStatus": 404}}
		}, "unavailable"},
		{"unavailable skipped false", "FetchCompleted", func(ev map[string]any) {
			data(ev)["unavailable"] = []any{map[string]any{"operation": "utbetalningssparrar", "httpStatus": 404, "correlationId": "c", "skipped": false}}
		}, "skipped"},
		{"unavailable empty", "FetchCompleted", func(ev map[string]any) { data(ev)["unavailable"] = []any{} }, "unavailable"},

		{"extension with uppercase name", "NewTransaction", func(ev map[string]any) { ev["requestId"] = "erp-7f3a" }, "requestId"},
		{"extension with underscore", "NewTransaction", func(ev map[string]any) { ev["request_id"] = "erp-7f3a" }, "request_id"},
		{"non-string extension value", "NewTransaction", func(ev map[string]any) { ev["retries"] = 3 }, "retries"},
		{"object extension value", "NewTransaction", func(ev map[string]any) { ev["requestids"] = []any{"a"} }, "requestids"},
		{"non-string known extension", "NewTransaction", func(ev map[string]any) { ev["correlationid"] = map[string]any{"id": "x"} }, "correlationid"},
		{"unknown auth", "NewTransaction", func(ev map[string]any) { ev["auth"] = "agent" }, "auth"},
		{"empty auth", "NewTransaction", func(ev map[string]any) { ev["auth"] = "" }, "auth"},
		{"non-string auth", "NewTransaction", func(ev map[string]any) { ev["auth"] = true }, "auth"},
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
			delete(ev, "auth")
		}},
		{"served by a user's session", "NewTransaction", func(ev map[string]any) { ev["auth"] = "user" }},
		{"without auth", "BalanceChanged", func(ev map[string]any) { delete(ev, "auth") }},
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
		{"operation unavailable", "AccessProblem", func(ev map[string]any) {
			d := data(ev)
			d["kind"] = "operation-unavailable"
			d["operation"] = "utbetalningssparrar"
			d["detail"] = "utbetalningssparrar answered HTTP 404 without a felkod at the path /skattekonton/{omfragad}/utbetalningssparrar: set SKV_PATH_UTBETALNINGSSPARRAR"
			delete(d, "expiresAt")
		}},
		{"API drift", "AccessProblem", func(ev map[string]any) {
			d := data(ev)
			d["kind"] = "api-drift"
			d["operation"] = "transaktioner"
			d["drift"] = []any{map[string]any{"kind": "unknown-field", "path": "kommandeTransaktioner[].nyttFalt"},
				map[string]any{"kind": "missing-field", "path": "ocrNummer"}}
			delete(d, "expiresAt")
		}},
		{"operations unavailable", "FetchCompleted", func(ev map[string]any) {
			data(ev)["unavailable"] = []any{
				map[string]any{"operation": "utbetalningskonto", "httpStatus": 404, "correlationId": "c1"},
				map[string]any{"operation": "utbetalningssparrar", "httpStatus": 404, "correlationId": "c0", "skipped": true},
			}
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

// TestFetchRequestAuth checks auth and session against the schema and
// against the service's own parser: both must accept and refuse the same
// bodies.
func TestFetchRequestAuth(t *testing.T) {
	v := newValidator(t)
	today := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, doc string
		wantErr   string // "" = valid; else a substring of the validator's error
	}{
		{"organisation explicit", `{"auth":"organisation"}`, ""},
		{"user with session", `{"auth":"user","session":"s-4f1c9a"}`, ""},
		{"user with session and everything", `{"omfragad":"165566778899","operations":["saldo"],"requestId":"erp-7f3d","force":true,"auth":"user","session":"s-4f1c9a"}`, ""},
		{"session of 64 bytes", `{"auth":"user","session":"` + strings.Repeat("s", 64) + `"}`, ""},
		{"session with non-ASCII", `{"auth":"user","session":"sessión"}`, ""},
		{"user without session", `{"auth":"user"}`, "session"},
		{"user with empty session", `{"auth":"user","session":""}`, "session"},
		{"session without auth", `{"session":"s-4f1c9a"}`, "session"},
		{"session with organisation", `{"auth":"organisation","session":"s-4f1c9a"}`, "session"},
		{"unknown auth", `{"auth":"agent"}`, "auth"},
		{"auth in capitals", `{"auth":"User","session":"s"}`, "auth"},
		{"auth not a string", `{"auth":true}`, "auth"},
		{"session not a string", `{"auth":"user","session":42}`, "session"},
		{"session of 65 bytes", `{"auth":"user","session":"` + strings.Repeat("s", 65) + `"}`, "session"},
		{"session of 64 characters, 65 bytes", `{"auth":"user","session":"é` + strings.Repeat("s", 63) + `"}`, "session"},
		{"requestId of 64 characters, 128 bytes", `{"requestId":"` + strings.Repeat("é", 64) + `"}`, "requestId"},
		{"session with control character", `{"auth":"user","session":"s\t1"}`, "session"},
		{"session with DEL", `{"auth":"user","session":"s\u007f"}`, "session"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.ValidateFetchRequest([]byte(tc.doc))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("ValidateFetchRequest: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("ValidateFetchRequest accepted %s", tc.doc)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error does not mention %q:\n%v", tc.wantErr, err)
			}
			_, perr := jobs.ParseRequest("165566778899", []byte(tc.doc), today)
			if (perr == nil) != (tc.wantErr == "") {
				t.Errorf("schema and jobs.ParseRequest disagree: validator %v, ParseRequest %v", err, perr)
			}
		})
	}
}

// TestSchemaExamples validates the examples listed in the schemas of
// requests and replies against their own schema.
func TestSchemaExamples(t *testing.T) {
	v := newValidator(t)
	for file, validate := range map[string]func([]byte) error{
		"fetch-request.json": v.ValidateFetchRequest,
		"watch/request.json": v.ValidateWatchRequest,
		"watch/reply.json":   v.ValidateWatchReply,
		"sie/request.json":   v.ValidateSIERequest,
		"sie/reply.json":     v.ValidateSIEReply,
	} {
		b, err := fs.ReadFile(schemas.FS(), file)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Examples []json.RawMessage `json:"examples"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Examples) == 0 {
			t.Errorf("%s: no examples", file)
		}
		for i, ex := range doc.Examples {
			if err := validate(ex); err != nil {
				t.Errorf("%s: example %d: %v", file, i, err)
			}
		}
	}
}

func readWatchExamples(t *testing.T, prefix string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "watch", prefix+"-*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata/watch/%s-*.json (%v)", prefix, err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func TestWatchRequest(t *testing.T) {
	v := newValidator(t)
	for name, doc := range readWatchExamples(t, "request") {
		if err := v.ValidateWatchRequest(doc); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	valid := []string{
		`{"omfragad":"165566778899"}`,
		`{"omfragad":"5566778899","cadence":""}`,
		`{"omfragad":"556677-8899","cadence":"default"}`,
		`{"omfragad":"19811218-9876","cadence":"@every 90m","operations":["saldo","transaktioner"]}`,
		`{"omfragad":"165566778899","cadence":"0 30 6 * * *; 0 0 12,16 9-12,23-26 * *"}`,
		`{"omfragad":"165566778899","operations":[]}`,
		// What the CLI sends for "watch remove": unregister ignores cadence.
		`{"omfragad":"165566778899","cadence":"default"}`,
	}
	for _, doc := range valid {
		if err := v.ValidateWatchRequest([]byte(doc)); err != nil {
			t.Errorf("ValidateWatchRequest(%s): %v", doc, err)
		}
	}
	invalid := []struct{ doc, wantErr string }{
		{``, "JSON"},
		{`{}`, "omfragad"},
		{`[]`, "watch request"},
		{`{"omfragad":"55667788"}`, "omfragad"},
		{`{"omfragad":165566778899}`, "omfragad"},
		{`{"omfragad":"165566778899","cadence":6}`, "cadence"},
		{`{"omfragad":"165566778899","operations":["skulder"]}`, "operations"},
		{`{"omfragad":"165566778899","operations":["saldo","saldo"]}`, "operations"},
		{`{"omfragad":"165566778899","operations":"saldo"}`, "operations"},
		{`{"omfragad":"165566778899","cadance":"6h"}`, "cadance"},
		{`{"omfragad":"165566778899"} {}`, "JSON"},
		{`{"omfragad":"165566778899","cadence":"` + strings.Repeat(" ", 70000) + `"}`, "64 KiB"},
	}
	for _, tc := range invalid {
		err := v.ValidateWatchRequest([]byte(tc.doc))
		if err == nil {
			t.Errorf("ValidateWatchRequest(%.60q) accepted", tc.doc)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ValidateWatchRequest(%.60q): error does not mention %q:\n%v", tc.doc, tc.wantErr, err)
		}
	}
	// The Go type marshals to valid requests.
	for _, r := range []watch.Request{
		{Omfragad: "165566778899"},
		{Omfragad: "165560000167", Cadence: "6h", Operations: []string{"saldo"}},
	} {
		b, _ := json.Marshal(r)
		if err := v.ValidateWatchRequest(b); err != nil {
			t.Errorf("watch.Request %s: %v", b, err)
		}
	}
}

func TestWatchReply(t *testing.T) {
	v := newValidator(t)
	for name, doc := range readWatchExamples(t, "reply") {
		if err := v.ValidateWatchReply(doc); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// What the service marshals: the Go type's forms.
	removed, notRemoved := true, false
	reg := watch.Registration{Omfragad: "165566778899", Schedules: watch.DefaultCadence}
	for _, r := range []watch.Reply{
		{Registration: &reg},
		{Registration: &watch.Registration{Omfragad: "165560000167", Schedules: []watch.Schedule{{Name: "every", Spec: "@every 1h30m0s"}}, Operations: []string{"saldo", "utbetalningssparrar"}}},
		{Removed: &removed},
		{Removed: &notRemoved},
		{Registrations: []watch.Registration{reg}},
		{Registrations: []watch.Registration{}}, // no account watched: {}
		{Error: "watch: unknown operation \"skulder\""},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.ValidateWatchReply(b); err != nil {
			t.Errorf("watch.Reply %s: %v", b, err)
		}
	}
	invalid := []struct{ doc, wantErr string }{
		{`[]`, "watch reply"},
		{`{"removed":"yes"}`, "removed"},
		{`{"removed":true,"error":"x"}`, "watch reply"},
		{`{"error":""}`, "error"},
		{`{"registration":{"omfragad":"5566778899","schedules":[{"name":"daily","spec":"0 30 6 * * *"}]}}`, "omfragad"},
		{`{"registration":{"omfragad":"165566778899","schedules":[]}}`, "schedules"},
		{`{"registration":{"omfragad":"165566778899"}}`, "schedules"},
		{`{"registration":{"omfragad":"165566778899","schedules":[{"name":"a.b","spec":"@every 1h"}]}}`, "name"},
		{`{"registration":{"omfragad":"165566778899","schedules":[{"name":"daily"}]}}`, "spec"},
		{`{"registrations":[{"omfragad":"165566778899","schedules":[{"name":"daily","spec":"0 30 6 * * *"}],"operations":["skulder"]}]}`, "operations"},
		{`{"registration":{"omfragad":"165566778899","schedules":[{"name":"daily","spec":"0 30 6 * * *"}],"cadence":"default"}}`, "cadence"},
		{`{"ok":true}`, "ok"},
		{`{"removed":true`, "JSON"},
	}
	for _, tc := range invalid {
		err := v.ValidateWatchReply([]byte(tc.doc))
		if err == nil {
			t.Errorf("ValidateWatchReply(%.80q) accepted", tc.doc)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ValidateWatchReply(%.80q): error does not mention %q:\n%v", tc.doc, tc.wantErr, err)
		}
	}
}

// TestAsyncAPIRequestReply parses asyncapi.yaml and checks the channels of
// the watch list, the SIE export, the schedules and the internal
// coordination subjects, and validates the examples of the request and
// reply messages.
func TestAsyncAPIRequestReply(t *testing.T) {
	v := newValidator(t)
	b, err := fs.ReadFile(schemas.FS(), "asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Channels map[string]struct {
			Address *string `yaml:"address"`
		} `yaml:"channels"`
		Operations map[string]struct {
			Action  string         `yaml:"action"`
			Channel map[string]any `yaml:"channel"`
			Reply   *struct {
				Channel map[string]any `yaml:"channel"`
			} `yaml:"reply"`
		} `yaml:"operations"`
		Components struct {
			Messages map[string]struct {
				Examples []struct {
					Payload any `yaml:"payload"`
				} `yaml:"examples"`
			} `yaml:"messages"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	addresses := map[string]bool{}
	for _, c := range doc.Channels {
		if c.Address != nil {
			addresses[*c.Address] = true
		}
	}
	for _, want := range []string{
		contract.ScheduleSubject("{omfragad}", "{name}"),
		contract.WatchRegister, contract.WatchUnregister, contract.WatchList, contract.SIEExport,
		contract.RateLimitPrefix + ".presence", contract.RateLimitPrefix + ".throttle",
		contract.StateSubject("{omfragad}"),
	} {
		if !addresses[want] {
			t.Errorf("asyncapi.yaml has no channel with address %q", want)
		}
	}
	replies := 0
	for name, op := range doc.Operations {
		if op.Reply != nil {
			replies++
			want := "#/channels/watchReply"
			if name == "answerSIEExport" {
				want = "#/channels/sieReply"
			}
			if op.Action != "receive" || op.Reply.Channel["$ref"] != want {
				t.Errorf("operation %s: reply to %v (action %s), want %s", name, op.Reply.Channel, op.Action, want)
			}
		}
	}
	if replies != 4 {
		t.Errorf("%d operations with a reply, want 4 (register, unregister, list, SIE export)", replies)
	}
	for msg, validate := range map[string]func([]byte) error{
		"FetchRequest": v.ValidateFetchRequest,
		"Schedule":     v.ValidateFetchRequest,
		"WatchRequest": v.ValidateWatchRequest,
		"WatchReply":   v.ValidateWatchReply,
		"SIERequest":   v.ValidateSIERequest,
		"SIEReply":     v.ValidateSIEReply,
	} {
		m, ok := doc.Components.Messages[msg]
		if !ok || len(m.Examples) == 0 {
			t.Errorf("asyncapi.yaml: message %s has no examples", msg)
			continue
		}
		for i, ex := range m.Examples {
			j, err := json.Marshal(ex.Payload)
			if err != nil {
				t.Fatalf("%s example %d: %v", msg, i, err)
			}
			if err := validate(j); err != nil {
				t.Errorf("asyncapi.yaml: %s example %d %s: %v", msg, i, j, err)
			}
		}
	}
}

// TestSIERequest checks bodies against the schema and against the
// service's own parser: both accept and refuse the same bodies, but for
// what the schema cannot express (the Luhn digit, from after to) and an
// empty series, which the schema refuses and the service reads as left
// out.
func TestSIERequest(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		name, doc string
		schema    bool // the schema accepts it
		service   bool // sie.ParseRequest accepts it
	}{
		{"minimal", `{"omfragad":"165566778899","from":"2026-11-01","to":"2026-11-30"}`, true, true},
		{"everything", `{"omfragad":"556677-8899","from":"2026-11-01","to":"2026-11-30","series":"SKV","companyName":"Demo Åkeri AB"}`, true, true},
		{"one day", `{"omfragad":"19811218-9876","from":"2026-11-12","to":"2026-11-12"}`, true, true},
		{"empty company", `{"omfragad":"165566778899","from":"2026-11-01","to":"2026-11-30","companyName":""}`, true, true},
		{"company of 200 characters", `{"omfragad":"165566778899","from":"2026-11-01","to":"2026-11-30","companyName":"` + strings.Repeat("å", 200) + `"}`, true, true},
		{"company of 201 characters", `{"omfragad":"165566778899","from":"2026-11-01","to":"2026-11-30","companyName":"` + strings.Repeat("å", 201) + `"}`, false, false},
		{"no to", `{"omfragad":"165566778899","from":"2026-11-01"}`, false, false},
		{"no omfragad", `{"from":"2026-11-01","to":"2026-11-30"}`, false, false},
		{"omfragad of 8 digits", `{"omfragad":"55667788","from":"2026-11-01","to":"2026-11-30"}`, false, false},
		{"impossible date", `{"omfragad":"165566778899","from":"2026-02-30","to":"2026-03-31"}`, false, false},
		{"date with time", `{"omfragad":"165566778899","from":"2026-11-01T00:00:00Z","to":"2026-11-30"}`, false, false},
		{"series with a dash", `{"omfragad":"165566778899","from":"2026-11-01","to":"2026-11-30","series":"A-1"}`, false, false},
		{"series of 11", `{"omfragad":"165566778899","from":"2026-11-01","to":"2026-11-30","series":"ABCDEFGHIJK"}`, false, false},
		{"empty series", `{"omfragad":"165566778899","from":"2026-11-01","to":"2026-11-30","series":""}`, false, true},
		{"misspelt member", `{"omfragad":"165566778899","from":"2026-11-01","to":"2026-11-30","serie":"B"}`, false, false},
		{"not an object", `[]`, false, false},
		{"over 4 KiB", `{"omfragad":"165566778899","from":"2026-11-01","to":"2026-11-30","companyName":"` + strings.Repeat(" ", 5000) + `"}`, false, false},
		// What the schema cannot express.
		{"wrong Luhn digit", `{"omfragad":"165566778898","from":"2026-11-01","to":"2026-11-30"}`, true, false},
		{"from after to", `{"omfragad":"165566778899","from":"2026-12-01","to":"2026-11-30"}`, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.ValidateSIERequest([]byte(tc.doc))
			if (err == nil) != tc.schema {
				t.Errorf("ValidateSIERequest: %v, want accepted %v", err, tc.schema)
			}
			_, perr := sie.ParseRequest([]byte(tc.doc))
			if (perr == nil) != tc.service {
				t.Errorf("sie.ParseRequest: %v, want accepted %v", perr, tc.service)
			}
		})
	}
	// What the Go type marshals is a valid request.
	b, _ := json.Marshal(sie.Request{Omfragad: "165566778899", From: "2026-11-01", To: "2026-11-30"})
	if err := v.ValidateSIERequest(b); err != nil {
		t.Errorf("sie.Request %s: %v", b, err)
	}
}

// TestSIEReply: the replies the service marshals are valid, and a reply
// mixing file and error is not.
func TestSIEReply(t *testing.T) {
	v := newValidator(t)
	kfm := int64(-301)
	for _, r := range []sie.Reply{
		{File: []byte("#FLAGGA 0\r\n"), Unmapped: []sie.Unmapped{}},
		{File: []byte{0x86, 0x84, 0x94}, Vouchers: 13, Replaced: 2, Unmapped: []sie.Unmapped{
			{EventID: "e", TransaktionID: "326746140", Transaktionsdatum: "2026-11-09", Transaktionstext: "Kostnadsränta", BeloppKronofogden: &kfm, Reason: sie.ReasonUnmapped},
			{EventID: "garbled-1", Reason: sie.ReasonInvalidEvent},
		}},
	} {
		b, _ := json.Marshal(r)
		if err := v.ValidateSIEReply(b); err != nil {
			t.Errorf("reply %s: %v", b, err)
		}
	}
	for _, doc := range []string{
		`{"error":"from: 2026-12-01 is after to 2026-11-30"}`,
	} {
		if err := v.ValidateSIEReply([]byte(doc)); err != nil {
			t.Errorf("reply %s: %v", doc, err)
		}
	}
	for _, doc := range []string{
		`{}`,
		`{"error":""}`,
		`{"file":"I0ZMQUdHQSAwDQo=","vouchers":0,"replaced":0,"unmapped":[],"error":"x"}`,
		`{"file":"I0ZMQUdHQSAwDQo=","vouchers":0,"replaced":0}`,
		`{"file":"not base64!","vouchers":0,"replaced":0,"unmapped":[]}`,
		`{"file":"I0ZMQUdHQSAwDQo=","vouchers":0,"replaced":0,"unmapped":[{"eventId":"e","transaktionId":"1","transaktionsdatum":"2026-11-09","transaktionstext":"x","reason":"guessed"}]}`,
	} {
		if err := v.ValidateSIEReply([]byte(doc)); err == nil {
			t.Errorf("reply %s accepted", doc)
		}
	}
}
