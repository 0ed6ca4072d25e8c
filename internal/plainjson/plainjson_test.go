package plainjson

import (
	"encoding/json"
	"testing"
)

// TestIntAndDigits: a number is read only when encoding/json reads the
// same value from it; anything else is left to it.
func TestIntAndDigits(t *testing.T) {
	tests := []struct {
		in        string
		intOK     bool
		want      int64
		digitsOK  bool
		wantDigit string
	}{
		{"0", true, 0, true, "0"},
		{"-0", true, 0, false, ""},
		{"1292", true, 1292, true, "1292"},
		{"-14487", true, -14487, false, ""},
		{"123456789012345678", true, 123456789012345678, true, "123456789012345678"},
		{"1234567890123456789", false, 0, true, "1234567890123456789"}, // past 18 digits: encoding/json's path
		{"01", false, 0, false, ""},
		{"1.0", false, 0, false, ""},
		{"1e3", false, 0, false, ""},
		{"+1", false, 0, false, ""},
		{"-", false, 0, false, ""},
		{"", false, 0, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d := Decoder{B: []byte(tc.in)}
			v, ok := d.Int()
			if ok != tc.intOK || (ok && (v != tc.want || !d.End())) {
				t.Errorf("Int: %d, %v, want %d, %v", v, ok, tc.want, tc.intOK)
			}
			if ok {
				var j int64
				if err := json.Unmarshal([]byte(tc.in), &j); err != nil || j != v {
					t.Errorf("encoding/json reads %d (%v)", j, err)
				}
			}
			d = Decoder{B: []byte(tc.in)}
			s, ok := d.Digits()
			if ok != tc.digitsOK || s != tc.wantDigit {
				t.Errorf("Digits: %q, %v, want %q, %v", s, ok, tc.wantDigit, tc.digitsOK)
			}
		})
	}
}

// TestStr: strings without escapes or control characters and with valid
// UTF-8 are read as encoding/json reads them; others are left to it.
func TestStr(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`""`, true},
		{`"Debiterad preliminärskatt"`, true},
		{`"<&> \u2028"`, false}, // an escape
		{"\"a\tb\"", false},     // a control character
		{"\"\xff\"", false},     // invalid UTF-8: encoding/json makes it U+FFFD
		{`"unterminated`, false},
		{`x`, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d := Decoder{B: []byte(tc.in)}
			s, ok := d.Str()
			if ok != tc.ok {
				t.Fatalf("Str(%q): %v, want %v", tc.in, ok, tc.ok)
			}
			if ok {
				var j string
				if err := json.Unmarshal([]byte(tc.in), &j); err != nil || j != s {
					t.Errorf("Str %q, encoding/json %q (%v)", s, j, err)
				}
			}
		})
	}
}

// TestDocument: one object and nothing after it; a key not taken, a value
// not read or a key given twice gives up.
func TestDocument(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{}`, true},
		{` {"a":"x","b":["y","z"]} `, true},
		{`{"a":"x","a":"y"}`, false},
		{`{"c":1}`, false},
		{`{"a":1}`, false},
		{`{"a":"x"} {}`, false},
		{`{"a":"x",}`, false},
		{`{"b":["y",]}`, false},
		{`[]`, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := Document([]byte(tc.in), func(d *Decoder, key []byte) (uint32, bool) {
				switch string(key) {
				case "a":
					_, ok := d.Str()
					return 1, ok
				case "b":
					_, ok := d.Strings()
					return 2, ok
				}
				return 0, false
			})
			if got != tc.want {
				t.Errorf("Document(%s) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
