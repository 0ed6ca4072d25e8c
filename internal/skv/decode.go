package skv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// The decoders below turn a successful (HTTP 2xx) answer into its type.
// They are strict about the body, tolerant about its content: an empty,
// truncated or non-JSON body is ErrGarbledResponse, valid JSON of the wrong
// shape is ErrUnexpectedResponse, and a body carrying a felkod is an *Error.
// Absent amounts stay nil, informationstext may be one string, and
// identities may be JSON numbers or strings.

// DecodeSaldo decodes the answer of the saldo operation.
func DecodeSaldo(body []byte) (Saldo, error) {
	var w struct {
		commonWire
		SaldoSkatteverket *flexInt `json:"saldoSkatteverket"`
		SaldoKronofogden  *flexInt `json:"saldoKronofogden"`
		RantaSkatteverket *flexInt `json:"rantaSkatteverket"`
		RantaKronofogden  *flexInt `json:"rantaKronofogden"`
		OcrNummer         flexID   `json:"ocrNummer"`
	}
	if err := decodeObject(body, &w); err != nil {
		return Saldo{}, err
	}
	if err := w.felkodError(); err != nil {
		return Saldo{}, err
	}
	return Saldo{
		Common:            w.common(),
		SaldoSkatteverket: (*int64)(w.SaldoSkatteverket),
		SaldoKronofogden:  (*int64)(w.SaldoKronofogden),
		RantaSkatteverket: (*int64)(w.RantaSkatteverket),
		RantaKronofogden:  (*int64)(w.RantaKronofogden),
		OcrNummer:         string(w.OcrNummer),
	}, nil
}

// DecodeTransaktioner decodes the answer of the transaktioner operation.
func DecodeTransaktioner(body []byte) (Transaktioner, error) {
	var w struct {
		commonWire
		OcrNummer flexID            `json:"ocrNummer"`
		DatumFrom string            `json:"datumFrom"`
		Tidigare  []transaktionWire `json:"tidigareTransaktioner"`
		Kommande  []transaktionWire `json:"kommandeTransaktioner"`
	}
	if err := decodeObject(body, &w); err != nil {
		return Transaktioner{}, err
	}
	if err := w.felkodError(); err != nil {
		return Transaktioner{}, err
	}
	return Transaktioner{
		Common:    w.common(),
		OcrNummer: string(w.OcrNummer),
		DatumFrom: w.DatumFrom,
		Tidigare:  convertRows(w.Tidigare),
		Kommande:  convertRows(w.Kommande),
	}, nil
}

// DecodeUtbetalningskonto decodes the answer of the utbetalningskonto
// operation.
func DecodeUtbetalningskonto(body []byte) (Utbetalningskonto, error) {
	var w struct {
		commonWire
		Utbetalningskonto *string `json:"utbetalningskonto"`
	}
	if err := decodeObject(body, &w); err != nil {
		return Utbetalningskonto{}, err
	}
	if err := w.felkodError(); err != nil {
		return Utbetalningskonto{}, err
	}
	u := Utbetalningskonto{Common: w.common(), Utbetalningskonto: w.Utbetalningskonto}
	if u.Utbetalningskonto != nil && *u.Utbetalningskonto == "" {
		u.Utbetalningskonto = nil
	}
	return u, nil
}

// DecodeUtbetalningssparrar decodes the answer of the utbetalningssparrar
// operation. The blocks may come under "utbetalningssparrar", "sparrar" or
// "utbetalningssparrinformation", or as a top-level array.
func DecodeUtbetalningssparrar(body []byte) (Utbetalningssparrar, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var rows []sparrWire
		if err := unmarshal(body, &rows); err != nil {
			return Utbetalningssparrar{}, err
		}
		return Utbetalningssparrar{Sparrar: convertSparrar(rows)}, nil
	}
	var w struct {
		commonWire
		Utbetalningssparrar          []sparrWire `json:"utbetalningssparrar"`
		Sparrar                      []sparrWire `json:"sparrar"`
		Utbetalningssparrinformation []sparrWire `json:"utbetalningssparrinformation"`
	}
	if err := decodeObject(body, &w); err != nil {
		return Utbetalningssparrar{}, err
	}
	if err := w.felkodError(); err != nil {
		return Utbetalningssparrar{}, err
	}
	rows := w.Utbetalningssparrar
	if rows == nil {
		rows = w.Sparrar
	}
	if rows == nil {
		rows = w.Utbetalningssparrinformation
	}
	return Utbetalningssparrar{Common: w.common(), Sparrar: convertSparrar(rows)}, nil
}

// commonWire holds the fields every answer may carry, errors included.
type commonWire struct {
	NastaAvstamningsdatum string      `json:"nastaAvstamningsdatum"`
	SenastUppdaterad      string      `json:"senastUppdaterad"`
	Informationstext      flexStrings `json:"informationstext"`
	Felkod                flexInt     `json:"felkod"`
	Felmeddelande         string      `json:"felmeddelande"`
}

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

// decodeObject decodes body, which must be a JSON object, into v.
func decodeObject(body []byte, v any) error {
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
