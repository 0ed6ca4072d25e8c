package skv

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeSaldoTolerant(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		want       Saldo
	}{
		{"amounts missing", `{"nastaAvstamningsdatum":"2026-12-05","saldoKronofogden":-145409}`,
			Saldo{Common: Common{NastaAvstamningsdatum: "2026-12-05"}, SaldoKronofogden: int64p(-145409)}},
		{"amounts as strings and floats", `{"saldoSkatteverket":"-14487","rantaSkatteverket":-12.0,"saldoKronofogden":null}`,
			Saldo{SaldoSkatteverket: int64p(-14487), RantaSkatteverket: int64p(-12)}},
		{"informationstext string", `{"informationstext":"Servicefönster 03-05"}`,
			Saldo{Common: Common{Informationstext: []string{"Servicefönster 03-05"}}}},
		{"informationstext array", `{"informationstext":["a","b"]}`,
			Saldo{Common: Common{Informationstext: []string{"a", "b"}}}},
		{"ocr as number", `{"ocrNummer":1948040320946}`, Saldo{OcrNummer: "1948040320946"}},
		{"unknown fields", `{"nyttFalt":{"x":[1]},"saldoSkatteverket":0}`, Saldo{SaldoSkatteverket: int64p(0)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeSaldo([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeSaldo: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tt := range []struct {
		body string
		want error
	}{
		{``, ErrGarbledResponse},
		{`   `, ErrGarbledResponse},
		{`hello`, ErrGarbledResponse},
		{`{"saldoSkatteverket":-1`, ErrGarbledResponse},
		{`{"saldoSkatteverket":-1}}`, ErrGarbledResponse},
		{`[]`, ErrUnexpectedResponse},
		{`null`, ErrUnexpectedResponse},
		{`"text"`, ErrUnexpectedResponse},
		{`{"saldoSkatteverket":"abc"}`, ErrUnexpectedResponse},
		{`{"saldoSkatteverket":1.5}`, ErrUnexpectedResponse},
		{`{"saldoSkatteverket":true}`, ErrUnexpectedResponse},
		{`{"informationstext":5}`, ErrUnexpectedResponse},
	} {
		t.Run(tt.body, func(t *testing.T) {
			_, err := DecodeSaldo([]byte(tt.body))
			if !errors.Is(err, tt.want) {
				t.Errorf("DecodeSaldo(%q) error %v, want %v", tt.body, err, tt.want)
			}
		})
	}
	_, err := DecodeTransaktioner([]byte(`{"tidigareTransaktioner":{"a":1}}`))
	if !errors.Is(err, ErrUnexpectedResponse) {
		t.Errorf("object for rows: %v, want ErrUnexpectedResponse", err)
	}
	_, err = DecodeTransaktioner([]byte(`{"tidigareTransaktioner":[{"transaktionsidentitet":1.5}]}`))
	if !errors.Is(err, ErrUnexpectedResponse) {
		t.Errorf("fractional identity: %v, want ErrUnexpectedResponse", err)
	}
}

func TestDecodeFelkod(t *testing.T) {
	for _, body := range []string{`{"felkod":3,"felmeddelande":"Registrerat skattekonto saknas"}`, `{"felkod":"3","felmeddelande":"Registrerat skattekonto saknas"}`} {
		_, err := DecodeUtbetalningskonto([]byte(body))
		var e *Error
		if !errors.As(err, &e) || e.Felkod != 3 || e.Felmeddelande != "Registrerat skattekonto saknas" {
			t.Errorf("%s: error %v, want felkod 3", body, err)
		}
	}
}

func TestDecodeUtbetalningssparrarShapes(t *testing.T) {
	want := []Sparr{{Sparridentitet: "4711", DatumFrom: "2026-01-01", Sparrbelopp: int64p(50000)}}
	row := `{"sparridentitet":4711,"datumFrom":"2026-01-01","sparrbelopp":50000}`
	for _, body := range []string{
		`{"utbetalningssparrar":[` + row + `]}`,
		`{"sparrar":[` + row + `]}`,
		`{"utbetalningssparrinformation":[` + row + `]}`,
		` [` + row + `]`,
	} {
		got, err := DecodeUtbetalningssparrar([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if diff := cmp.Diff(want, got.Sparrar); diff != "" {
			t.Errorf("%s: mismatch (-want +got):\n%s", body, diff)
		}
	}
	got, err := DecodeUtbetalningssparrar([]byte(`{"nastaAvstamningsdatum":"2026-12-05"}`))
	if err != nil || len(got.Sparrar) != 0 {
		t.Errorf("no blocks: %+v, %v; want none", got, err)
	}
}

func TestDecodeTransaktionerMissingAmounts(t *testing.T) {
	got, err := DecodeTransaktioner([]byte(`{"tidigareTransaktioner":[{"transaktionsdatum":"2026-10-01","transaktionstext":"Kostnadsränta"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Tidigare[0]; r.BeloppSkatteverket != nil || r.BeloppKronofogden != nil {
		t.Errorf("missing amounts decoded as %v, %v; want nil", r.BeloppSkatteverket, r.BeloppKronofogden)
	}
	if got.Kommande != nil {
		t.Errorf("missing kommandeTransaktioner = %v, want nil", got.Kommande)
	}
}

// fuzzDecoder checks that decode never panics, that success re-encodes, and
// that failure is classified.
func fuzzDecoder[T any](f *testing.F, decode func([]byte) (T, error), seeds ...string) {
	for _, s := range append(seeds, ``, `{}`, `[]`, `null`, `{"felkod":"4"}`, `{"informationstext":"x"}`) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decode(b)
		if err != nil {
			var e *Error
			if !errors.Is(err, ErrGarbledResponse) && !errors.Is(err, ErrUnexpectedResponse) && !errors.As(err, &e) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

func FuzzDecodeSaldo(f *testing.F) {
	fuzzDecoder(f, DecodeSaldo, saldoBody, `{"saldoSkatteverket":"-1","ocrNummer":12}`)
}

func FuzzDecodeTransaktioner(f *testing.F) {
	fuzzDecoder(f, DecodeTransaktioner, string(transaktionerBody(3)),
		`{"tidigareTransaktioner":[{"transaktionsidentitet":"7","beloppSkatteverket":"5"}]}`)
}

func FuzzDecodeUtbetalningskonto(f *testing.F) {
	fuzzDecoder(f, DecodeUtbetalningskonto, `{"utbetalningskonto":"SE45 5000 0000 0583 9825 7466"}`)
}

func FuzzDecodeUtbetalningssparrar(f *testing.F) {
	fuzzDecoder(f, DecodeUtbetalningssparrar, `[{"sparridentitet":1,"totalsparr":true}]`,
		`{"sparrar":[{"sparridentitet":"2","sparrbelopp":100}]}`)
}

// transaktionerBody is a transactions answer with n booked rows.
func transaktionerBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"ocrNummer":"1655667788994","datumFrom":"2025-06-01","nastaAvstamningsdatum":"2026-12-05","senastUppdaterad":"2026-11-24T22:10:00","tidigareTransaktioner":[`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"transaktionsidentitet":%d,"transaktionsdatum":"2026-11-12","ranteberakningsdatum":"2026-11-12","transaktionstext":"Debiterad preliminärskatt","beloppSkatteverket":%d}`, 100000+i, -1292-i)
	}
	b.WriteString(`],"kommandeTransaktioner":[{"transaktionsdatum":"2026-12-12","forfallodatum":"2026-12-12","ranteberakningsdatum":"2026-12-12","transaktionstext":"Moms oktober 2026","beloppSkatteverket":-25000}]}`)
	return []byte(b.String())
}

func BenchmarkDecodeTransaktioner(b *testing.B) {
	body := transaktionerBody(5000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeTransaktioner(body); err != nil {
			b.Fatal(err)
		}
	}
}
