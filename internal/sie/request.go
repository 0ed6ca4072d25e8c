package sie

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

// Request is the JSON body of a request on contract.SIEExport.
type Request struct {
	// Omfragad is the account, in any form idnr.Parse accepts.
	Omfragad string `json:"omfragad"`
	// From and To bound transaktionsdatum, YYYY-MM-DD, both included.
	From string `json:"from"`
	To   string `json:"to"`
	// Series of the vouchers; absent: the worker's SIE_SERIES.
	Series string `json:"series,omitempty"`
	// CompanyName is #FNAMN; absent: the worker's SIE_COMPANY_NAME.
	CompanyName string `json:"companyName,omitempty"`
}

// Reply answers a request on contract.SIEExport: the file and what it
// left out, or an error (then only Error is set).
type Reply struct {
	// File is the SIE file in code page 437 (base64 in JSON).
	File     []byte     `json:"file,omitempty"`
	Vouchers int        `json:"vouchers"`
	Replaced int        `json:"replaced"`
	Unmapped []Unmapped `json:"unmapped"`
	Error    string     `json:"error,omitempty"`
}

// maxCompany bounds a company name, in characters.
const maxCompany = 200

// FieldError reports an invalid field of a query or request.
type FieldError struct {
	// Field is the request's JSON name of the field.
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

// ErrRequest wraps a body that is not a request at all: too large, not
// JSON, not one object, or with members the request does not have.
var ErrRequest = errors.New("not an SIE export request")

// ParseRequest decodes and checks the body of a request on
// contract.SIEExport. It refuses a body over contract.MaxSIERequestSize,
// unknown members (a misspelt "serie" would silently mean the default),
// an omfragad that is not a valid identity number (the error masks it),
// dates that are not YYYY-MM-DD or from after to, an invalid series, and
// a company name over 200 characters. Series and company left out are
// left for Export to default.
func ParseRequest(b []byte) (Query, error) {
	if len(b) > contract.MaxSIERequestSize {
		return Query{}, fmt.Errorf("%w: %d bytes, at most %d", ErrRequest, len(b), contract.MaxSIERequestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Request
	if err := dec.Decode(&r); err != nil {
		return Query{}, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Query{}, fmt.Errorf("%w: data after the object", ErrRequest)
	}
	n, err := idnr.Parse(r.Omfragad)
	if err != nil {
		return Query{}, &FieldError{Field: "omfragad", Err: err}
	}
	q := Query{Account: n, From: r.From, To: r.To, Series: r.Series, Company: r.CompanyName}
	if err := q.check(); err != nil {
		return Query{}, err
	}
	return q, nil
}

// check checks the fields a query sets: the period, the series and the
// company name.
func (q Query) check() error {
	for _, f := range []struct{ name, v string }{{"from", q.From}, {"to", q.To}} {
		if _, err := time.Parse(time.DateOnly, f.v); err != nil {
			return &FieldError{Field: f.name, Err: fmt.Errorf("%q: %w", f.v, ErrDate)}
		}
	}
	if q.From > q.To {
		return &FieldError{Field: "from", Err: fmt.Errorf("%s is after to %s", q.From, q.To)}
	}
	if q.Series != "" {
		if err := CheckSeries(q.Series); err != nil {
			return &FieldError{Field: "series", Err: err}
		}
	}
	if n := utf8.RuneCountInString(q.Company); n > maxCompany {
		return &FieldError{Field: "companyName", Err: fmt.Errorf("%d characters, at most %d", n, maxCompany)}
	}
	return nil
}
