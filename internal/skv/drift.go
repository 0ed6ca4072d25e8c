package skv

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/skattekonto-events/skattekonto-events/internal/plainjson"
)

// DriftKind names how an answer differs from the service description as
// the client knows it.
type DriftKind string

// The kinds of drift.
const (
	// DriftUnknownField is a field the client does not know. It is
	// ignored: unknown fields never fail an operation.
	DriftUnknownField DriftKind = "unknown-field"
	// DriftMissingField is an absent field the description marks as
	// mandatory (1..1). Only a field without which the result would be
	// wrong fails the operation (see ErrMissingField).
	DriftMissingField DriftKind = "missing-field"
	// DriftUnknownListKey is a payout blocks answer whose list came under
	// a key none of the known ones; the list was read from that key.
	DriftUnknownListKey DriftKind = "unknown-list-key"
)

// Drift is one difference between an answer and the description. Path
// names the field, never its value: "nyttFalt",
// "tidigareTransaktioner[].transaktionstext" (a field of any row).
type Drift struct {
	Kind DriftKind `json:"kind"`
	Path string    `json:"path"`
}

func (d Drift) String() string { return string(d.Kind) + " " + d.Path }

// DriftObserver is optionally implemented by Config.Observer to count
// drift (for a metric). DriftSeen is called once per drift entry of each
// decoded answer; it must be quick and safe for concurrent use.
type DriftObserver interface {
	DriftSeen(op Operation, d Drift)
}

// ErrMissingField means an answer lacked a mandatory field the result
// cannot do without: a transaction row's transaktionsdatum or
// transaktionstext, a payout block's sparridentitet. The operation fails
// (other operations are unaffected); errors.Is also matches
// ErrUnexpectedResponse, so it is not retried.
var ErrMissingField = errors.New("mandatory field missing")

// MissingFieldError lists the paths of the missing mandatory fields that
// failed an operation. The client returns it inside an *Error.
type MissingFieldError struct {
	Paths []string
}

func (e *MissingFieldError) Error() string {
	return ErrMissingField.Error() + ": " + strings.Join(e.Paths, ", ")
}

func (e *MissingFieldError) Unwrap() []error {
	return []error{ErrMissingField, ErrUnexpectedResponse}
}

// driftSet collects drift without duplicates, and the missing fields
// that fail the operation.
type driftSet struct {
	seen  map[Drift]bool
	fatal []string
}

func (s *driftSet) add(kind DriftKind, path string) {
	if s.seen == nil {
		s.seen = make(map[Drift]bool)
	}
	s.seen[Drift{Kind: kind, Path: path}] = true
}

// missing records prefix+field as missing when absent is true. (The path
// is built only then: rows are many, missing fields few.)
func (s *driftSet) missing(absent bool, prefix, field string) {
	if absent {
		s.add(DriftMissingField, prefix+field)
	}
}

// missingFatal records prefix+field as missing when absent is true, and
// makes the operation fail.
func (s *driftSet) missingFatal(absent bool, prefix, field string) {
	if absent {
		path := prefix + field
		if !s.seen[Drift{Kind: DriftMissingField, Path: path}] {
			s.fatal = append(s.fatal, path)
		}
		s.add(DriftMissingField, path)
	}
}

// list returns the drift sorted by path and kind; nil when there is none.
func (s *driftSet) list() []Drift {
	if len(s.seen) == 0 {
		return nil
	}
	out := make([]Drift, 0, len(s.seen))
	for d := range s.seen {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// err is the operation's error for fatal missing fields, nil without any.
func (s *driftSet) err() error {
	if len(s.fatal) == 0 {
		return nil
	}
	paths := append([]string(nil), s.fatal...)
	sort.Strings(paths)
	return &MissingFieldError{Paths: paths}
}

// shape is what the client knows of a JSON object: its field names, each
// with the shape of its list elements (a list of objects) or nil.
type shape map[string]shape

func shapeOf(fields ...string) shape {
	s := make(shape, len(fields))
	for _, f := range fields {
		s[f] = nil
	}
	return s
}

func (s shape) with(fields ...string) shape {
	out := shapeOf(fields...)
	for k, v := range s {
		out[k] = v
	}
	return out
}

func (s shape) withList(field string, elem shape) shape {
	out := s.with()
	out[field] = elem
	return out
}

var (
	commonShape = shapeOf("nastaAvstamningsdatum", "senastUppdaterad", "informationstext", "felkod", "felmeddelande")
	saldoShape  = commonShape.with("saldoSkatteverket", "saldoKronofogden", "rantaSkatteverket", "rantaKronofogden", "ocrNummer")
	rowShape    = shapeOf("transaktionsidentitet", "transaktionsdatum", "ranteberakningsdatum", "forfallodatum",
		"beslutsdatum", "transaktionstext", "beloppSkatteverket", "beloppKronofogden")
	transaktionerShape = commonShape.with("ocrNummer", "datumFrom").
				withList("tidigareTransaktioner", rowShape).withList("kommandeTransaktioner", rowShape)
	kontoShape = commonShape.with("utbetalningskonto")
	blockShape = shapeOf("sparridentitet", "datumFrom", "datumTom", "sparrbelopp", "totalsparr")
	// sparrListKeys are the keys the blocks list is looked for under, in
	// order of preference.
	sparrListKeys = []string{"utbetalningssparrar", "sparrar", "utbetalningssparrinformation"}
	sparrarShape  = commonShape.withList(sparrListKeys[0], blockShape).
			withList(sparrListKeys[1], blockShape).withList(sparrListKeys[2], blockShape)
)

// unknownFields records the fields of the JSON object body that s does
// not know, descending into lists of objects. prefix is the path of body.
// It is called only for answers known to hold unknown fields.
func (ds *driftSet) unknownFields(body []byte, s shape, prefix string) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return
	}
	for k, raw := range obj {
		elem, known := s[k]
		switch {
		case !known:
			ds.add(DriftUnknownField, prefix+k)
		case elem != nil:
			ds.unknownInList(raw, elem, prefix+k+"[].")
		}
	}
}

// unknownInList is unknownFields for every element of the list raw.
func (ds *driftSet) unknownInList(raw []byte, elem shape, prefix string) {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return
	}
	for _, it := range items {
		ds.unknownFields(it, elem, prefix)
	}
}

// hasUnknownKeys reports whether body, valid JSON, holds a key s does not
// know: at the top level of an object, or in the objects of a list s
// knows. (A top-level list is checked against s[""].) It answers true when
// unsure (a key with escapes), leaving the exact answer to unknownFields.
// One pass without allocations: the usual answer holds no unknown keys.
func hasUnknownKeys(body []byte, s shape) bool {
	sc := keyScanner{Decoder: plainjson.Decoder{B: body}}
	sc.Space()
	switch sc.Peek() {
	case '{':
		sc.object(s)
	case '[':
		if elem := s[""]; elem != nil {
			sc.list(elem)
		}
	}
	return sc.unknown
}

// keyScanner walks valid JSON looking for unknown keys, with the plain
// decoder's cursor (Space, Peek).
type keyScanner struct {
	plainjson.Decoder
	unknown bool
}

// object scans the object at sc.I, checking its keys against s.
func (sc *keyScanner) object(s shape) {
	sc.I++ // {
	for !sc.unknown {
		sc.Space()
		switch sc.Peek() {
		case 0:
			return
		case '}':
			sc.I++
			return
		case ',':
			sc.I++
			continue
		}
		key, escaped := sc.str()
		sc.Space()
		sc.I++ // :
		sc.Space()
		elem, known := s[string(key)]
		switch {
		case escaped || !known:
			sc.unknown = true
		case elem != nil && sc.Peek() == '[':
			sc.list(elem)
		default:
			sc.skip()
		}
	}
}

// list scans the list at sc.I, checking its objects against elem.
func (sc *keyScanner) list(elem shape) {
	sc.I++ // [
	for !sc.unknown {
		sc.Space()
		switch sc.Peek() {
		case 0:
			return
		case ']':
			sc.I++
			return
		case ',':
			sc.I++
		case '{':
			sc.object(elem)
		default:
			sc.skip()
		}
	}
}

// str scans the string at sc.I and returns its raw content, and whether
// it holds escapes.
func (sc *keyScanner) str() ([]byte, bool) {
	start, esc := sc.I+1, false
	for j := start; j < len(sc.B); j++ {
		switch sc.B[j] {
		case '\\':
			esc = true
			j++
		case '"':
			sc.I = j + 1
			return sc.B[start:j], esc
		}
	}
	sc.I = len(sc.B)
	return nil, esc
}

// skip skips the value at sc.I.
func (sc *keyScanner) skip() {
	depth := 0
	for sc.I < len(sc.B) {
		switch sc.B[sc.I] {
		case '"':
			sc.str()
			if depth == 0 {
				return
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return
			}
			depth--
			if depth == 0 {
				sc.I++
				return
			}
		case ',':
			if depth == 0 {
				return
			}
		}
		sc.I++
	}
}
