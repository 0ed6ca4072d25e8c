package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// decodeJSON is the request decoding of encoding/json that decodeSimple
// must agree with: unknown keys refused, nothing after the object.
func decodeJSON(body []byte) (contract.FetchRequest, error) {
	var w contract.FetchRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return w, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return w, errors.New("data after the object")
	}
	return w, nil
}

var simpleBodies = []struct {
	body   string
	simple bool // decodeSimple takes it
}{
	{`{}`, true},
	{` { } `, true},
	{`{"requestId":"erp-7f3a-000123","operations":["saldo","transaktioner"]}`, true},
	{"{\n\t\"omfragad\": \"165566778899\",\r\n \"operations\" : [ ] , \"datumFrom\":\"2025-01-01\",\"force\":true,\"auth\":\"user\",\"session\":\"s1\"}", true},
	{`{"force":false}`, true},
	{`{"requestId":"a b ~!"}`, true},
	{`{"requestID":"x"}`, false},                 // another spelling: encoding/json matches it regardless of case
	{`{"requestId":"x","requestId":"y"}`, false}, // twice: the last wins there
	{`{"requestId":"\u00e5"}`, false},            // an escape
	{`{"requestId":"å"}`, true},                  // UTF-8 without escapes
	{`{"requestId":null}`, false},
	{`{"force":1}`, false},
	{`{"unknown":"x"}`, false},
	{`{"requestId":"x"} {}`, false},
	{`{"requestId":"x"`, false},
	{`{"operations":["saldo",]}`, false},
	{`{"force":truex}`, false},
	{`[]`, false},
}

func TestDecodeSimple(t *testing.T) {
	for _, tc := range simpleBodies {
		t.Run(tc.body, func(t *testing.T) {
			got, ok := decodeSimple([]byte(tc.body))
			if ok != tc.simple {
				t.Fatalf("decodeSimple took it: %v, want %v", ok, tc.simple)
			}
			if !ok {
				return
			}
			want, err := decodeJSON([]byte(tc.body))
			if err != nil {
				t.Fatalf("encoding/json refuses what decodeSimple takes: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decodeSimple %+v, encoding/json %+v", got, want)
			}
		})
	}
}

// FuzzDecodeSimpleAsEncodingJSON: whatever decodeSimple takes,
// encoding/json takes too and decodes to the same request.
func FuzzDecodeSimpleAsEncodingJSON(f *testing.F) {
	for _, tc := range simpleBodies {
		f.Add(tc.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, ok := decodeSimple([]byte(body))
		if !ok {
			return
		}
		want, err := decodeJSON([]byte(body))
		if err != nil {
			t.Fatalf("decodeSimple takes %q, encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decodeSimple %+v, encoding/json %+v", body, got, want)
		}
	})
}
