package skv

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const common = `"nastaAvstamningsdatum":"2026-12-05","senastUppdaterad":"2026-11-24T22:10:00"`

func TestDecodeDrift(t *testing.T) {
	unknown := func(p string) Drift { return Drift{DriftUnknownField, p} }
	missing := func(p string) Drift { return Drift{DriftMissingField, p} }
	for _, tt := range []struct {
		name  string
		op    Operation
		body  string
		want  []Drift
		fatal []string // paths of a MissingFieldError
	}{
		{"saldo as described", OpSaldo, saldoBody, nil, nil},
		{"saldo with a new field", OpSaldo, `{"saldoForvantat":{"x":1},` + saldoBody[1:], []Drift{unknown("saldoForvantat")}, nil},
		{"saldo without amounts", OpSaldo, `{` + common + `,"ocrNummer":"1"}`,
			[]Drift{missing("rantaKronofogden"), missing("rantaSkatteverket"), missing("saldoKronofogden"), missing("saldoSkatteverket")}, nil},
		{"saldo without common fields", OpSaldo, `{"saldoSkatteverket":1,"saldoKronofogden":2,"rantaSkatteverket":3,"rantaKronofogden":4,"ocrNummer":"5"}`,
			[]Drift{missing("nastaAvstamningsdatum"), missing("senastUppdaterad")}, nil},
		{"transactions as described", OpTransaktioner, string(transaktionerBody(3)), nil, nil},
		{"a new row field", OpTransaktioner, `{` + common + `,"ocrNummer":"1","datumFrom":"2025-01-01","tidigareTransaktioner":[
			{"transaktionsdatum":"2026-01-01","ranteberakningsdatum":"2026-01-01","transaktionstext":"a","nyttFalt":1},
			{"transaktionsdatum":"2026-01-02","ranteberakningsdatum":"2026-01-02","transaktionstext":"b","nyttFalt":2}]}`,
			[]Drift{unknown("tidigareTransaktioner[].nyttFalt")}, nil},
		{"an upcoming row without ranteberakningsdatum", OpTransaktioner, `{` + common + `,"ocrNummer":"1","datumFrom":"2025-01-01",
			"kommandeTransaktioner":[{"transaktionsdatum":"2026-01-01","transaktionstext":"a"}]}`,
			[]Drift{missing("kommandeTransaktioner[].ranteberakningsdatum")}, nil},
		{"a row without date and text", OpTransaktioner, `{` + common + `,"ocrNummer":"1","datumFrom":"2025-01-01",
			"tidigareTransaktioner":[{"ranteberakningsdatum":"2026-01-01","beloppSkatteverket":5}]}`,
			[]Drift{missing("tidigareTransaktioner[].transaktionsdatum"), missing("tidigareTransaktioner[].transaktionstext")},
			[]string{"tidigareTransaktioner[].transaktionsdatum", "tidigareTransaktioner[].transaktionstext"}},
		{"payout account with a new field", OpUtbetalningskonto, `{` + common + `,"utbetalningskonto":"x","kontotyp":"bg"}`,
			[]Drift{unknown("kontotyp")}, nil},
		{"payout account none", OpUtbetalningskonto, `{` + common + `}`, nil, nil},
		{"blocks as described", OpUtbetalningssparrar, `{` + common + `,"utbetalningssparrar":[{"sparridentitet":1,"datumFrom":"2026-01-01"}]}`, nil, nil},
		{"blocks under a known alternative", OpUtbetalningssparrar, `{` + common + `,"sparrar":[{"sparridentitet":1,"datumFrom":"2026-01-01"}]}`, nil, nil},
		{"blocks listed as null", OpUtbetalningssparrar, `{` + common + `,"utbetalningssparrar":null}`, nil, nil},
		{"blocks under an unknown key", OpUtbetalningssparrar, `{` + common + `,"sparrlista":[{"sparridentitet":1,"datumFrom":"2026-01-01","orsak":"x"}]}`,
			[]Drift{{DriftUnknownListKey, "sparrlista"}, unknown("sparrlista[].orsak")}, nil},
		{"no list at all", OpUtbetalningssparrar, `{` + common + `}`, []Drift{missing("utbetalningssparrar")}, nil},
		{"an unknown list of something else", OpUtbetalningssparrar, `{` + common + `,"meddelanden":[{"text":"x"}]}`,
			[]Drift{unknown("meddelanden"), missing("utbetalningssparrar")}, nil},
		{"blocks as a bare list", OpUtbetalningssparrar, `[{"sparridentitet":1,"datumFrom":"2026-01-01","ny":true}]`,
			[]Drift{unknown("[].ny"), missing("nastaAvstamningsdatum"), missing("senastUppdaterad")}, nil},
		{"a block without identity", OpUtbetalningssparrar, `{` + common + `,"utbetalningssparrar":[{"datumFrom":"2026-01-01"}]}`,
			[]Drift{missing("utbetalningssparrar[].sparridentitet")}, []string{"utbetalningssparrar[].sparridentitet"}},
		{"a felkod is no drift", OpSaldo, `{"felkod":3,"felmeddelande":"Registrerat skattekonto saknas","ny":1}`, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeFor(tt.op, []byte(tt.body))
			want := tt.want
			sort.Slice(want, func(i, j int) bool {
				if want[i].Path != want[j].Path {
					return want[i].Path < want[j].Path
				}
				return want[i].Kind < want[j].Kind
			})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("drift (-want +got):\n%s", diff)
			}
			if d := DecodeDrift(tt.op, []byte(tt.body)); !equalDrift(d, got) {
				t.Errorf("DecodeDrift %v, decoder %v", d, got)
			}
			var mf *MissingFieldError
			switch {
			case tt.fatal == nil && errors.As(err, &mf):
				t.Errorf("unexpected missing field error %v", err)
			case tt.fatal != nil && (!errors.As(err, &mf) || !errors.Is(err, ErrMissingField) || !errors.Is(err, ErrUnexpectedResponse)):
				t.Fatalf("error %v, want a MissingFieldError", err)
			case tt.fatal != nil:
				if diff := cmp.Diff(tt.fatal, mf.Paths); diff != "" {
					t.Errorf("missing paths (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// decodeFor runs op's decoder and returns its drift and error.
func decodeFor(op Operation, body []byte) ([]Drift, error) {
	var d []Drift
	var err error
	switch op {
	case OpSaldo:
		_, d, err = decodeSaldo(body)
	case OpTransaktioner:
		_, d, err = decodeTransaktioner(body)
	case OpUtbetalningskonto:
		_, d, err = decodeUtbetalningskonto(body)
	case OpUtbetalningssparrar:
		_, d, err = decodeUtbetalningssparrar(body)
	}
	return d, err
}

// mandatoryPaths are every path a missing-field drift may name.
var mandatoryPaths = map[string]bool{
	"nastaAvstamningsdatum": true, "senastUppdaterad": true, "ocrNummer": true, "datumFrom": true,
	"saldoSkatteverket": true, "saldoKronofogden": true, "rantaSkatteverket": true, "rantaKronofogden": true,
	"tidigareTransaktioner[].transaktionsdatum": true, "tidigareTransaktioner[].transaktionstext": true,
	"tidigareTransaktioner[].ranteberakningsdatum": true, "kommandeTransaktioner[].transaktionsdatum": true,
	"kommandeTransaktioner[].transaktionstext": true, "kommandeTransaktioner[].ranteberakningsdatum": true,
	"utbetalningssparrar": true,
}

// jsonKeys collects every object key anywhere in v.
func jsonKeys(v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			into[k] = true
			jsonKeys(e, into)
		}
	case []any:
		for _, e := range x {
			jsonKeys(e, into)
		}
	}
}

// FuzzDecodeDrift checks that drift names fields, never values: every
// unknown field's path is made of keys of the body, every missing field
// is one the client knows; that it is sorted and without duplicates; and
// that every field that failed the decoding is in the drift.
func FuzzDecodeDrift(f *testing.F) {
	for _, s := range []string{saldoBody, string(transaktionerBody(2)), `{"ny":1,"sparrlista":[{"sparridentitet":1}]}`,
		`[{"sparridentitet":1,"x":2}]`, `{"tidigareTransaktioner":[{"nytt":"v"}]}`, `{"a[].b":1}`, `{"\u0041":"\"x\""}`} {
		for op := range uint8(4) {
			f.Add(op, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, opn uint8, body []byte) {
		op := Operations[int(opn)%len(Operations)]
		drift, err := decodeFor(op, body)
		if len(drift) == 0 {
			drift = nil
		}
		for i := 1; i < len(drift); i++ {
			a, b := drift[i-1], drift[i]
			if a.Path > b.Path || (a.Path == b.Path && a.Kind >= b.Kind) {
				t.Fatalf("drift not sorted or repeated: %v", drift)
			}
		}
		keys := map[string]bool{}
		var v any
		if len(drift) > 0 {
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("drift %v from a body that is not JSON", drift)
			}
		}
		jsonKeys(v, keys)
		for _, d := range drift {
			switch d.Kind {
			case DriftMissingField:
				if !mandatoryPaths[d.Path] && !strings.HasSuffix(d.Path, "[].sparridentitet") && !strings.HasSuffix(d.Path, "[].datumFrom") {
					t.Fatalf("missing field %q is not one the client knows", d.Path)
				}
			case DriftUnknownField, DriftUnknownListKey:
				if keys[d.Path] {
					continue
				}
				list, key, ok := strings.Cut(d.Path, "[].")
				if !ok || !keys[key] || (list != "" && !keys[list]) {
					t.Fatalf("drift path %q is not made of the body's keys", d.Path)
				}
			default:
				t.Fatalf("unknown drift kind %q", d.Kind)
			}
		}
		var mf *MissingFieldError
		if errors.As(err, &mf) {
			for _, p := range mf.Paths {
				if !containsDrift(drift, Drift{DriftMissingField, p}) {
					t.Fatalf("failed on %q without reporting it: %v", p, drift)
				}
			}
		}
	})
}

func BenchmarkDecodeTransaktionerWithDrift(b *testing.B) {
	body := []byte(strings.Replace(string(transaktionerBody(5000)), `"transaktionstext":"Debiterad`, `"nyttFalt":1,"transaktionstext":"Debiterad`, -1))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, d, err := decodeTransaktioner(body); err != nil || len(d) != 1 {
			b.Fatal(d, err)
		}
	}
}

// FuzzUnknownKeys checks that the fast scan for unknown keys never misses
// one that the exact walk finds.
func FuzzUnknownKeys(f *testing.F) {
	for _, s := range []string{saldoBody, string(transaktionerBody(2)), `{"a":{"b":[1,"]",{"c":"}"}]},"ocrNummer":1}`,
		`{"tidigareTransaktioner":[{"x":"\""},{"transaktionstext":"a"}]}`, `[{"sparridentitet":1,"y":[]}]`, `{"\u006eastaAvstamningsdatum":1}`} {
		f.Add(s)
	}
	shapes := []shape{saldoShape, transaktionerShape, kontoShape, sparrarShape, {"": blockShape}}
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) {
			return
		}
		for _, s := range shapes {
			var ds driftSet
			trimmed := strings.TrimLeft(body, " \t\r\n")
			if strings.HasPrefix(trimmed, "[") && s[""] != nil {
				ds.unknownInList([]byte(body), s[""], "[].")
			} else {
				ds.unknownFields([]byte(body), s, "")
			}
			if len(ds.seen) > 0 && !hasUnknownKeys([]byte(body), s) {
				t.Fatalf("scan missed %v in %s", ds.list(), body)
			}
		}
	})
}
