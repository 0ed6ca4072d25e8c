package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

// Request is a validated fetch request.
type Request struct {
	Account    idnr.Number
	Operations []skv.Operation // never empty; in the order they are called
	// ExplicitOps is set when the request named its operations: then no
	// slower cadence applies to them.
	ExplicitOps bool
	DatumFrom   string
	RequestID   string
	Force       bool
	// Auth is the credential that serves the request:
	// contract.AuthOrganisation (client credentials with the organisation
	// certificate) or contract.AuthUser (a person's login session, named
	// by Session).
	Auth    string
	Session string
}

// RequestError says why a fetch request is invalid. RequestID is set when
// the request's id could be read, so that the answer can name it; Account
// when the account could be told.
type RequestError struct {
	Reason    string
	RequestID string
	Account   idnr.Number
	// Unparsed is set when the body could not be parsed at all; its
	// answer goes on the subject of contract.InvalidToken.
	Unparsed bool
}

func (e *RequestError) Error() string { return "invalid fetch request: " + e.Reason }

// ParseRequest validates a fetch request received on the subject token tok
// (the part after contract.FetchPrefix). An empty body asks for everything.
func ParseRequest(tok string, body []byte, today time.Time) (Request, error) {
	p := &parsing{today: today}
	p.subj, p.subjErr = idnr.Parse(tok)
	w, err := p.decode(body)
	if err != nil {
		return Request{}, err
	}
	for _, check := range []func(*contract.FetchRequest) error{p.requestID, p.account, p.operations, p.datumFrom, p.credential} {
		if err := check(&w); err != nil {
			return Request{}, err
		}
	}
	return p.req, nil
}

// parsing is a fetch request being parsed: the request as far as it is
// known, which also names the answer when the request is invalid.
type parsing struct {
	req     Request
	today   time.Time
	subj    idnr.Number
	subjErr error
}

// fail says why the request is invalid.
func (p *parsing) fail(format string, args ...any) *RequestError {
	e := &RequestError{Reason: fmt.Sprintf(format, args...), RequestID: p.req.RequestID}
	// The answer goes where the request was sent; failing that, to the
	// account the body names.
	if p.subjErr == nil {
		e.Account = p.subj
	} else if !p.req.Account.IsZero() {
		e.Account = p.req.Account
	}
	return e
}

// unparsed says why a body cannot be parsed at all.
func (p *parsing) unparsed(format string, args ...any) *RequestError {
	e := p.fail(format, args...)
	e.Unparsed = true
	return e
}

// decode reads the body's JSON object; an empty body is an empty object.
func (p *parsing) decode(body []byte) (contract.FetchRequest, error) {
	var w contract.FetchRequest
	if len(body) > contract.MaxFetchRequestSize {
		return w, p.unparsed("body is %d bytes, more than the %d allowed", len(body), contract.MaxFetchRequestSize)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return w, nil
	}
	if w, ok := decodeSimple(body); ok {
		return w, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		// Try to rescue the request id for the answer.
		var loose struct {
			RequestID string `json:"requestId"`
		}
		if json.Unmarshal(body, &loose) == nil && validRequestID(loose.RequestID) == nil {
			p.req.RequestID = loose.RequestID
		}
		return w, p.unparsed("body is not a valid JSON request: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return w, p.unparsed("body has data after the JSON object")
	}
	return w, nil
}

func (p *parsing) requestID(w *contract.FetchRequest) error {
	if w.RequestID == nil {
		return nil
	}
	if err := validRequestID(*w.RequestID); err != nil {
		return p.fail("requestId: %v", err)
	}
	p.req.RequestID = *w.RequestID
	return nil
}

// account is the subject's, which the body may repeat as omfragad.
func (p *parsing) account(w *contract.FetchRequest) error {
	switch {
	case w.Omfragad != nil:
		a, err := idnr.Parse(*w.Omfragad)
		if err != nil {
			return p.fail("omfragad: %v", err)
		}
		p.req.Account = a
		if p.subjErr != nil {
			return p.fail("subject token is not an identity number: %v", p.subjErr)
		}
		if p.subj != a {
			return p.fail("omfragad %s names another account than the subject's %s", a.Masked(), p.subj.Masked())
		}
	case p.subjErr != nil:
		return p.fail("subject token is not an identity number: %v", p.subjErr)
	default:
		p.req.Account = p.subj
	}
	return nil
}

// operations are those named, in calling order, or all of them.
func (p *parsing) operations(w *contract.FetchRequest) error {
	if w.Operations == nil {
		p.req.Operations = slices.Clone(skv.Operations)
		return nil
	}
	if len(*w.Operations) == 0 {
		return p.fail("operations: empty list (omit it to fetch everything)")
	}
	for _, op := range *w.Operations {
		o := skv.Operation(op)
		if !contract.KnownOperation(op) {
			return p.fail("operations: unknown operation %q (want saldo, transaktioner, utbetalningskonto or utbetalningssparrar)", truncate(op, 40))
		}
		if slices.Contains(p.req.Operations, o) {
			return p.fail("operations: %q listed twice", op)
		}
		p.req.Operations = append(p.req.Operations, o)
	}
	p.req.ExplicitOps = true
	// Call in the canonical order, whatever order was asked.
	contract.SortOperations(p.req.Operations)
	return nil
}

// datumFrom is a date that is not in the future; force comes with it.
func (p *parsing) datumFrom(w *contract.FetchRequest) error {
	if w.Force != nil {
		p.req.Force = *w.Force
	}
	if w.DatumFrom == nil {
		return nil
	}
	d, err := time.Parse(time.DateOnly, *w.DatumFrom)
	if err != nil {
		return p.fail("datumFrom: %q is not a date YYYY-MM-DD", truncate(*w.DatumFrom, 20))
	}
	if d.After(p.today) {
		return p.fail("datumFrom: %s is in the future", *w.DatumFrom)
	}
	p.req.DatumFrom = *w.DatumFrom
	return nil
}

// credential is the organisation's, or a user's login session.
func (p *parsing) credential(w *contract.FetchRequest) error {
	p.req.Auth = contract.AuthOrganisation
	if w.Auth != nil {
		switch *w.Auth {
		case contract.AuthOrganisation, contract.AuthUser:
			p.req.Auth = *w.Auth
		default:
			return p.fail("auth: %q is not %q or %q", truncate(*w.Auth, 20), contract.AuthOrganisation, contract.AuthUser)
		}
	}
	if w.Session != nil {
		if err := validRequestID(*w.Session); err != nil {
			return p.fail("session: %v", err)
		}
		p.req.Session = *w.Session
	}
	switch {
	case p.req.Auth == contract.AuthUser && p.req.Session == "":
		return p.fail(`session: required with "auth": "user"`)
	case p.req.Auth == contract.AuthOrganisation && p.req.Session != "":
		return p.fail(`session: only with "auth": "user"`)
	}
	return nil
}

func validRequestID(id string) error {
	switch {
	case id == "":
		return errors.New("empty")
	case len(id) > 64:
		return fmt.Errorf("%d bytes, at most 64 allowed", len(id))
	case !utf8.ValidString(id):
		return errors.New("not valid UTF-8")
	case strings.IndexFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return errors.New("contains control characters")
	}
	return nil
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("want a JSON object, got %s", typ.Value)
		}
		return fmt.Sprintf("field %s: want %s, got %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return truncate(err.Error(), 120)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
