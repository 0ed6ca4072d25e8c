package skv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// The decoders below turn a successful (HTTP 2xx) answer into its type.
// They are strict about the body, tolerant about its content: an empty,
// truncated or non-JSON body is ErrGarbledResponse, valid JSON of the wrong
// shape is ErrUnexpectedResponse, and a body carrying a felkod is an *Error.
// Absent amounts stay nil, informationstext may be one string, and
// identities may be JSON numbers or strings. Fields the client does not
// know and absent mandatory fields are drift (drift.go): reported, and
// fatal only where the result cannot do without the field.

// DecodeSaldo decodes the answer of the saldo operation.
func DecodeSaldo(body []byte) (Saldo, error) {
	v, _, err := decodeSaldo(body)
	return v, err
}

// DecodeTransaktioner decodes the answer of the transaktioner operation.
func DecodeTransaktioner(body []byte) (Transaktioner, error) {
	v, _, err := decodeTransaktioner(body)
	return v, err
}

// DecodeUtbetalningskonto decodes the answer of the utbetalningskonto
// operation.
func DecodeUtbetalningskonto(body []byte) (Utbetalningskonto, error) {
	v, _, err := decodeUtbetalningskonto(body)
	return v, err
}

// DecodeUtbetalningssparrar decodes the answer of the utbetalningssparrar
// operation. The blocks may come under "utbetalningssparrar", "sparrar" or
// "utbetalningssparrinformation", or as a top-level array; under another
// key they are found when that key holds a list of objects with a
// sparridentitet (drift kind unknown-list-key).
func DecodeUtbetalningssparrar(body []byte) (Utbetalningssparrar, error) {
	v, _, err := decodeUtbetalningssparrar(body)
	return v, err
}

// DecodeDrift reports how body, an answer of op, differs from the description:
// the same drift the client records in Trace.Drift. It is nil for an
// answer that cannot be decoded, and for an unknown op.
func DecodeDrift(op Operation, body []byte) []Drift {
	var d []Drift
	switch op {
	case OpSaldo:
		_, d, _ = decodeSaldo(body)
	case OpTransaktioner:
		_, d, _ = decodeTransaktioner(body)
	case OpUtbetalningskonto:
		_, d, _ = decodeUtbetalningskonto(body)
	case OpUtbetalningssparrar:
		_, d, _ = decodeUtbetalningssparrar(body)
	}
	return d
}

type saldoWire struct {
	commonWire
	SaldoSkatteverket *flexInt `json:"saldoSkatteverket"`
	SaldoKronofogden  *flexInt `json:"saldoKronofogden"`
	RantaSkatteverket *flexInt `json:"rantaSkatteverket"`
	RantaKronofogden  *flexInt `json:"rantaKronofogden"`
	OcrNummer         flexID   `json:"ocrNummer"`
}

func decodeSaldo(body []byte) (Saldo, []Drift, error) {
	w, ds, err := decodeAnswer[saldoWire](body, saldoShape)
	if err != nil {
		return Saldo{}, nil, err
	}
	ds.missing(w.SaldoSkatteverket == nil, "", "saldoSkatteverket")
	ds.missing(w.SaldoKronofogden == nil, "", "saldoKronofogden")
	ds.missing(w.RantaSkatteverket == nil, "", "rantaSkatteverket")
	ds.missing(w.RantaKronofogden == nil, "", "rantaKronofogden")
	ds.missing(w.OcrNummer == "", "", "ocrNummer")
	return Saldo{
		Common:            w.common(),
		SaldoSkatteverket: (*int64)(w.SaldoSkatteverket),
		SaldoKronofogden:  (*int64)(w.SaldoKronofogden),
		RantaSkatteverket: (*int64)(w.RantaSkatteverket),
		RantaKronofogden:  (*int64)(w.RantaKronofogden),
		OcrNummer:         string(w.OcrNummer),
	}, ds.list(), nil
}

type transaktionerWire struct {
	commonWire
	OcrNummer flexID            `json:"ocrNummer"`
	DatumFrom string            `json:"datumFrom"`
	Tidigare  []transaktionWire `json:"tidigareTransaktioner"`
	Kommande  []transaktionWire `json:"kommandeTransaktioner"`
}

func decodeTransaktioner(body []byte) (Transaktioner, []Drift, error) {
	w, ds, err := decodeAnswer[transaktionerWire](body, transaktionerShape)
	if err != nil {
		return Transaktioner{}, nil, err
	}
	ds.missing(w.OcrNummer == "", "", "ocrNummer")
	ds.missing(w.DatumFrom == "", "", "datumFrom")
	checkRows(ds, w.Tidigare, "tidigareTransaktioner[].")
	checkRows(ds, w.Kommande, "kommandeTransaktioner[].")
	if err := ds.err(); err != nil {
		return Transaktioner{}, ds.list(), err
	}
	return Transaktioner{
		Common:    w.common(),
		OcrNummer: string(w.OcrNummer),
		DatumFrom: w.DatumFrom,
		Tidigare:  convertRows(w.Tidigare),
		Kommande:  convertRows(w.Kommande),
	}, ds.list(), nil
}

// checkRows records the rows' missing mandatory fields: without a date or
// a text a row cannot be identified, so those fail the operation.
func checkRows(ds *driftSet, rows []transaktionWire, prefix string) {
	for i := range rows {
		r := &rows[i]
		ds.missingFatal(r.Transaktionsdatum == "", prefix, "transaktionsdatum")
		ds.missingFatal(r.Transaktionstext == "", prefix, "transaktionstext")
		ds.missing(r.Ranteberakningsdatum == "", prefix, "ranteberakningsdatum")
	}
}

type kontoWire struct {
	commonWire
	Utbetalningskonto *string `json:"utbetalningskonto"`
}

func decodeUtbetalningskonto(body []byte) (Utbetalningskonto, []Drift, error) {
	w, ds, err := decodeAnswer[kontoWire](body, kontoShape)
	if err != nil {
		return Utbetalningskonto{}, nil, err
	}
	u := Utbetalningskonto{Common: w.common(), Utbetalningskonto: w.Utbetalningskonto}
	if u.Utbetalningskonto != nil && *u.Utbetalningskonto == "" {
		u.Utbetalningskonto = nil
	}
	return u, ds.list(), nil
}

type sparrarWire struct {
	commonWire
	Utbetalningssparrar          []sparrWire `json:"utbetalningssparrar"`
	Sparrar                      []sparrWire `json:"sparrar"`
	Utbetalningssparrinformation []sparrWire `json:"utbetalningssparrinformation"`
}

func decodeUtbetalningssparrar(body []byte) (Utbetalningssparrar, []Drift, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return decodeSparrarArray(body)
	}
	w, ds, err := decodeAnswer[sparrarWire](body, sparrarShape)
	if err != nil {
		return Utbetalningssparrar{}, nil, err
	}
	rows, prefix := w.Utbetalningssparrar, sparrListKeys[0]
	if rows == nil {
		rows, prefix = w.Sparrar, sparrListKeys[1]
	}
	if rows == nil {
		rows, prefix = w.Utbetalningssparrinformation, sparrListKeys[2]
	}
	if rows == nil && !present(body, sparrListKeys) {
		if rows, prefix, err = sparrarUnderUnknownKey(body, ds); err != nil {
			return Utbetalningssparrar{}, nil, err
		}
	}
	checkSparrar(ds, rows, prefix+"[].")
	if err := ds.err(); err != nil {
		return Utbetalningssparrar{}, ds.list(), err
	}
	return Utbetalningssparrar{Common: w.common(), Sparrar: convertSparrar(rows)}, ds.list(), nil
}

// decodeSparrarArray decodes a blocks answer that is a bare list: it
// lacks the common fields.
func decodeSparrarArray(body []byte) (Utbetalningssparrar, []Drift, error) {
	rows, unknown, err := decodeWire[[]sparrWire](body, shape{"": blockShape})
	if err != nil {
		return Utbetalningssparrar{}, nil, err
	}
	ds := &driftSet{}
	if unknown {
		ds.unknownInList(body, blockShape, "[].")
	}
	ds.missing(true, "", "nastaAvstamningsdatum")
	ds.missing(true, "", "senastUppdaterad")
	checkSparrar(ds, rows, "[].")
	if err := ds.err(); err != nil {
		return Utbetalningssparrar{}, ds.list(), err
	}
	return Utbetalningssparrar{Sparrar: convertSparrar(rows)}, ds.list(), nil
}

// sparrarUnderUnknownKey looks for the blocks list under a key the client
// does not know: the first key, in name order, holding a non-empty list of
// objects that all have a sparridentitet. Found, the key is drift of kind
// unknown-list-key instead of unknown-field; not found, the list is
// missing (no blocks, drift missing-field).
func sparrarUnderUnknownKey(body []byte, ds *driftSet) ([]sparrWire, string, error) {
	var obj map[string]json.RawMessage
	if err := unmarshal(body, &obj); err != nil {
		return nil, "", err
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		if _, known := sparrarShape[k]; !known {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		var probe []map[string]json.RawMessage
		if json.Unmarshal(obj[k], &probe) != nil || len(probe) == 0 || !allHave(probe, "sparridentitet") {
			continue
		}
		var rows []sparrWire
		if err := unmarshal(obj[k], &rows); err != nil {
			return nil, "", err
		}
		delete(ds.seen, Drift{Kind: DriftUnknownField, Path: k})
		ds.add(DriftUnknownListKey, k)
		ds.unknownInList(obj[k], blockShape, k+"[].")
		return rows, k, nil
	}
	ds.add(DriftMissingField, sparrListKeys[0])
	return nil, sparrListKeys[0], nil
}

func allHave(objs []map[string]json.RawMessage, key string) bool {
	for _, o := range objs {
		if _, ok := o[key]; !ok {
			return false
		}
	}
	return true
}

// present reports whether the JSON object body has any of keys, null
// values included.
func present(body []byte, keys []string) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return false
	}
	for _, k := range keys {
		if _, ok := obj[k]; ok {
			return true
		}
	}
	return false
}

// checkSparrar records the blocks' missing mandatory fields: a block
// without an identity cannot be followed, so that fails the operation.
func checkSparrar(ds *driftSet, rows []sparrWire, prefix string) {
	for i := range rows {
		ds.missingFatal(rows[i].Sparridentitet == "", prefix, "sparridentitet")
		ds.missing(rows[i].DatumFrom == "", prefix, "datumFrom")
	}
}

// decodeAnswer decodes the JSON object body into a W holding commonWire,
// and records the drift of the common part and the unknown fields
// (compared with s). A felkod in the body is an *Error.
func decodeAnswer[W any, PW interface {
	*W
	common() Common
	felkodError() error
	commonPart() *commonWire
}](body []byte, s shape) (*W, *driftSet, error) {
	if err := checkObject(body); err != nil {
		return nil, nil, err
	}
	w, unknown, err := decodeWire[W](body, s)
	if err != nil {
		return nil, nil, err
	}
	pw := PW(&w)
	if err := pw.felkodError(); err != nil {
		return nil, nil, err
	}
	ds := &driftSet{}
	if unknown {
		ds.unknownFields(body, s, "")
	}
	c := pw.commonPart()
	ds.missing(c.NastaAvstamningsdatum == "", "", "nastaAvstamningsdatum")
	ds.missing(c.SenastUppdaterad == "", "", "senastUppdaterad")
	return &w, ds, nil
}

// decodeWire decodes body into a W, and reports whether body holds keys
// s does not know (at the top level, or in the objects of a known list).
func decodeWire[W any](body []byte, s shape) (W, bool, error) {
	var w W
	if p, ok := any(&w).(interface{ decodePlain([]byte) bool }); ok {
		if p.decodePlain(body) {
			return w, false, nil // every key known: nothing unknown
		}
		w = *new(W) // what the plain path filled in before it gave up
	}
	if err := unmarshal(body, &w); err != nil {
		return w, false, err
	}
	return w, hasUnknownKeys(body, s), nil
}

// commonWire holds the fields every answer may carry, errors included.
type commonWire struct {
	NastaAvstamningsdatum string      `json:"nastaAvstamningsdatum"`
	SenastUppdaterad      string      `json:"senastUppdaterad"`
	Informationstext      flexStrings `json:"informationstext"`
	Felkod                flexInt     `json:"felkod"`
	Felmeddelande         string      `json:"felmeddelande"`
}

func (w *commonWire) commonPart() *commonWire { return w }

func (w *commonWire) common() Common {
	return Common{
		NastaAvstamningsdatum: w.NastaAvstamningsdatum,
		SenastUppdaterad:      w.SenastUppdaterad,
		Informationstext:      []string(w.Informationstext),
	}
}

// felkodError returns an *Error when the answer carries a felkod.
func (w *commonWire) felkodError() error {
	if w.Felkod == 0 {
		return nil
	}
	return &Error{Felkod: int(w.Felkod), Felmeddelande: w.Felmeddelande}
}

type transaktionWire struct {
	Transaktionsidentitet flexID   `json:"transaktionsidentitet"`
	Transaktionsdatum     string   `json:"transaktionsdatum"`
	Ranteberakningsdatum  string   `json:"ranteberakningsdatum"`
	Forfallodatum         string   `json:"forfallodatum"`
	Beslutsdatum          string   `json:"beslutsdatum"`
	Transaktionstext      string   `json:"transaktionstext"`
	BeloppSkatteverket    *flexInt `json:"beloppSkatteverket"`
	BeloppKronofogden     *flexInt `json:"beloppKronofogden"`
}

func convertRows(w []transaktionWire) []Transaktion {
	if w == nil {
		return nil
	}
	rows := make([]Transaktion, len(w))
	for i := range w {
		r := &w[i]
		rows[i] = Transaktion{
			Transaktionsidentitet: string(r.Transaktionsidentitet),
			Transaktionsdatum:     r.Transaktionsdatum,
			Ranteberakningsdatum:  r.Ranteberakningsdatum,
			Forfallodatum:         r.Forfallodatum,
			Beslutsdatum:          r.Beslutsdatum,
			Transaktionstext:      r.Transaktionstext,
			BeloppSkatteverket:    (*int64)(r.BeloppSkatteverket),
			BeloppKronofogden:     (*int64)(r.BeloppKronofogden),
		}
	}
	return rows
}

type sparrWire struct {
	Sparridentitet flexID   `json:"sparridentitet"`
	DatumFrom      string   `json:"datumFrom"`
	DatumTom       string   `json:"datumTom"`
	Sparrbelopp    *flexInt `json:"sparrbelopp"`
	Totalsparr     *bool    `json:"totalsparr"`
}

func convertSparrar(w []sparrWire) []Sparr {
	if w == nil {
		return nil
	}
	out := make([]Sparr, len(w))
	for i := range w {
		r := &w[i]
		out[i] = Sparr{
			Sparridentitet: string(r.Sparridentitet),
			DatumFrom:      r.DatumFrom,
			DatumTom:       r.DatumTom,
			Sparrbelopp:    (*int64)(r.Sparrbelopp),
			Totalsparr:     r.Totalsparr,
		}
	}
	return out
}

// checkObject classifies a body that is not a JSON object.
func checkObject(body []byte) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return fmt.Errorf("%w: empty body", ErrGarbledResponse)
	}
	if trimmed[0] != '{' {
		if !json.Valid(body) {
			return fmt.Errorf("%w: not json", ErrGarbledResponse)
		}
		return fmt.Errorf("%w: body is not a json object", ErrUnexpectedResponse)
	}
	return nil
}

// decodeObject decodes body, which must be a JSON object, into v.
func decodeObject(body []byte, v any) error {
	if err := checkObject(body); err != nil {
		return err
	}
	return unmarshal(body, v)
}

// unmarshal decodes body into v and classifies a failure as garbled (not
// JSON) or unexpected (JSON of the wrong shape).
func unmarshal(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) || !json.Valid(body) {
		return fmt.Errorf("%w: %v", ErrGarbledResponse, err)
	}
	return fmt.Errorf("%w: %v", ErrUnexpectedResponse, err)
}

// flexInt is a whole number given as a JSON number (an integer, or a float
// without fraction) or a numeric string. null leaves it unchanged.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] == 'n' {
		return nil // null
	}
	if b[0] == '"' {
		s, err := jsonString(b)
		if err != nil {
			return err
		}
		b = []byte(s)
	}
	if v, ok := parseInt(b); ok {
		*n = flexInt(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f != float64(int64(f)) || f > 1<<62 || f < -(1<<62) {
		return fmt.Errorf("%q is not a whole number", b)
	}
	*n = flexInt(int64(f))
	return nil
}

// parseInt parses an optionally signed decimal integer without allocating.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// flexID is an identity given as a JSON string or an integer JSON number,
// kept as its text. null leaves it empty.
type flexID string

func (id *flexID) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || b[0] == 'n':
		return nil
	case b[0] == '"':
		s, err := jsonString(b)
		if err != nil {
			return err
		}
		*id = flexID(s)
		return nil
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return fmt.Errorf("identity %s is not a whole number", b)
		}
	}
	*id = flexID(b)
	return nil
}

// jsonString decodes the JSON string literal b, cheaply when it holds no
// escapes.
func jsonString(b []byte) (string, error) {
	if len(b) >= 2 && bytes.IndexByte(b[1:len(b)-1], '\\') < 0 && bytes.IndexByte(b[1:len(b)-1], '"') < 0 {
		return string(b[1 : len(b)-1]), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

// flexStrings is a list of strings given as a JSON array or one string.
type flexStrings []string

func (s *flexStrings) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || b[0] == 'n':
		return nil
	case b[0] == '"':
		one, err := jsonString(b)
		if err != nil {
			return err
		}
		if one != "" {
			*s = flexStrings{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}
