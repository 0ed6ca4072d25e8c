package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// field is one member of a JSON object, in the order it was written.
type field struct {
	key string
	val json.RawMessage
}

var errNotObject = errors.New("not a JSON object")

// objectFields returns the members of the JSON object b in their order.
func objectFields(b []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	var out []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, field{key: key, val: v})
	}
	return out, nil
}

// pair renders one field as key=value for a person: lists as lists
// ("a,b" or "[x y, z]"), objects as {key=value …}, null as none,
// milliseconds (a key ending in Ms) as a duration with its unit, and the
// API calls of a fetch as "operation status duration". ok is false for
// an empty list, which is left out.
func pair(key string, v json.RawMessage) (s string, ok bool) {
	key = text(key)
	if name, isMs := strings.CutSuffix(key, "Ms"); isMs && name != "" {
		var n int64
		if json.Unmarshal(v, &n) == nil {
			return name + "=" + (time.Duration(n) * time.Millisecond).String(), true
		}
	}
	if key == "calls" {
		var calls []events.Call
		if json.Unmarshal(v, &calls) == nil {
			if len(calls) == 0 {
				return "", false
			}
			return key + "=" + renderCalls(calls), true
		}
	}
	s, ok = value(v)
	if !ok {
		return "", false
	}
	return key + "=" + s, true
}

// value renders a JSON value; ok is false for an empty list.
func value(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch v[0] {
	case 'n':
		return "none", true
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return string(v), true
		}
		return text(s), true
	case '[':
		return list(v)
	case '{':
		fields, err := objectFields(v)
		if err != nil {
			return string(v), true
		}
		parts := make([]string, 0, len(fields))
		for _, f := range fields {
			if p, ok := pair(f.key, f.val); ok {
				parts = append(parts, p)
			}
		}
		return "{" + strings.Join(parts, " ") + "}", true
	}
	return string(v), true
}

// list renders a JSON array: plain words joined by commas, anything else
// in brackets separated by ", ", with strings quoted.
func list(v json.RawMessage) (string, bool) {
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return string(v), true
	}
	if len(items) == 0 {
		return "", false
	}
	parts := make([]string, 0, len(items))
	allPlain := true
	for _, it := range items {
		s, ok := value(it)
		if !ok {
			s = "[]"
		}
		allPlain = allPlain && plain(s)
		parts = append(parts, s)
	}
	if allPlain {
		return strings.Join(parts, ","), true
	}
	for i, it := range items {
		var s string
		if json.Unmarshal(it, &s) == nil && bytes.HasPrefix(bytes.TrimSpace(it), []byte(`"`)) {
			parts[i] = strconv.Quote(s) // quote every string once one needs it
		}
	}
	return "[" + strings.Join(parts, ", ") + "]", true
}

// renderCalls shows each call as "operation status [felkod N] duration".
func renderCalls(calls []events.Call) string {
	parts := make([]string, 0, len(calls))
	for _, c := range calls {
		s := c.Operation + " "
		if c.HTTPStatus == 0 {
			s += "no answer"
		} else {
			s += strconv.Itoa(c.HTTPStatus)
		}
		if c.Felkod != 0 {
			s += " felkod " + strconv.Itoa(c.Felkod)
		}
		s += " " + (time.Duration(c.DurationMs) * time.Millisecond).String()
		parts = append(parts, s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// text returns s bare when it is one plain word, else quoted.
func text(s string) string {
	if s != "" && plain(s) {
		return s
	}
	return strconv.Quote(s)
}

// plain reports whether s reads unambiguously without quotes: no spaces,
// quotes, separators or control characters.
func plain(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r) || strings.ContainsRune(`"=,[]{}`, r)
	})
}

// lineFields renders the fields of an event's data for its line.
func lineFields(fields []field) string {
	var b strings.Builder
	for _, f := range fields {
		if s, ok := pair(f.key, f.val); ok {
			fmt.Fprintf(&b, " %s", s)
		}
	}
	return b.String()
}
