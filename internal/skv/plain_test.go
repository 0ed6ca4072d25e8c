package skv

import (
	"reflect"
	"testing"
)

var plainBodies = []struct {
	body  string
	plain bool // the plain path takes it
}{
	{`{"saldoSkatteverket":-14487,"saldoKronofogden":-145409,"rantaSkatteverket":-12,"rantaKronofogden":-10,"ocrNummer":"1948040320946","nastaAvstamningsdatum":"2026-12-05","senastUppdaterad":"2019-05-06T03:04:05Z","informationstext":["Tjänsten är öppen"]}`, true},
	{`{"ocrNummer":"1948040320946","datumFrom":"2024-06-01","tidigareTransaktioner":[{"transaktionsidentitet":123456789,"transaktionsdatum":"2026-11-12","ranteberakningsdatum":"2026-11-12","transaktionstext":"Debiterad preliminärskatt","beloppSkatteverket":-18700}],"kommandeTransaktioner":[],"senastUppdaterad":"2026-11-25T07:00:00","informationstext":"","nastaAvstamningsdatum":"2026-12-05"}`, true},
	{`{"tidigareTransaktioner":[{"transaktionsidentitet":"A-1","beloppKronofogden":0,"forfallodatum":"2026-12-12","beslutsdatum":"2026-11-01"}]}`, true},
	{`{"felkod":4,"felmeddelande":"Tekniskt fel"}`, true},
	{` { } `, true},
	{`{"saldoSkatteverket":-1.0}`, false},  // a float
	{`{"saldoSkatteverket":"-12"}`, false}, // a numeric string
	{`{"saldoSkatteverket":null}`, false},  // null
	{`{"SaldoSkatteverket":1}`, false},     // another spelling
	{`{"saldoSkatteverket":1,"saldoSkatteverket":2}`, false},
	{`{"nyttFalt":1}`, false},                // drift
	{`{"ocrNummer":"a\"b"}`, false},          // an escape
	{`{"transaktionstext":"\u00e4"}`, false}, // an escape (and drift for saldo)
	{`{"ocrNummer":"\xff"}`, false},          // invalid UTF-8
	{`{"tidigareTransaktioner":[{"x":1}]}`, false},
	{`{"saldoSkatteverket":01}`, false},
	{`{"ocrNummer":"1"} x`, false},
}

// TestPlainAsEncodingJSON: the plain path takes plain answers, leaves the
// rest to encoding/json, and decodes what it takes as encoding/json does.
func TestPlainAsEncodingJSON(t *testing.T) {
	for _, tc := range plainBodies {
		t.Run(tc.body, func(t *testing.T) {
			var s saldoWire
			var tr transaktionerWire
			got := s.decodePlain([]byte(tc.body)) || tr.decodePlain([]byte(tc.body))
			if tc.plain && !got {
				t.Fatalf("the plain path did not take a plain answer")
			}
			assertPlainAsJSON(t, tc.body)
		})
	}
}

// FuzzPlainAsEncodingJSON: whatever answer the plain path takes,
// encoding/json takes too, decodes to the same wire value and finds no
// unknown key in.
func FuzzPlainAsEncodingJSON(f *testing.F) {
	for _, tc := range plainBodies {
		f.Add(tc.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		assertPlainAsJSON(t, body)
	})
}

func assertPlainAsJSON(t *testing.T, body string) {
	t.Helper()
	var s saldoWire
	if s.decodePlain([]byte(body)) {
		assertSame(t, body, &s, new(saldoWire), saldoShape)
	}
	var tr transaktionerWire
	if tr.decodePlain([]byte(body)) {
		assertSame(t, body, &tr, new(transaktionerWire), transaktionerShape)
	}
}

func assertSame[W any](t *testing.T, body string, plain, slow *W, s shape) {
	t.Helper()
	if err := unmarshal([]byte(body), slow); err != nil {
		t.Fatalf("the plain path takes %q, encoding/json refuses it: %v", body, err)
	}
	if !reflect.DeepEqual(plain, slow) {
		t.Fatalf("%q: plain %+v, encoding/json %+v", body, *plain, *slow)
	}
	if hasUnknownKeys([]byte(body), s) {
		t.Fatalf("the plain path takes %q, which has keys the shape does not know", body)
	}
}
